/**
 * DKIM keys per domain: the keys with their DNS records (`dkim show`), generate a key
 * (`dkim generate`, RSA-2048 or Ed25519), rotate (`dkim rotate`), remove a retiring key
 * (`dkim remove`). Private keys never leave the database.
 */
import { recordLines } from '../../cli/commands/dkim.js';
import { DKIM_ALGORITHMS, generateDomainKey, listKeys, removeDomainKey, rotateDomainKey, type DkimAlgorithm } from '../../dkim/keys.js';
import { button, html, postForm, table, when } from '../html.js';
import { field, itemPath, WebError, type PageContext, type PageRoute } from '../types.js';

const BASE = '/admin/dkim';

function domainOf(c: PageContext): string {
  const d = c.repo.getDomain(c.params[0]!);
  if (!d) throw new WebError(`no such domain: ${c.params[0]}`, 404);
  return d.name;
}

function algorithmOf(c: PageContext): DkimAlgorithm | undefined {
  const a = c.form.get('algorithm') || undefined;
  if (a !== undefined && !DKIM_ALGORITHMS.includes(a as DkimAlgorithm)) throw new WebError(`unknown algorithm ${a}`);
  return a as DkimAlgorithm | undefined;
}

function domainSection(c: PageContext, domain: string) {
  const csrf = c.session.csrf;
  const path = itemPath(BASE, domain);
  const keys = listKeys(c.ctx.db, domain);
  const rows = keys.map((k) => [
    k.selector,
    k.algorithm,
    k.status === 'active' ? html`<span class="status-ok">active</span>` : 'retiring',
    when(k.createdAt),
    k.status === 'active' ? '' : button(`${path}/remove`, csrf, 'Remove', { fields: { selector: k.selector }, danger: true }),
  ]);
  const algorithms = DKIM_ALGORITHMS.map((a) => html`<option>${a}</option>`);
  return html`<h2 id="${domain}">${domain}</h2>
${table(['Selector', 'Algorithm', 'Status', 'Created', ''], rows, 'No key: this domain\'s mail is not signed.')}
${keys.length ? html`<pre>${keys.flatMap((k) => recordLines(k)).map((l) => `${l}\n`)}</pre>` : ''}
${postForm(`${path}/generate`, csrf, html`<label>Algorithm<select name="algorithm">${algorithms}</select></label><label>Selector<input type="text" name="selector" placeholder="default: ms&lt;date&gt;"></label><button>Generate key</button>`, { inline: true })}
${keys.length ? button(`${path}/rotate`, csrf, 'Rotate (new selector, same algorithm)') : ''}`;
}

function list(c: PageContext) {
  const domains = c.repo.listDomains();
  const intro = html`<p class="muted">Publish each record at its name before mail signed with the key goes out. A retiring key no longer signs;
keep its record for a few days, then remove it here and from DNS.</p>`;
  return { title: 'DKIM keys', body: html`${intro}${domains.length ? domains.map((d) => domainSection(c, d.name)) : html`<p class="empty">No domains yet.</p>`}` };
}

function generate(c: PageContext) {
  const d = domainOf(c);
  const key = generateDomainKey(c.ctx.db, d, { selector: c.form.get('selector')?.trim() || undefined, algorithm: algorithmOf(c) });
  c.log.info({ domain: d, selector: key.selector, algorithm: key.algorithm }, 'dkim key generated');
  return { redirect: `${BASE}#${d}`, flash: { kind: 'ok' as const, text: `${d} now signs with ${key.selector} (${key.algorithm}); publish its record.` } };
}

function rotate(c: PageContext) {
  const d = domainOf(c);
  const { active, retiring } = rotateDomainKey(c.ctx.db, d, { algorithm: algorithmOf(c) });
  c.log.info({ domain: d, selector: active.selector, retiring: retiring?.selector }, 'dkim key rotated');
  return { redirect: `${BASE}#${d}`, flash: { kind: 'ok' as const, text: `${d} now signs with ${active.selector}${retiring ? `; ${retiring.selector} is retiring` : ''}. Publish the new record.` } };
}

function remove(c: PageContext) {
  const d = domainOf(c);
  const selector = field(c.form, 'selector', 'the selector');
  removeDomainKey(c.ctx.db, d, selector);
  c.log.info({ domain: d, selector }, 'dkim key removed');
  return { redirect: `${BASE}#${d}`, flash: { kind: 'ok' as const, text: `Removed key ${selector} of ${d}.` } };
}

const back = () => BASE;
const item = (verb: string) => new RegExp(`^/admin/dkim/([^/]+)/${verb}$`);

export const dkimRoutes: PageRoute[] = [
  { method: 'GET', path: /^\/admin\/dkim$/, handle: list },
  { method: 'POST', path: item('generate'), handle: generate, back },
  { method: 'POST', path: item('rotate'), handle: rotate, back },
  { method: 'POST', path: item('remove'), handle: remove, back },
];
