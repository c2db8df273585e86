/**
 * One delivery attempt's outcome applied to a queued message (mox queue.go's
 * delivered/failed handling and dsn.go): each recipient's new state (delivered, failed,
 * deferred on the backoff schedule, expired at the end of its lifetime) and the reports
 * the sender asked for (RFC 3461 NOTIFY): failures, one "delayed" notice after
 * `queue.delay_warning_seconds`, "relayed" to a next hop without DSN. The report is
 * stored before the state changes: a crash can repeat one, never lose one.
 */
import type { ServerContext } from '../context.js';
import type { Logger } from '../log.js';
import { statusOf, wants, type DsnEnvelope, type DsnRecipient } from './dsn.js';
import { finishAttempt, type DueGroup, type QueuedMessage, type RecipientUpdate } from './repo.js';
import { nextAttempt } from './schedule.js';
import { removeQueueFile } from './spool.js';

/** Sends reports to an envelope sender (src/smtp/report.ts; injected, so the queue does not import SMTP). */
export type Reporter = (
  ctx: ServerContext,
  log: Logger,
  m: { mailFrom: string; original: { file: string }; arrival: Date; dsn: DsnEnvelope; queueId?: string | number; reason?: 'failed' | 'expired' },
  recipients: DsnRecipient[],
) => Promise<void>;

/** What the parts of the running queue share. */
export interface QueueEnv {
  ctx: ServerContext;
  log: Logger;
  report: Reporter;
  /** The queue is stopping: start nothing new. */
  stopped(): boolean;
}

export interface Outcome {
  klass: 2 | 4 | 5;
  reply: string;
  host?: string;
  /** The reply came from a remote SMTP server (vs. our own reason: DNS, unreachable). */
  fromRemote: boolean;
  status?: string;
  /** The remote offers DSN: the RFC 3461 parameters went on, reporting is its job now. */
  remoteDsn?: boolean;
}

/** A due message for one destination, with its spool file. */
export interface Item {
  g: DueGroup;
  msg: QueuedMessage;
  file: string;
}

/**
 * Applies one attempt's outcome to a message's recipients: state, reports (RFC 3461:
 * failures unless NOTIFY said otherwise, one "delayed" notice after
 * queue.delay_warning_seconds, "relayed" to a next hop without DSN when SUCCESS was
 * asked), cleanup.
 */
export async function recordAttempt(env: QueueEnv, it: Item, outcomeOf: (rcpt: string) => Outcome): Promise<void> {
  const { ctx, log } = env;
  const { config, db } = ctx;
  const q = config.queue;
  const { g, msg, file } = it;
  const now = Date.now();
  const updates: RecipientUpdate[] = [];
  const reports: DsnRecipient[] = [];
  let expiredAny = false;
  let failedAny = false;
  for (const r of g.recipients) {
    const o = outcomeOf(r.rcpt);
    const base = { rcpt: r.rcpt, orcpt: r.dsn.orcpt, diagnostic: o.reply, remoteMta: o.host?.replace(/\[.*$/, ''), fromRemote: o.fromRemote, lastAttempt: new Date(now) };
    if (o.klass === 2) {
      updates.push({ id: r.id, state: 'delivered', attempted: true, reply: o.reply, host: o.host });
      // RFC 3461 §5.2.2: a next hop without DSN cannot report success; we say "relayed".
      if (!o.remoteDsn && wants(r.dsn.notify, 'SUCCESS')) reports.push({ ...base, action: 'relayed', status: '2.0.0' });
      log.info({ qid: msg.id, rcpt: r.rcpt, host: o.host, reply: o.reply, attempts: r.attempts + 1, result: 'delivered' }, 'delivered');
      continue;
    }
    if (o.klass === 5) {
      failedAny = true;
      if (wants(r.dsn.notify, 'FAILURE')) reports.push({ ...base, action: 'failed', status: o.status ?? statusOf(o.reply, true) });
      updates.push({ id: r.id, state: 'failed', attempted: true, reply: o.reply, host: o.host });
      log.info({ qid: msg.id, rcpt: r.rcpt, host: o.host, reply: o.reply, result: 'bounced' }, 'permanent failure');
      continue;
    }
    const next = nextAttempt(q, msg.createdAt.getTime(), r.attempts + 1, now);
    if (next.expired) {
      expiredAny = true;
      // RFC 3463 X.4.7: delivery time expired.
      if (wants(r.dsn.notify, 'FAILURE')) reports.push({ ...base, action: 'failed', status: '5.4.7' });
      updates.push({ id: r.id, state: 'failed', attempted: true, reply: `expired after ${r.attempts + 1} attempts: ${o.reply}`, host: o.host });
      log.info({ qid: msg.id, rcpt: r.rcpt, reply: o.reply, attempts: r.attempts + 1, result: 'expired' }, 'delivery time expired');
      continue;
    }
    const warn = q.delayWarningSeconds > 0 && !r.delayNotified && now - msg.createdAt.getTime() >= q.delayWarningSeconds * 1000 && wants(r.dsn.notify, 'DELAY');
    if (warn) reports.push({ ...base, action: 'delayed', status: o.status ?? statusOf(o.reply, false), willRetryUntil: new Date(msg.createdAt.getTime() + q.lifetimeSeconds * 1000) });
    updates.push({ id: r.id, state: 'queued', attempted: true, nextAttemptAt: next.at, reply: o.reply, host: o.host, delayNotified: warn });
    log.info({ qid: msg.id, rcpt: r.rcpt, host: o.host, reply: o.reply, attempts: r.attempts + 1, next: new Date(next.at).toISOString(), result: 'deferred' }, 'deferred');
  }
  // The report is stored before the recipients' state changes: a crash can repeat one, never lose one.
  await env.report(ctx, log, { mailFrom: msg.mailFrom, original: { file }, arrival: msg.createdAt, dsn: msg.dsn, queueId: msg.id, reason: expiredAny && !failedAny ? 'expired' : 'failed' }, reports);
  const done = finishAttempt(db, msg.id, updates, now);
  ctx.metrics?.queueOutcomes(msg, g.recipients, updates);
  if (done !== undefined) await removeQueueFile(config.dataRoot, done);
}
