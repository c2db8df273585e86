/**
 * Disk use: the filesystem of the data root (size, free), and each account's mail
 * (bytes and messages from the store's index, as `account list` shows them) against
 * its quota, largest first, with totals per domain.
 */
import { statfs } from 'node:fs/promises';
import { accountUsages } from '../../cli/commands/account.js';
import { formatSize, formatUsage } from '../../cli/format.js';
import { facts, html, table } from '../html.js';
import type { PageContext, PageRoute } from '../types.js';

const pct = (used: number, limit: number | null) => (limit ? ` (${Math.floor((used * 100) / limit)}%)` : '');

async function show(c: PageContext) {
  const fs = await statfs(c.ctx.config.dataRoot).catch(() => undefined);
  const disk = fs
    ? facts([
        ['Data root', c.ctx.config.dataRoot],
        ['Filesystem size', formatUsage(fs.blocks * fs.bsize)],
        ['Free', `${formatUsage(fs.bavail * fs.bsize)}${pct(fs.bavail * fs.bsize, fs.blocks * fs.bsize)}`],
      ])
    : html`<p class="muted">The filesystem of ${c.ctx.config.dataRoot} could not be read.</p>`;
  const accounts = c.repo.listAccounts();
  const usage = await accountUsages(c.ctx.store, accounts);
  const byDomain = new Map<string, { bytes: number; messages: number }>();
  for (const a of accounts) {
    const u = usage.get(a.address);
    const t = byDomain.get(a.domain) ?? { bytes: 0, messages: 0 };
    t.bytes += u?.bytes ?? 0;
    t.messages += u?.messages ?? 0;
    byDomain.set(a.domain, t);
  }
  const sorted = [...accounts].sort((x, y) => (usage.get(y.address)?.bytes ?? -1) - (usage.get(x.address)?.bytes ?? -1));
  const rows = sorted.map((a) => {
    const u = usage.get(a.address);
    return [
      html`<a href="/admin/accounts/${encodeURIComponent(a.address)}">${a.address}</a>`,
      u ? `${formatUsage(u.bytes)}${pct(u.bytes, a.quotaBytes)}` : '?',
      formatSize(a.quotaBytes),
      u ? `${u.messages}${a.quotaMessages !== null ? ` / ${a.quotaMessages}` : ''}` : '?',
    ];
  });
  const domains = c.repo.listDomains().map((d) => {
    const t = byDomain.get(d.name) ?? { bytes: 0, messages: 0 };
    return [d.name, `${formatUsage(t.bytes)}${pct(t.bytes, d.quotaBytes)}`, formatSize(d.quotaBytes), String(t.messages)];
  });
  const body = html`${disk}<h2>Accounts</h2>${table(['Account', 'Used', 'Quota', 'Messages'], rows, 'No accounts yet.')}
<h2>Domains</h2>${table(['Domain', 'Used', 'Quota', 'Messages'], domains, 'No domains yet.')}`;
  return { title: 'Disk use', body };
}

export const diskRoutes: PageRoute[] = [{ method: 'GET', path: /^\/admin\/disk$/, handle: show }];
