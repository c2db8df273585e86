/**
 * Recent mail: the last few hundred messages received or refused over SMTP and the
 * queue's outbound attempts, newest first, from the in-memory ring the metrics keep
 * (src/metrics/recent.ts). Filter by kind with ?kind=refused and so on. The log has
 * the full history.
 */
import type { MailEventKind } from '../../metrics/recent.js';
import { ago, html, table, when } from '../html.js';
import type { PageContext, PageRoute } from '../types.js';

const KINDS: MailEventKind[] = ['received', 'refused', 'delivered', 'deferred', 'bounced', 'expired'];
const CLASS: Record<MailEventKind, string> = { received: 'status-ok', delivered: 'status-ok', refused: 'status-bad', bounced: 'status-bad', expired: 'status-bad', deferred: 'status-warn' };

function show(c: PageContext) {
  const kind = c.query.get('kind') as MailEventKind | null;
  const recent = c.ctx.metrics?.recent.list() ?? [];
  const events = kind && KINDS.includes(kind) ? recent.filter((e) => e.kind === kind) : recent;
  const filters = html`<p>Show: <a href="/admin/events">all</a>${KINDS.map((k) => html` · <a href="/admin/events?kind=${k}">${k}</a>`)}</p>`;
  const rows = events.map((e) => [
    html`<span title="${when(e.at)}">${ago(e.at)}</span>`,
    html`<span class="${CLASS[e.kind]}">${e.kind}</span>${e.reason ? html`<br><span class="muted">${e.reason.replace(/_/g, ' ')}</span>` : ''}`,
    `${e.protocol}${e.queueId !== undefined ? ` #${e.queueId}` : ''}`,
    `${e.peer ?? ''}${e.user ? ` (${e.user})` : ''}`,
    e.from === undefined ? '' : e.from || '<>',
    e.to.join(', '),
    e.reply,
  ]);
  return { title: 'Recent mail', body: html`${filters}${table(['When', 'What', 'Via', 'Client / host', 'From', 'To', 'Reply'], rows, 'Nothing since the server started.')}` };
}

export const eventRoutes: PageRoute[] = [{ method: 'GET', path: /^\/admin\/events$/, handle: show }];
