/**
 * The outbound queue: durable enqueue, and a worker in the server process that
 * delivers to remote MX hosts (or a relay host) with retries and bounces.
 *
 * Enqueue (RFC 5321 §4.5.4 "accepted means durable"): the message file is linked into
 * `<data>/queue/` and the directory fsynced, then one `queue_messages` row and one
 * `queue_recipients` row per recipient are committed (synchronous = FULL), and only then
 * does the caller answer `250`. A restart finds the rows and carries on.
 *
 * The worker wakes when a recipient is due (or on `kick()`, or every poll interval so
 * CLI changes are noticed), takes due recipients grouped per message and destination
 * domain, and per destination: resolves the route once (MX / implicit MX / null MX /
 * relay), tries the hosts in preference order and each host's addresses, sends up to
 * BATCH messages one after another over the first session that works (as Postfix's
 * connection cache does), and records each recipient's reply: 2xx delivered, 5xx
 * failed (DSN), 4xx or no reachable host → retry on the backoff schedule until the
 * lifetime ends (then a DSN, Status 5.4.7).
 *
 * DSNs (RFC 3464) go to the envelope sender: into the local account's INBOX when the
 * sender is ours, else queued with the null sender. A message with the null sender
 * never produces a DSN (RFC 5321 §4.5.5, no bounce of a bounce). The DSN is stored
 * before the recipient's state changes, so a crash can repeat a DSN but never lose one.
 *
 * Split as mox's queue is: this file (enqueue, the runner), scheduler.ts (when and what
 * to attempt), direct.ts (delivery to MX hosts or the relay), attempt.ts (what an
 * attempt's replies do to each recipient, and the DSNs), dsn.ts (building DSNs). The
 * queue imports nothing from src/smtp/: the DSN sender (src/smtp/report.ts) is passed
 * in by server.ts.
 */
import type { OutboundQueue, ServerContext } from '../context.js';
import type { Reporter, QueueEnv } from './attempt.js';
import type { DsnEnvelope, DsnRecipientParams } from './dsn.js';
import { deleteMessage, heldMessageIds, insertMessage, referencedSpoolFiles, releaseMessage } from './repo.js';
import { Scheduler } from './scheduler.js';
import { adopt, cleanOrphans, removeQueueFile } from './spool.js';

export type { Reporter } from './attempt.js';

export interface EnqueueRequest {
  mailFrom: string;
  rcpts: string[];
  /** An fsynced file on the data root's filesystem; linked (or copied), not moved. */
  file: string;
  /** The submitting account, when there is one (shown by `queue list`). */
  account?: string;
  headerMessageId?: string;
  /** Held until release (OutboundQueue.hold). */
  held?: boolean;
  /** RFC 3461 RET / ENVID given at MAIL FROM. */
  dsn?: DsnEnvelope;
  /** RFC 3461 NOTIFY / ORCPT per recipient. */
  rcptDsn?: ReadonlyMap<string, DsnRecipientParams>;
}

/** The running queue: what server.ts keeps, and what goes into `ctx.queue`. */
export interface QueueRunner extends OutboundQueue {
  enqueue(req: EnqueueRequest): Promise<void>;
  /** Enqueue and return the queue id. */
  add(req: EnqueueRequest): Promise<number>;
  /** Look for due work now (after an enqueue or a CLI retry). */
  kick(): void;
  /** Stops taking work and waits (bounded) for attempts in flight. */
  stop(graceMs?: number): Promise<void>;
}

/** Durably queues a message (file linked into the queue spool, rows committed). Returns the queue id. */
export async function enqueueMessage(ctx: Pick<ServerContext, 'config' | 'db'>, req: EnqueueRequest): Promise<number> {
  if (req.rcpts.length === 0) throw new Error('enqueue: no recipients');
  const { rel, size } = await adopt(ctx.config.dataRoot, req.file);
  try {
    return insertMessage(ctx.db, { spoolPath: rel, mailFrom: req.mailFrom, account: req.account, size, headerMessageId: req.headerMessageId, rcpts: req.rcpts, held: req.held, dsn: req.dsn, rcptDsn: req.rcptDsn });
  } catch (err) {
    await removeQueueFile(ctx.config.dataRoot, rel);
    throw err;
  }
}

/**
 * Starts the worker (mox queue.go: scheduling). `report` sends DSNs to envelope senders
 * (src/smtp/report.ts `report`, passed in by server.ts so the queue imports no SMTP code).
 */
export function startQueue(ctx: ServerContext, opts: { pollMs?: number; report: Reporter }): QueueRunner {
  const { config, db } = ctx;
  const log = ctx.log.child({ component: 'queue' });
  const env: QueueEnv = { ctx, log, report: opts.report, stopped: () => scheduler.stopped };
  const scheduler = new Scheduler(env, opts.pollMs ?? 5_000);

  const discard = async (id: number): Promise<void> => {
    const p = deleteMessage(db, id);
    if (p !== undefined) await removeQueueFile(config.dataRoot, p);
  };
  // Held messages left by a stop belong to SMTP transactions that never got their 250:
  // the sender still has them and will try again.
  const heldAtStart = heldMessageIds(db);
  const discardHeld = Promise.all(heldAtStart.map((id) => discard(id)))
    .then(() => {
      if (heldAtStart.length > 0) log.info({ removed: heldAtStart.length }, 'removed held queue messages of unanswered transactions');
    })
    .catch((err: unknown) => log.warn({ err }, 'removing held queue messages failed'));

  // Listed now, before the listeners open (server.ts starts the queue first).
  void cleanOrphans(config.dataRoot, referencedSpoolFiles(db, config.dataRoot))
    .then((n) => {
      if (n > 0) log.info({ removed: n }, 'removed queue files no queue row referenced');
    })
    .catch((err: unknown) => log.warn({ err }, 'cleaning the queue spool failed'));

  const runner: QueueRunner = {
    async add(req) {
      const id = await enqueueMessage(ctx, req);
      log.info({ qid: id, from: req.mailFrom, rcpts: req.rcpts }, 'queued');
      runner.kick();
      return id;
    },
    async enqueue(req) {
      await runner.add(req);
    },
    async hold(req) {
      await discardHeld;
      return enqueueMessage(ctx, { ...req, held: true });
    },
    release(id) {
      if (releaseMessage(db, id) > 0) {
        log.info({ qid: id }, 'queued');
        runner.kick();
      }
    },
    discard,
    kick: () => scheduler.arm(0),
    stop: (graceMs = 5_000) => scheduler.stop(graceMs),
  };
  scheduler.arm(0);
  return runner;
}
