/**
 * Direct delivery (mox queue/direct.go): a batch of due messages for one destination
 * goes to its MX hosts (or the relay host). The route is resolved once (MX / implicit
 * MX / null MX / relay, src/queue/route.ts), the hosts are tried in preference order and
 * each host's addresses in turn, and up to a batch of messages go one after another over
 * the first session that works (as Postfix's connection cache does). Each recipient's
 * reply is handed to recordAttempt (src/queue/attempt.ts).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { ServerContext } from '../context.js';
import { recordAttempt, type Item, type Outcome, type QueueEnv } from './attempt.js';
import { getMessage, type DueGroup, type QueuedRecipient } from './repo.js';
import { addressesOf, relayRoute, routeFor, type Route } from './route.js';
import type { OutboundSession } from './smtp-client.js';
// The SMTP client (nodemailer's, ~15 MB resident) is loaded by the first delivery attempt.
const loadSmtpClient = () => import('./smtp-client.js');

async function route(ctx: ServerContext, domain: string): Promise<Route> {
  const q = ctx.config.queue;
  if (q.relayHost) return relayRoute(q.relayHost, q.relayTls === 'tls' ? 465 : 587);
  return routeFor(ctx.resolver, domain, q.mxPort);
}

/**
 * Delivers a batch of messages for one destination: the route is resolved once, the
 * hosts are tried in order, and the messages go one after another over the first
 * session that works; a session that breaks moves the rest on to the next address.
 */
export async function deliverBatch(env: QueueEnv, domain: string, groups: DueGroup[]): Promise<void> {
  const { ctx, log } = env;
  const { config, db } = ctx;
  const q = config.queue;
  const record = (it: Item, outcomeOf: (rcpt: string) => Outcome) => recordAttempt(env, it, outcomeOf);
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
  const r = await route(ctx, domain);
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
      if (env.stopped()) return; // not an attempt: nothing recorded, the next start retries
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
