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
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { OutboundQueue, ServerContext } from '../context.js';
import { statusOf, wants, type DsnEnvelope, type DsnRecipient, type DsnRecipientParams } from './dsn.js';
import { report } from './report.js';
import {
  deleteMessage,
  dueGroups,
  getMessage,
  heldMessageIds,
  insertMessage,
  nextDue,
  deferRecipients,
  finishAttempt,
  referencedSpoolFiles,
  releaseMessage,
  type DueGroup,
  type QueuedMessage,
  type QueuedRecipient,
  type RecipientUpdate,
} from './repo.js';
import { addressesOf, relayRoute, routeFor, type Route } from './route.js';
import { nextAttempt } from './schedule.js';
// The SMTP client (nodemailer's, ~15 MB resident) is loaded by the first delivery attempt.
const loadSmtpClient = () => import('./smtp-client.js');
import { adopt, cleanOrphans, removeQueueFile } from './spool.js';
import type { OutboundSession } from './smtp-client.js';

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

interface Outcome {
  klass: 2 | 4 | 5;
  reply: string;
  host?: string;
  /** The reply came from a remote SMTP server (vs. our own reason: DNS, unreachable). */
  fromRemote: boolean;
  status?: string;
  /** The remote offers DSN: the RFC 3461 parameters went on, reporting is its job now. */
  remoteDsn?: boolean;
}

export function startQueue(ctx: ServerContext, opts: { pollMs?: number } = {}): QueueRunner {
  const { config, db } = ctx;
  const q = config.queue;
  const log = ctx.log.child({ component: 'queue' });
  const pollMs = opts.pollMs ?? 5_000;
  const running = new Set<string>();
  const inflight = new Set<Promise<void>>();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  // Held messages left by a stop belong to SMTP transactions that never got their 250:
  // the sender still has them and will try again.
  const heldAtStart = heldMessageIds(db);
  const discardHeld = Promise.all(heldAtStart.map((id) => discard(id)))
    .then(() => {
      if (heldAtStart.length > 0) log.info({ removed: heldAtStart.length }, 'removed held queue messages of unanswered transactions');
    })
    .catch((err: unknown) => log.warn({ err }, 'removing held queue messages failed'));
  async function discard(id: number): Promise<void> {
    const p = deleteMessage(db, id);
    if (p !== undefined) await removeQueueFile(config.dataRoot, p);
  }

  // Listed now, before the listeners open (server.ts starts the queue first).
  void cleanOrphans(config.dataRoot, referencedSpoolFiles(db, config.dataRoot))
    .then((n) => {
      if (n > 0) log.info({ removed: n }, 'removed queue files no queue row referenced');
    })
    .catch((err: unknown) => log.warn({ err }, 'cleaning the queue spool failed'));

  const arm = (ms: number) => {
    if (stopped) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(tick, Math.max(0, ms));
    timer.unref();
  };

  /** Up to this many messages of one destination go over one connection, one after another. */
  const BATCH = 20;

  function tick(): void {
    timer = undefined;
    if (stopped) return;
    try {
      const now = Date.now();
      // Due work per destination (the relay host is one destination for everything).
      const buckets = new Map<string, DueGroup[]>();
      for (const g of dueGroups(db, now)) {
        if (running.has(`${g.messageId}\0${g.domain}`)) continue;
        const key = q.relayHost ? '' : g.domain;
        const l = buckets.get(key) ?? [];
        l.push(g);
        buckets.set(key, l);
      }
      for (const [dest, groups] of buckets) {
        const free = q.concurrency - inflight.size;
        if (free <= 0) break;
        // As many connections as slots allow, each taking its share of the messages.
        const jobs = Math.min(free, groups.length);
        const per = Math.min(BATCH, Math.ceil(groups.length / jobs));
        for (let j = 0; j < jobs; j++) {
          const batch = groups.slice(j * per, (j + 1) * per);
          if (batch.length === 0) break;
          const keys = batch.map((g) => `${g.messageId}\0${g.domain}`);
          for (const k of keys) running.add(k);
          const p: Promise<void> = runBatch(dest || batch[0]!.domain, batch)
            .catch((err: unknown) => {
              log.error({ err, domain: dest, qids: batch.map((g) => g.messageId) }, 'queue attempt failed');
              // Never a hot loop: whatever broke, these recipients wait for the next slot.
              try {
                deferRecipients(db, batch.flatMap((g) => g.recipients.map((r) => r.id)), Date.now() + q.retryBaseSeconds * 1000);
              } catch {
                // the database is gone (shutting down)
              }
            })
            .finally(() => {
              for (const k of keys) running.delete(k);
              inflight.delete(p);
              arm(0);
            });
          inflight.add(p);
        }
      }
      const next = nextDue(db);
      const wait = next !== undefined && next > now ? Math.min(next - now, pollMs) : pollMs;
      arm(wait);
    } catch (err) {
      if (!stopped) log.error({ err }, 'queue scan failed');
      arm(pollMs);
    }
  }

  async function route(domain: string): Promise<Route> {
    if (q.relayHost) return relayRoute(q.relayHost, q.relayTls === 'tls' ? 465 : 587);
    return routeFor(ctx.resolver, domain, q.mxPort);
  }

  interface Item {
    g: DueGroup;
    msg: QueuedMessage;
    file: string;
  }

  /**
   * Delivers a batch of messages for one destination: the route is resolved once, the
   * hosts are tried in order, and the messages go one after another over the first
   * session that works; a session that breaks moves the rest on to the next address.
   */
  async function runBatch(domain: string, groups: DueGroup[]): Promise<void> {
    const items: Item[] = [];
    for (const g of groups) {
      const msg = getMessage(db, g.messageId);
      if (!msg) continue;
      const file = path.resolve(config.dataRoot, msg.spoolPath);
      if (!existsSync(file)) {
        await record({ g, msg, file }, (rcpt) => ({ klass: 5, reply: 'message file missing from the queue spool', status: '5.3.0', fromRemote: false, rcpt }));
        continue;
      }
      items.push({ g, msg, file });
    }
    if (items.length === 0) return;
    const all = async (rest: Item[], o: Omit<Outcome, 'rcpt'>) => {
      for (const it of rest) await record(it, () => o);
    };
    const r = await route(domain);
    if (r.kind !== 'hosts') return all(items, { klass: r.kind === 'permanent' ? 5 : 4, reply: r.reply, status: r.status, fromRemote: false });
    let rest = items;
    let last = `no mail host for ${domain} could be reached`;
    for (const host of r.hosts) {
      let ips: string[];
      try {
        ips = await addressesOf(ctx.resolver, host.name);
      } catch (err) {
        last = `DNS lookup of ${host.name} failed (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
        continue;
      }
      if (ips.length === 0) {
        last = `Host ${host.name} has no address`;
        continue;
      }
      for (const ip of ips) {
        if (stopped) return; // not an attempt: nothing recorded, the next start retries
        const where = `${host.name}[${ip}]:${host.port}`;
        const { OutboundSession } = await loadSmtpClient();
        const session = await OutboundSession.open({
          ip,
          port: host.port,
          servername: host.name,
          ehloName: config.hostname,
          localAddress: q.localAddress || undefined,
          secure: Boolean(q.relayHost) && q.relayTls === 'tls',
          verifyTls: q.verifyTls,
          auth: q.relayHost && q.relayUsername ? { user: q.relayUsername, pass: q.relayPassword } : undefined,
          connectTimeoutMs: q.connectTimeoutMs,
        });
        if (!(session instanceof OutboundSession)) {
          last = session.reply;
          log.info({ host: where, reply: session.reply }, 'host unreachable');
          continue;
        }
        try {
          while (rest.length > 0 && session.usable) {
            const it = rest[0]!;
            const { answered, left, broke } = await sendItem(session, it, where);
            if (answered.size > 0) {
              const some = { ...it, g: { ...it.g, recipients: it.g.recipients.filter((x) => answered.has(x.rcpt)) } };
              await record(some, (rcpt) => answered.get(rcpt)!);
            }
            rest = left.length > 0 ? [{ ...it, g: { ...it.g, recipients: left } }, ...rest.slice(1)] : rest.slice(1);
            if (broke) {
              last = broke;
              log.info({ qid: it.msg.id, host: where, reply: broke }, 'session broke');
              break;
            }
          }
        } finally {
          session.close();
        }
        if (rest.length === 0) return;
      }
    }
    return all(rest, { klass: 4, reply: last, fromRemote: false });
  }

  /**
   * Sends one message to its recipients at one destination over an open session: one
   * transaction per distinct NOTIFY/ORCPT (RFC 3461; nodemailer sends one set of DSN
   * parameters per transaction, and most messages have one set). Returns the outcome of
   * each recipient answered, and those left when the session broke or closed.
   */
  async function sendItem(session: OutboundSession, it: Item, where: string): Promise<{ answered: Map<string, Outcome>; left: QueuedRecipient[]; broke?: string }> {
    const groups = new Map<string, QueuedRecipient[]>();
    for (const r of it.g.recipients) {
      const key = `${r.dsn.notify?.join(',') ?? ''}\0${r.dsn.orcpt ?? ''}`;
      groups.set(key, [...(groups.get(key) ?? []), r]);
    }
    const answered = new Map<string, Outcome>();
    const left: QueuedRecipient[] = [];
    let broke: string | undefined;
    for (const rcpts of groups.values()) {
      if (broke !== undefined || !session.usable) {
        left.push(...rcpts);
        continue;
      }
      const { msg, file } = it;
      const res = await session.send({ mailFrom: msg.mailFrom, rcpts: rcpts.map((x) => x.rcpt), file, size: msg.size, dsn: { ...msg.dsn, ...rcpts[0]!.dsn } });
      if (res.kind === 'unreachable') {
        broke = res.reply;
        left.push(...rcpts);
        continue;
      }
      const byRcpt = new Map(res.replies.map((x) => [x.rcpt, x]));
      for (const r of rcpts) {
        const x = byRcpt.get(r.rcpt);
        answered.set(r.rcpt, x ? { klass: x.klass, reply: x.reply, host: where, fromRemote: true, remoteDsn: res.dsn } : { klass: 4, reply: 'no reply for this recipient', fromRemote: false });
      }
    }
    return { answered, left, broke };
  }

  /**
   * Applies one attempt's outcome to a message's recipients: state, reports (RFC 3461:
   * failures unless NOTIFY said otherwise, one "delayed" notice after
   * queue.delay_warning_seconds, "relayed" to a next hop without DSN when SUCCESS was
   * asked), cleanup.
   */
  async function record(it: Item, outcomeOf: (rcpt: string) => Outcome): Promise<void> {
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
    await report(ctx, log, { mailFrom: msg.mailFrom, original: { file }, arrival: msg.createdAt, dsn: msg.dsn, queueId: msg.id, reason: expiredAny && !failedAny ? 'expired' : 'failed' }, reports);
    const done = finishAttempt(db, msg.id, updates, now);
    ctx.metrics?.queueOutcomes(msg, g.recipients, updates);
    if (done !== undefined) await removeQueueFile(config.dataRoot, done);
  }

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
    kick() {
      arm(0);
    },
    async stop(graceMs = 5_000) {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (inflight.size === 0) return;
      let t: NodeJS.Timeout | undefined;
      await Promise.race([Promise.allSettled([...inflight]), new Promise<void>((r) => (t = setTimeout(r, graceMs)))]);
      if (t) clearTimeout(t);
    },
  };
  arm(0);
  return runner;
}
