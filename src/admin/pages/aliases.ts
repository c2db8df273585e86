/**
 * Aliases: list with their targets, add (or add targets: `alias add`), remove a whole
 * alias or one target (`alias remove`). The repository refuses loops, aliases that
 * shadow accounts and unknown local targets; its message is shown as is.
 */
import { button, html, postForm, table } from '../html.js';
import { field, type PageContext, type PageRoute } from '../types.js';

const BASE = '/admin/aliases';

function list(c: PageContext) {
  const csrf = c.session.csrf;
  const rows = c.repo.listAliases().map((a) => [
    a.address,
    html`${a.targets.map((t) => html`<div>${t} ${a.targets.length > 1 ? button(`${BASE}/remove`, csrf, 'remove target', { fields: { address: a.address, target: t }, danger: true }) : ''}</div>`)}`,
    button(`${BASE}/remove`, csrf, 'Remove alias', { fields: { address: a.address }, danger: true }),
  ]);
  const add = postForm(
    BASE,
    csrf,
    html`<fieldset><legend>Add an alias, or targets to an alias</legend>
<label>Alias<input type="text" name="address" required placeholder="info@example.org or @example.org"></label>
<label>Targets<input type="text" name="targets" required placeholder="anna@example.org, bob@elsewhere.net"></label>
<button>Add alias</button>
<p class="muted">"@domain" is a catch-all. A target outside this server's domains is forwarded there.</p></fieldset>`,
  );
  return { title: 'Aliases', body: html`${table(['Alias', 'Targets', ''], rows, 'No aliases yet.')}${add}` };
}

function add(c: PageContext) {
  const targets = field(c.form, 'targets', 'at least one target').split(/[\s,;]+/).filter(Boolean);
  const a = c.repo.addAlias(field(c.form, 'address', 'the alias'), targets);
  c.log.info({ alias: a.address, targets: a.targets }, 'alias added');
  return { redirect: BASE, flash: { kind: 'ok' as const, text: `${a.address} → ${a.targets.join(', ')}` } };
}

function remove(c: PageContext) {
  const address = field(c.form, 'address', 'the alias');
  const target = c.form.get('target') || undefined;
  c.repo.removeAlias(address, target);
  c.log.info({ alias: address, target }, 'alias removed');
  return { redirect: BASE, flash: { kind: 'ok' as const, text: target ? `Removed ${target} from ${address}.` : `Removed ${address}.` } };
}

export const aliasRoutes: PageRoute[] = [
  { method: 'GET', path: /^\/admin\/aliases$/, handle: list },
  { method: 'POST', path: /^\/admin\/aliases$/, handle: add, back: () => BASE },
  { method: 'POST', path: /^\/admin\/aliases\/remove$/, handle: remove, back: () => BASE },
];
