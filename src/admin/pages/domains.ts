/**
 * Domains: list, add (with a DKIM key, as `domain add`), quota, remove (as `domain
 * remove`, with --force and --delete-mail as checkboxes), and each domain's DNS records
 * with their live status (the `dns check` lookups, through the server's resolver).
 */
import { quotaOption } from '../../cli/commands/account.js';
import { addDomainWithDefaults, domainSummaries } from '../../cli/commands/domain.js';
import { formatSize } from '../../cli/format.js';
import { checkRecords, domainRecords, zoneLine, type CheckResult } from '../../setup/records.js';
import { html, postForm, table, when } from '../html.js';
import { checked, field, itemPath, WebError, type PageContext, type PageRoute } from '../types.js';

const BASE = '/admin/domains';

function domainOf(c: PageContext): string {
  const d = c.repo.getDomain(c.params[0]!);
  if (!d) throw new WebError(`no such domain: ${c.params[0]}`, 404);
  return d.name;
}

function list(c: PageContext) {
  const rows = domainSummaries(c.ctx.db, c.repo, c.ctx.config.adminAddress).map((d) => [
    html`<a href="${itemPath(BASE, d.name)}">${d.name}</a>`,
    String(d.accounts),
    String(d.aliases),
    formatSize(d.quotaBytes),
    when(d.createdAt),
  ]);
  const add = postForm(
    BASE,
    c.session.csrf,
    html`<fieldset><legend>Add a domain</legend>
<label>Domain<input type="text" name="domain" required placeholder="example.org"></label>
<button>Add domain</button>
<p class="muted">The domain gets a DKIM key at once; its page lists the DNS records to publish.</p></fieldset>`,
  );
  return { title: 'Domains', body: html`${table(['Domain', 'Accounts', 'Aliases', 'Quota', 'Added'], rows, 'No domains yet.')}${add}` };
}

function add(c: PageContext) {
  const { domain } = addDomainWithDefaults(c.ctx.db, c.repo, field(c.form, 'domain', 'the domain'));
  c.log.info({ domain: domain.name }, 'domain added');
  return { redirect: itemPath(BASE, domain.name), flash: { kind: 'ok' as const, text: `Added ${domain.name}. Publish the DNS records below.` } };
}

const STATUS_CLASS: Record<CheckResult['status'], string> = { ok: 'status-ok', missing: 'status-bad', wrong: 'status-bad', error: 'status-warn', skipped: 'muted' };

function dnsTable(results: CheckResult[]) {
  const rows = results.map((r) => [
    html`<span class="${STATUS_CLASS[r.status]}">${r.status}</span>`,
    r.record.type,
    html`<code>${r.record.name}</code>`,
    html`<code>${r.record.value}</code>`,
    html`${r.record.why}${r.found ? html`<br><span class="muted">found: ${r.found}</span>` : ''}`,
  ]);
  return table(['Status', 'Type', 'Name', 'Value', 'Why'], rows);
}

async function show(c: PageContext) {
  const name = domainOf(c);
  const d = domainSummaries(c.ctx.db, c.repo, c.ctx.config.adminAddress).find((x) => x.name === name)!;
  const records = domainRecords(c.ctx.db, name, { hostname: c.ctx.config.hostname });
  const results = await checkRecords(c.ctx.resolver, records);
  const bad = results.filter((r) => r.status === 'missing' || r.status === 'wrong' || r.status === 'error').length;
  const path = itemPath(BASE, name);
  const body = html`<p>${d.accounts} account(s), ${d.aliases} alias(es), quota ${formatSize(d.quotaBytes)}.
<a href="/admin/accounts?domain=${encodeURIComponent(name)}">Accounts</a> · <a href="/admin/dkim#${name}">DKIM keys</a></p>
<h2>DNS records</h2>
<p class="${bad ? 'status-bad' : 'status-ok'}">${bad ? `${bad} record(s) to publish or fix` : 'Every checked record is published as it should be.'}</p>
${dnsTable(results)}
<details><summary>Zone file lines</summary><pre>${records.map((r) => `${zoneLine(r)}\n`)}</pre></details>
<h2>Quota</h2>
${postForm(`${path}/quota`, c.session.csrf, html`<label>Total storage of all accounts<input type="text" name="quota" value="${d.quotaBytes === null ? 'none' : formatSize(d.quotaBytes)}"></label><button>Set quota</button>`)}
<h2>Remove</h2>
${postForm(
  `${path}/remove`,
  c.session.csrf,
  html`<label class="check"><input type="checkbox" name="force"> also remove its accounts and aliases</label>
<label class="check"><input type="checkbox" name="delete_mail"> and delete their mail (cannot be undone)</label>
<button class="danger">Remove ${name}</button>`,
)}`;
  return { title: `Domain ${name}`, body, current: BASE };
}

function quota(c: PageContext) {
  const name = domainOf(c);
  const bytes = quotaOption(field(c.form, 'quota', 'the quota'), 'quota');
  const d = c.repo.setDomainQuota(name, bytes ?? null);
  c.log.info({ domain: name, quotaBytes: d.quotaBytes }, 'domain quota set');
  return { redirect: itemPath(BASE, name), flash: { kind: 'ok' as const, text: `Quota of ${name}: ${formatSize(d.quotaBytes)}` } };
}

async function remove(c: PageContext) {
  const name = domainOf(c);
  const removed = await c.repo.removeDomain(name, { force: checked(c.form, 'force'), deleteMail: checked(c.form, 'delete_mail') });
  c.log.info({ domain: name, accounts: removed.accounts, aliases: removed.aliases }, 'domain removed');
  return { redirect: BASE, flash: { kind: 'ok' as const, text: `Removed ${name} with ${removed.accounts.length} account(s) and ${removed.aliases.length} alias(es).` } };
}

const back = (c: PageContext) => itemPath(BASE, c.params[0]!);

export const domainRoutes: PageRoute[] = [
  { method: 'GET', path: /^\/admin\/domains$/, handle: list },
  { method: 'POST', path: /^\/admin\/domains$/, handle: add, back: () => BASE },
  { method: 'GET', path: /^\/admin\/domains\/([^/]+)$/, handle: show },
  { method: 'POST', path: /^\/admin\/domains\/([^/]+)\/quota$/, handle: quota, back },
  { method: 'POST', path: /^\/admin\/domains\/([^/]+)\/remove$/, handle: remove, back },
];
