/**
 * `queue list|show|retry|delete`: the outbound queue (src/queue/), read and changed in
 * the server database. Works while the server runs: `retry` makes recipients due now
 * and the running worker picks them up within its poll interval.
 */
import type { Db } from '../../db/index.js';
import type { QueuedMessage } from '../../queue/repo.js';
import { deleteMessage, getMessage, listMessages, retryNow } from '../../queue/repo.js';
import { removeQueueFile } from '../../queue/spool.js';
import { CliError, type CliContext } from '../context.js';
import { formatSize, table, when } from '../format.js';
import { JSON_OPTION, type Command } from '../types.js';

function parseId(raw: string): number {
  if (!/^\d+$/.test(raw)) throw new CliError(`invalid queue id "${raw}": use the number shown by "queue list"`, true);
  return Number(raw);
}

function toJson(m: QueuedMessage) {
  return {
    id: m.id,
    from: m.mailFrom,
    account: m.account ?? null,
    size: m.size,
    messageId: m.headerMessageId ?? null,
    createdAt: m.createdAt.toISOString(),
    recipients: m.recipients.map((r) => ({
      rcpt: r.rcpt,
      state: r.state,
      attempts: r.attempts,
      nextAttemptAt: r.state === 'queued' ? r.nextAttemptAt.toISOString() : null,
      lastAttemptAt: r.lastAttemptAt?.toISOString() ?? null,
      lastReply: r.lastReply ?? null,
      lastHost: r.lastHost ?? null,
    })),
  };
}

function describe(ctx: CliContext, m: QueuedMessage): void {
  ctx.out(`queue id:   ${m.id}`);
  ctx.out(`from:       <${m.mailFrom}>${m.account ? ` (submitted by ${m.account})` : ''}`);
  if (m.headerMessageId) ctx.out(`message-id: ${m.headerMessageId}`);
  ctx.out(`size:       ${m.size} bytes (${formatSize(m.size)})`);
  ctx.out(`queued:     ${when(m.createdAt)}`);
  ctx.out(`file:       ${m.spoolPath}`);
  ctx.out('recipients:');
  for (const r of m.recipients) {
    ctx.out(`  <${r.rcpt}>`);
    ctx.out(`    state:     ${r.state}`);
    ctx.out(`    attempts:  ${r.attempts}`);
    if (r.state === 'queued') ctx.out(`    next try:  ${when(r.nextAttemptAt)}`);
    if (r.lastAttemptAt) ctx.out(`    last try:  ${when(r.lastAttemptAt)}${r.lastHost ? ` to ${r.lastHost}` : ''}`);
    ctx.out(`    last reply: ${r.lastReply ?? '-'}`);
  }
}

/** Removes a message and its spool file from the queue (`queue delete`, the web admin); false when there is no such id. */
export async function deleteQueued(db: Db, dataRoot: string, id: number): Promise<boolean> {
  const rel = deleteMessage(db, id);
  if (rel === undefined) return false;
  await removeQueueFile(dataRoot, rel);
  return true;
}

export const queueCommands: Command[] = [
  {
    name: 'queue list',
    params: '',
    args: { min: 0, max: 0 },
    options: [JSON_OPTION],
    help: `List the messages waiting in the outbound queue, one line per recipient.

Shows each recipient's state (queued, delivered, failed), the number of attempts, the
next try and the last reply from the remote server.`,
    run(ctx, _args, opts) {
      const msgs = listMessages(ctx.db());
      if (opts.json) return ctx.out(JSON.stringify(msgs.map(toJson), null, 2));
      if (msgs.length === 0) return ctx.out('the queue is empty');
      const rows = [['ID', 'FROM', 'RECIPIENT', 'STATE', 'ATTEMPTS', 'NEXT TRY', 'LAST REPLY']];
      for (const m of msgs) {
        for (const r of m.recipients) {
          rows.push([String(m.id), m.mailFrom || '<>', r.rcpt, r.state, String(r.attempts), r.state === 'queued' ? when(r.nextAttemptAt) : '-', (r.lastReply ?? '-').slice(0, 100)]);
        }
      }
      for (const l of table(rows)) ctx.out(l);
    },
  },
  {
    name: 'queue show',
    params: '<id>',
    args: { min: 1, max: 1 },
    options: [JSON_OPTION],
    help: `Show one queued message: sender, size, and for each recipient its state, attempts, next try and last reply.`,
    run(ctx, [raw], opts) {
      const m = getMessage(ctx.db(), parseId(raw!));
      if (!m) throw new CliError(`no queued message with id ${raw}`);
      if (opts.json) return ctx.out(JSON.stringify(toJson(m), null, 2));
      describe(ctx, m);
    },
  },
  {
    name: 'queue retry',
    params: '[id]',
    args: { min: 0, max: 1 },
    options: [{ name: 'all', help: 'retry every queued message' }],
    help: `Try a queued message again now (or every message with --all), instead of waiting for its next scheduled try.

The running server notices within a few seconds. Attempts already made still count
toward the queue lifetime.`,
    run(ctx, args, opts) {
      if (opts.all && args.length > 0) throw new CliError('give either an id or --all', true);
      if (!opts.all && args.length === 0) throw new CliError('give a queue id, or --all', true);
      if (opts.all) {
        const n = retryNow(ctx.db());
        return ctx.out(`${n} recipient${n === 1 ? '' : 's'} will be retried now`);
      }
      const id = parseId(args[0]!);
      if (!getMessage(ctx.db(), id)) throw new CliError(`no queued message with id ${id}`);
      const n = retryNow(ctx.db(), id);
      ctx.out(`message ${id}: ${n} recipient${n === 1 ? '' : 's'} will be retried now`);
    },
  },
  {
    name: 'queue delete',
    params: '<id>',
    args: { min: 1, max: 1 },
    help: `Delete a message from the outbound queue without delivering it and without a bounce.`,
    async run(ctx, [raw]) {
      const id = parseId(raw!);
      if (!(await deleteQueued(ctx.db(), ctx.dataRoot, id))) throw new CliError(`no queued message with id ${id}`);
      ctx.out(`deleted message ${id} from the queue`);
    },
  },
];
