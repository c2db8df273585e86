/** The admin's first page: the numbers to glance at, each linking to its page. */
import { statfs } from 'node:fs/promises';
import { formatUsage } from '../../cli/format.js';
import { queueStats } from '../../queue/repo.js';
import { ago, html } from '../html.js';
import type { PageContext, PageRoute } from '../types.js';

const HOUR = 3600_000;

function card(href: string, value: string, label: string, cls = '') {
  return html`<a class="card" href="${href}"><div class="value ${cls}">${value}</div><div class="label">${label}</div></a>`;
}

async function show(c: PageContext) {
  const domains = c.repo.listDomains().length;
  const accounts = c.repo.listAccounts();
  const aliases = c.repo.listAliases().length;
  const q = queueStats(c.ctx.db);
  const waiting = q.recipients.queued ?? 0;
  const cert = c.ctx.tls.describe();
  const days = Math.floor((cert.notAfter.getTime() - Date.now()) / 86_400_000);
  const since = Date.now() - HOUR;
  const recent = (c.ctx.metrics?.recent.list() ?? []).filter((e) => e.at.getTime() >= since);
  const count = (k: string) => recent.filter((e) => e.kind === k).length;
  const fs = await statfs(c.ctx.config.dataRoot).catch(() => undefined);
  const cards = [
    card('/admin/domains', String(domains), 'domains'),
    card('/admin/accounts', String(accounts.length), `accounts${accounts.some((a) => a.disabled) ? `, ${accounts.filter((a) => a.disabled).length} disabled` : ''}`),
    card('/admin/aliases', String(aliases), 'aliases'),
    card('/admin/queue', String(waiting), q.oldestWaiting ? `recipients queued, oldest since ${ago(q.oldestWaiting).replace(' ago', '')}` : 'recipients queued', waiting ? 'status-warn' : ''),
    card('/admin/tls', `${days} days`, `until the certificate expires (${/CN=([^,]+)/.exec(cert.issuer)?.[1] ?? cert.issuer})`, days < 14 ? 'status-bad' : ''),
    card('/admin/events?kind=received', String(count('received')), 'messages received in the last hour'),
    card('/admin/events?kind=refused', String(count('refused')), 'refused in the last hour', count('refused') ? 'status-warn' : ''),
    card('/admin/events?kind=deferred', String(count('deferred') + count('bounced')), 'outbound deferred or bounced in the last hour'),
    fs ? card('/admin/disk', formatUsage(fs.bavail * fs.bsize), 'free on the data root') : '',
  ];
  const body = html`<div class="cards">${cards}</div>
<p class="muted">${c.ctx.config.hostname}: mail server for ${domains} domain(s). Prometheus metrics are at <code>/metrics</code> on the HTTP listener.</p>`;
  return { title: 'Overview', body };
}

export const overviewRoutes: PageRoute[] = [{ method: 'GET', path: /^\/admin\/$/, handle: show }];
