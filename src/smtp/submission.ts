/**
 * Message submission (RFC 6409) on 587 (STARTTLS, RFC 3207) and 465 (implicit TLS,
 * RFC 8314 §3.3), built on smtp-server.
 *
 * - AUTH PLAIN (RFC 4616) and LOGIN, advertised and accepted only on a TLS connection
 *   (RFC 8314 §3; RFC 4954 §4), except from loopback when
 *   `auth.allow_plaintext_on_loopback` is on. AUTH before TLS → `530 5.7.0 Must issue a
 *   STARTTLS command first` (RFC 3207 §4). A wrong password → `535 5.7.8` after the
 *   configured failure delay (RFC 4954 §6).
 * - No relaying without AUTH: MAIL/RCPT/DATA before AUTH → `530 5.7.0` (RFC 4954 §6).
 * - The envelope sender and every `From:` address must be owned by the account (its
 *   own address, an alias or a catch-all delivering to it) → else `553 5.7.1`
 *   (RFC 6409 §4.3 lets the MSA enforce this).
 * - Limits per account: messages per rolling hour (`550 5.4.5`, as large providers
 *   answer a sending-quota overrun) and recipients per message (`452 4.5.3` for the
 *   ones beyond, RFC 5321 §4.5.3.1.10, so the client sends them in another
 *   transaction).
 * - DATA: the message is received (memory or temp file); `Received`, and when missing
 *   `Message-ID` and `Date` (RFC 6409 §8.2, §8.3), are prepended; the message is
 *   DKIM-signed with the From domain's active key; written once to an fsynced spool
 *   file; local recipients are delivered through the same durable path as port 25
 *   (store.deliver), remote ones are queued (file linked + rows committed); only then
 *   `250`.
 *
 * Implementation note: smtp-server decides AUTH visibility from server-wide options.
 * Whether AUTH may be used depends on the connection (TLS, loopback): the listener's
 * smtp-server adapter asks `authAllowed` on each EHLO and AUTH (src/smtp/server.ts).
 */
import { Readable } from 'node:stream';
import { unlink } from 'node:fs/promises';
import type { SMTPServerAddress, SMTPServerAuthentication, SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import addressparser from 'nodemailer/lib/addressparser/index.js';
import { AddressError, parseAddress } from '../accounts/address.js';
import type { AccountRecord } from '../accounts/types.js';
import type { Listener, ServerContext } from '../context.js';
import type { Logger } from '../log.js';
import { signMessage } from '../dkim/sign.js';
import type { QueueRunner } from '../queue/index.js';
import { announcedSize, deliverWithQuota, rcptQuotaCheck } from './quota.js';
import { resolveTargets } from './deliver.js';
import { planSieveDelivery } from '../sieve/deliver.js';
import { startSmtpListener, type SmtpConn } from './listener.js';
import { dsnPlan, reportLocalSuccess } from './dsn.js';
import { checkMailParams, checkRcptParams, envelopeDsn, recipientsDsn } from './params.js';
import { envelopeRecipient, resolveWithPostmaster } from './postmaster.js';
import { Rejects, Reply, SmtpReject } from './reply.js';
import { receive, spoolIo, writeFinal, type SpooledMessage } from './spool.js';
import { newQueueId, protocolName, receivedHeader, rfc5322Date } from './trace.js';
import { authenticate, BANNED_TEXT, connectRefusal, loginAllowed, type LoginResult } from '../accounts/login.js';
import { randomHex } from '../util/random.js';

export interface SubmissionOptions {
  port: number;
  host?: string;
  /** 465: TLS from the first byte. */
  implicitTls?: boolean;
}

interface ConnState {
  account?: AccountRecord;
}
type Conn = SmtpConn<ConnState>;

/** Named refusals of this module (the texts say which rule or limit). */
export const SubmissionRejects = {
  authRequired: () => new SmtpReject(Reply.AuthRequired, '5.7.0', 'Authentication required'),
  starttlsFirst: () => new SmtpReject(Reply.AuthRequired, '5.7.0', 'Must issue a STARTTLS command first'),
  authFailed: () => new SmtpReject(Reply.AuthFailed, '5.7.8', 'Authentication credentials invalid'),
  /** RFC 4954 §6: the credential store failed; the client may try again. */
  authUnavailable: () => new SmtpReject(454, '4.7.0', 'Temporary authentication failure, try again later'),
  /** A banned client (src/accounts/bans.ts), at connect or AUTH; 421 closes the connection. */
  banned: () => new SmtpReject(Reply.ServiceClosing, '4.7.0', BANNED_TEXT),
  senderNotOwned: (addr: string, user: string) =>
    new SmtpReject(Reply.MailboxNameNotAllowed, '5.7.1', `<${addr}>: Sender address rejected: not owned by user ${user}`),
  fromNotOwned: (addr: string, user: string) =>
    new SmtpReject(Reply.MailboxNameNotAllowed, '5.7.1', `From: header address <${addr}> is not owned by user ${user}`),
  tooManyRecipients: (max: number) => new SmtpReject(Reply.StorageFull, '4.5.3', `Too many recipients: the limit is ${max} recipients per message`),
  hourlyLimit: (max: number) =>
    new SmtpReject(Reply.MailboxUnavailable, '5.4.5', `Sending limit exceeded: the limit is ${max} messages per hour for this account; try again later`),
  queueUnavailable: () => new SmtpReject(Reply.LocalError, '4.3.0', 'Outbound queue not available, try again later'),
};

/** Whether the account may use this address as sender (own, alias, or catch-all domain). */
export function ownsAddress(ctx: ServerContext, account: AccountRecord, raw: string): boolean {
  let addr: string;
  let domain: string;
  try {
    const p = parseAddress(raw);
    addr = p.address;
    domain = p.domain;
  } catch {
    return false;
  }
  const owned = ctx.accounts.ownedAddresses(account);
  if (addr === account.address || owned.addresses.has(addr) || owned.catchAllDomains.has(domain)) return true;
  // Plus-addressing: alice+lists@a.test is alice's too.
  const plus = addr.indexOf('+');
  if (plus > 0) {
    const base = `${addr.slice(0, plus)}@${domain}`;
    return base === account.address || owned.addresses.has(base);
  }
  return false;
}

/** Unfolded header fields of a header block: [lower-case name, value]. */
export function headerFields(block: Buffer): Array<[string, string]> {
  const text = block.toString('utf8').replace(/\r?\n[ \t]/g, ' ');
  const out: Array<[string, string]> = [];
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    out.push([line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim()]);
  }
  return out;
}

/**
 * Messages per account in the last hour: a sliding window of accept times, in memory
 * and shared by 587 and 465 (Postfix's anvil keeps such counters in memory too; a
 * restart forgives). In memory because a database commit per message would cost an
 * fsync on the event loop for a counter that needs no durability.
 */
class HourlyCounter {
  private readonly times = new Map<string, number[]>();
  count(account: string, now = Date.now()): number {
    const t = this.times.get(account);
    if (!t) return 0;
    while (t.length > 0 && t[0]! <= now - 3_600_000) t.shift();
    if (t.length === 0) this.times.delete(account);
    return t.length;
  }
  add(account: string, now = Date.now()): void {
    const t = this.times.get(account) ?? [];
    t.push(now);
    this.times.set(account, t);
  }
}
const counters = new WeakMap<ServerContext, HourlyCounter>();
function rateFor(ctx: ServerContext): HourlyCounter {
  let c = counters.get(ctx);
  if (!c) counters.set(ctx, (c = new HourlyCounter()));
  return c;
}

export async function startSubmission(ctx: ServerContext, opts: SubmissionOptions): Promise<Listener> {
  const { config } = ctx;
  const name = opts.implicitTls ? 'submissions' : 'submission';
  const maxRcpts = Math.min(config.submission.maxRecipientsPerMessage, config.limits.maxRecipients);

  return startSmtpListener<ConnState>(ctx, {
    name,
    port: opts.port,
    host: opts.host,
    extra: () => ({}),
    options: {
      banner: 'ESMTP submission ready',
      secure: Boolean(opts.implicitTls),
      authMethods: ['PLAIN', 'LOGIN'],
      // Decided per connection by authAllowed (src/smtp/server.ts); smtp-server's own check is server-wide.
      allowInsecureAuth: true,
      authOptional: false,
      authRequiredMessage: '5.7.0 Authentication required',
      hideSTARTTLS: Boolean(opts.implicitTls),
    },
    /** RFC 8314 §3 / RFC 4954 §4: credentials only over TLS (loopback exception by config). */
    authAllowed: (secure, ip) => loginAllowed(config, secure, ip),
    hooks: {
      async connect(session) {
        if (connectRefusal(ctx, session.remoteAddress, name)) throw SubmissionRejects.banned();
      },
      auth: (auth: SMTPServerAuthentication, session, conn) => login(ctx, name, auth, session, conn),
      mailFrom: (address: SMTPServerAddress, _session, conn) => checkSender(ctx, address, conn),
      rcptTo: (address: SMTPServerAddress, session, conn) => checkRecipient(ctx, maxRcpts, address, session, conn),
      data: (stream: SMTPServerDataStream, session, conn) => handleData(ctx, conn, stream, session),
    },
  });
}

/** AUTH: the server's one login flow decides (src/accounts/login.ts); authReply maps it. */
async function login(ctx: ServerContext, protocol: 'submission' | 'submissions', auth: SMTPServerAuthentication, session: SMTPServerSession, conn: Conn): Promise<{ user: string }> {
  let r: LoginResult;
  try {
    r = await authenticate(ctx, {
      protocol,
      remoteAddress: session.remoteAddress,
      secure: Boolean(session.secure),
      username: auth.username ?? '',
      password: auth.password ?? '',
      gone: () => conn.closed,
      log: conn.log,
    });
  } catch (err) {
    conn.log.error({ err }, 'login failed');
    throw SubmissionRejects.authUnavailable();
  }
  if (r.kind !== 'ok') throw authReply(r);
  conn.extra.account = r.account;
  conn.log = conn.log.child({ user: r.account.address });
  conn.log.info({ method: auth.method, result: 'ok' }, 'auth');
  return { user: r.account.address };
}

/** MAIL FROM on submission: authenticated, a sender the account owns, within its hourly limit. */
async function checkSender(ctx: ServerContext, address: SMTPServerAddress, conn: Conn): Promise<void> {
  const account = conn.extra.account;
  if (!account) throw SubmissionRejects.authRequired();
  // AUTH= (RFC 4954 §5) is a submission parameter: AUTH is offered here.
  const bad = checkMailParams(address, ['AUTH']);
  if (bad) throw bad;
  // RFC 6409 §4.3 / §6.1: the MSA may refuse senders the user is not entitled to.
  if (!address.address || !ownsAddress(ctx, account, address.address)) {
    conn.log.info({ from: address.address }, 'sender not owned');
    throw SubmissionRejects.senderNotOwned(address.address, account.address);
  }
  const max = ctx.config.submission.maxMessagesPerHour;
  if (rateFor(ctx).count(account.address) >= max) {
    conn.log.warn({ limit: max }, 'hourly sending limit reached');
    throw SubmissionRejects.hourlyLimit(max);
  }
}

/** RCPT TO on submission: authenticated, within the per-message limit, deliverable (local or queued), room in a local mailbox. */
async function checkRecipient(ctx: ServerContext, maxRcpts: number, address: SMTPServerAddress, session: SMTPServerSession, conn: Conn): Promise<void> {
  if (!conn.extra.account) throw SubmissionRejects.authRequired();
  if (session.envelope.rcptTo.length >= maxRcpts) throw SubmissionRejects.tooManyRecipients(maxRcpts);
  const bad = checkRcptParams(address, session);
  if (bad) throw bad;
  let addr: string;
  try {
    addr = envelopeRecipient(address.address);
  } catch (err) {
    if (err instanceof AddressError) throw Rejects.badAddress(address.address);
    throw err;
  }
  const r = resolveWithPostmaster(ctx.accounts, ctx.config, addr);
  // Our own domain but nobody there: say so now rather than bounce later.
  if (r.kind === 'unknownUser') throw Rejects.unknownUser(addr);
  if ((r.kind === 'notLocal' || (r.kind === 'deliver' && r.forward.length > 0)) && !ctx.queue) throw SubmissionRejects.queueUnavailable();
  // A full local mailbox: 452 4.2.2 / 552 5.2.2 now (src/smtp/quota.ts).
  const full = await rcptQuotaCheck(ctx, addr, announcedSize(session));
  if (full) throw full;
}

/** A login result other than ok as an SMTP reply (RFC 4954 §6, RFC 3207 §4). */
function authReply(r: Exclude<LoginResult, { kind: 'ok' }>): SmtpReject {
  switch (r.kind) {
    case 'failed':
      return SubmissionRejects.authFailed();
    case 'unavailable':
      return SubmissionRejects.authUnavailable();
    case 'tlsRequired':
      return SubmissionRejects.starttlsFirst();
    case 'banned':
    case 'gone': // nobody reads this one
      return SubmissionRejects.banned();
  }
}

/** Milliseconds per phase, in the delivery log line (where does a slow 250 come from). */
function phaseClock(started: number): { phases: Record<string, number>; phase(name: string): void } {
  const phases: Record<string, number> = { receive: Date.now() - started };
  let mark = Date.now();
  return {
    phases,
    phase(name: string) {
      const now = Date.now();
      phases[name] = now - mark;
      mark = now;
    },
  };
}

/**
 * The DATA phase of submission: receive; check the From header; complete the message
 * (RFC 6409 §8) and sign it (DKIM); write it once to an fsynced spool file; queue the
 * remote recipients and deliver to the local ones (dispatch); only then `250`.
 */
async function handleData(ctx: ServerContext, st: Conn, stream: SMTPServerDataStream, session: SMTPServerSession): Promise<string> {
  const started = Date.now();
  const sid = newQueueId();
  const tx = ++st.tx;
  const log = st.log.child({ tx, sid });
  const account = st.extra.account;
  if (!account) throw SubmissionRejects.authRequired();

  // Deadlines of the DATA phase (rate floor, total): src/smtp/guard.ts, by the listener.
  const msg: SpooledMessage = await receive(stream, spoolIo(ctx));
  const clock = phaseClock(started);
  let spoolFile: string | undefined;
  try {
    if (stream.sizeExceeded) {
      log.info({ size: stream.byteLength }, 'message too big; refused');
      return 'refused';
    }
    const mailFrom = session.envelope.mailFrom ? parseAddress(session.envelope.mailFrom.address).address : '';
    const rcpts = session.envelope.rcptTo.map((r) => envelopeRecipient(r.address));
    const fields = headerFields(await msg.header());
    const fromAddrs = checkFromHeader(ctx, account, fields, log);
    const { prefix, signDomain, messageId } = completion(ctx, session, { sid, mailFrom, rcpts, fields, fromAddrs });
    const signature = await dkimSignature(ctx, log, signDomain, prefix, msg);
    clock.phase('sign');
    const final = await writeFinal(spoolIo(ctx), signature + prefix, msg);
    spoolFile = final.path;
    clock.phase('write');
    const sent = await dispatch(ctx, session, log, { account, mailFrom, rcpts, messageId, final, phase: clock.phase });
    rateFor(ctx).add(account.address);
    log.info(
      {
        from: mailFrom,
        rcpts,
        local: sent.local,
        queued: sent.queued.length ? sent.queued : undefined,
        qid: sent.qid,
        dkim: signature ? signDomain : undefined,
        size: final.size,
        ms: Date.now() - started,
        phases: clock.phases,
        result: 'accepted',
      },
      'submitted',
    );
    return `Ok: queued as ${sent.qid !== undefined ? sent.qid : sid}`;
  } finally {
    await msg.dispose();
    if (spoolFile) await unlink(spoolFile).catch(() => undefined);
  }
}

/** The From header: every address in it must be the account's (RFC 5322 §3.6.2); returns them. */
function checkFromHeader(ctx: ServerContext, account: AccountRecord, fields: Array<[string, string]>, log: Logger): string[] {
  const fromValues = fields.filter(([k]) => k === 'from').map(([, v]) => v);
  const fromAddrs = fromValues.flatMap((v) => addressparser(v, { flatten: true }).map((a) => a.address)).filter(Boolean);
  for (const a of fromAddrs) {
    if (!ownsAddress(ctx, account, a)) {
      log.info({ from: a }, 'From header not owned');
      throw SubmissionRejects.fromNotOwned(a, account.address);
    }
  }
  if (fromValues.length > 0 && fromAddrs.length === 0) throw new SmtpReject(Reply.MailboxNameNotAllowed, '5.7.1', 'From: header has no usable address');
  return fromAddrs;
}

/**
 * RFC 6409 §8: what the MSA puts in front of the message: Received, and the From,
 * Message-ID and Date fields the client left out. Also the domain that signs (the
 * From address's, else the envelope sender's) and the Message-ID the queue records.
 */
function completion(
  ctx: ServerContext,
  session: SMTPServerSession,
  m: { sid: string; mailFrom: string; rcpts: string[]; fields: Array<[string, string]>; fromAddrs: string[] },
): { prefix: string; signDomain: string; messageId: string } {
  const has = (n: string) => m.fields.some(([k]) => k === n);
  const signDomain = parseAddress(m.fromAddrs[0] ?? m.mailFrom).domain;
  let added = '';
  if (!has('from')) added += `From: <${m.mailFrom}>\r\n`; // RFC 5322 §3.6: From is required; the envelope sender is the author
  let messageId = m.fields.find(([k]) => k === 'message-id')?.[1];
  if (!messageId) {
    messageId = `<${Date.now().toString(36)}.${randomHex(8)}@${signDomain}>`;
    added += `Message-ID: ${messageId}\r\n`; // RFC 6409 §8.3
  }
  if (!has('date')) added += `Date: ${rfc5322Date()}\r\n`; // RFC 6409 §8.2

  const tls = session.secure ? (session as unknown as { tlsOptions?: { name?: string; version?: string } }).tlsOptions : undefined;
  const received = receivedHeader({
    helo: session.hostNameAppearsAs || '',
    remoteAddress: session.remoteAddress,
    byHostname: ctx.config.hostname,
    protocol: protocolName({ tls: Boolean(session.secure), auth: true, utf8: Boolean((session.envelope as { utf8?: boolean }).utf8) }),
    id: m.sid,
    forRcpt: m.rcpts.length === 1 ? m.rcpts[0] : undefined,
    tls: tls ? { version: tls.version, cipher: tls.name } : undefined,
  });
  return { prefix: received + added, signDomain, messageId };
}

/** RFC 6376 §5: the DKIM-Signature field over what will be sent (our prefix + the message as received), or '' (sent unsigned). */
async function dkimSignature(ctx: ServerContext, log: Logger, domain: string, prefix: string, msg: SpooledMessage): Promise<string> {
  try {
    const signed = await signMessage(ctx.db, domain, Readable.from(concatStreams(Buffer.from(prefix), msg)));
    if (signed) return signed.header;
    log.warn({ domain }, 'no DKIM key for the sender domain; sending unsigned');
  } catch (err) {
    log.error({ domain, err: (err as Error).message }, 'DKIM signing failed; sending unsigned');
  }
  return '';
}

/**
 * Each recipient on its way, from the one spool file: remote ones and local aliases'
 * forwards queued (their DSN parameters with them, RFC 3461), local ones through their
 * Sieve scripts and the quota rules at end of DATA (src/smtp/quota.ts; a refusal only
 * when nothing was queued), then the success DSNs asked for.
 */
async function dispatch(
  ctx: ServerContext,
  session: SMTPServerSession,
  log: Logger,
  m: { account: AccountRecord; mailFrom: string; rcpts: string[]; messageId: string; final: { path: string; size: number }; phase(name: string): void },
): Promise<{ local: string[]; queued: string[]; qid?: number }> {
  const { mailFrom, final } = m;
  const remote: string[] = [];
  const localRcpts: string[] = [];
  for (const r of m.rcpts) (resolveWithPostmaster(ctx.accounts, ctx.config, r).kind === 'notLocal' ? remote : localRcpts).push(r);
  const { targets, forward } = resolveTargets(ctx, localRcpts);
  const toQueue = [...new Set([...remote, ...forward])];
  // RFC 3461: remote recipients keep their own NOTIFY/ORCPT, an alias's forwards get theirs from dsnPlan.
  const dsn = envelopeDsn(session);
  const params = recipientsDsn(session);
  const rcptDsn = new Map([...dsnPlan(ctx, localRcpts, params).forwardDsn, ...[...params].filter(([r]) => remote.includes(r))]);
  // Local recipients' Sieve scripts (src/sieve/deliver.ts); the submitter is authenticated.
  const sieve = await planSieveDelivery(ctx, { mailFrom, rcpts: localRcpts, targets, source: { path: final.path }, size: final.size, senderVerified: true, othersAccepted: toQueue.length > 0, authUser: m.account.address, log });
  let qid: number | undefined;
  if (toQueue.length > 0) {
    const queue = ctx.queue as QueueRunner | undefined;
    if (!queue) throw SubmissionRejects.queueUnavailable();
    if (typeof queue.add === 'function') qid = await queue.add({ mailFrom, rcpts: toQueue, file: final.path, account: m.account.address, headerMessageId: m.messageId, dsn, rcptDsn });
    else await queue.enqueue({ mailFrom, rcpts: toQueue, file: final.path, dsn, rcptDsn });
  }
  m.phase('queue');
  let overQuota: string[] = [];
  try {
    const stored = sieve.targets.length > 0 ? await deliverWithQuota(ctx, sieve.targets, { path: final.path }, { othersAccepted: toQueue.length > 0 || sieve.othersAccepted, log, size: final.size }) : undefined;
    overQuota = stored?.overQuota ?? [];
    await sieve.commit(stored?.delivered ?? []);
  } catch (err) {
    await sieve.abort();
    throw err;
  }
  await reportLocalSuccess(ctx, log, { mailFrom, rcpts: localRcpts, params, dsn, skipped: overQuota, original: { file: final.path } });
  m.phase('local');
  return { local: targets.map((t) => t.account), queued: toQueue, qid };
}

async function* concatStreams(head: Buffer, msg: SpooledMessage): AsyncGenerator<Buffer> {
  yield head;
  for await (const chunk of msg.open() as AsyncIterable<Buffer>) yield chunk;
}
