/**
 * The outbound queue: one line per recipient (`queue list`), one message with its
 * recipients' attempts and last replies (`queue show`), retry now (`queue retry`, one
 * message or all), delete without a bounce (`queue delete`). The running worker is
 * woken at once after a retry.
 */
import { deleteQueued } from '../../cli/commands/queue.js';
import { formatSize } from '../../cli/format.js';
import { getMessage, listMessages, retryNow, type QueuedRecipient } from '../../queue/repo.js';
import { ago, button, facts, html, table, when } from '../html.js';
import { itemPath, WebError, type PageContext, type PageRoute } from '../types.js';

const BASE = '/admin/queue';

function idOf(c: PageContext): number {
  const raw = c.params[0]!;
  if (!/^\d{1,15}$/.test(raw)) throw new WebError(`invalid queue id ${raw}`, 404);
  return Number(raw);
}

const next = (r: QueuedRecipient) => (r.state === 'queued' ? `${when(r.nextAttemptAt)} (${ago(r.nextAttemptAt)})` : '-');

/** The worker looks for due work at once (it would within its poll interval anyway). */
function kick(c: PageContext): void {
  (c.ctx.queue as { kick?: () => void } | undefined)?.kick?.();
}

function list(c: PageContext) {
  const msgs = listMessages(c.ctx.db);
  const rows = msgs.flatMap((m) =>
    m.recipients.map((r) => [html`<a href="${itemPath(BASE, m.id)}">${m.id}</a>`, m.mailFrom || '<>', r.rcpt, r.state, String(r.attempts), next(r), (r.lastReply ?? '-').slice(0, 160)]),
  );
  const retryAll = msgs.length ? html`<p>${button(`${BASE}/retry`, c.session.csrf, 'Retry every queued message now')}</p>` : '';
  return { title: 'Outbound queue', body: html`${table(['ID', 'From', 'Recipient', 'State', 'Attempts', 'Next try', 'Last reply'], rows, 'The queue is empty.')}${retryAll}` };
}

function show(c: PageContext) {
  const id = idOf(c);
  const m = getMessage(c.ctx.db, id);
  if (!m) throw new WebError(`no queued message with id ${id}`, 404);
  const path = itemPath(BASE, id);
  const about = facts([
    ['From', `<${m.mailFrom}>${m.account ? ` (submitted by ${m.account})` : ''}`],
    ['Message-ID', m.headerMessageId ?? '-'],
    ['Size', `${m.size} bytes (${formatSize(m.size)})`],
    ['Queued', `${when(m.createdAt)} (${ago(m.createdAt)})`],
    ['Spool file', m.spoolPath],
  ]);
  const rcpts = table(
    ['Recipient', 'State', 'Attempts', 'Next try', 'Last try', 'Last reply'],
    m.recipients.map((r) => [r.rcpt, r.state, String(r.attempts), next(r), r.lastAttemptAt ? `${when(r.lastAttemptAt)}${r.lastHost ? ` to ${r.lastHost}` : ''}` : '-', r.lastReply ?? '-']),
  );
  const actions = html`<p>${button(`${path}/retry`, c.session.csrf, 'Retry now')} ${button(`${path}/delete`, c.session.csrf, 'Delete without bounce', { danger: true })}</p>`;
  return { title: `Queued message ${id}`, body: html`${about}<h2>Recipients</h2>${rcpts}${actions}`, current: BASE };
}

function retry(c: PageContext) {
  const id = idOf(c);
  if (!getMessage(c.ctx.db, id)) throw new WebError(`no queued message with id ${id}`, 404);
  const n = retryNow(c.ctx.db, id);
  kick(c);
  c.log.info({ qid: id, recipients: n }, 'queue retry');
  return { redirect: itemPath(BASE, id), flash: { kind: 'ok' as const, text: `Message ${id}: ${n} recipient(s) retried now.` } };
}

function retryAll(c: PageContext) {
  const n = retryNow(c.ctx.db);
  kick(c);
  c.log.info({ recipients: n }, 'queue retry all');
  return { redirect: BASE, flash: { kind: 'ok' as const, text: `${n} recipient(s) retried now.` } };
}

async function remove(c: PageContext) {
  const id = idOf(c);
  if (!(await deleteQueued(c.ctx.db, c.ctx.config.dataRoot, id))) throw new WebError(`no queued message with id ${id}`, 404);
  c.log.info({ qid: id }, 'queue delete');
  return { redirect: BASE, flash: { kind: 'ok' as const, text: `Deleted message ${id} from the queue.` } };
}

export const queueRoutes: PageRoute[] = [
  { method: 'GET', path: /^\/admin\/queue$/, handle: list },
  { method: 'POST', path: /^\/admin\/queue\/retry$/, handle: retryAll, back: () => BASE },
  { method: 'GET', path: /^\/admin\/queue\/([^/]+)$/, handle: show },
  { method: 'POST', path: /^\/admin\/queue\/([^/]+)\/retry$/, handle: retry, back: (c) => itemPath(BASE, c.params[0]!) },
  { method: 'POST', path: /^\/admin\/queue\/([^/]+)\/delete$/, handle: remove, back: (c) => itemPath(BASE, c.params[0]!) },
];
