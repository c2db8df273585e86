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
import { randomBytes } from 'node:crypto';
import type { SMTPServerAddress, SMTPServerAuthentication, SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import addressparser from 'nodemailer/lib/addressparser/index.js';
import { AddressError, parseAddress } from '../accounts/address.js';
import type { AccountRecord } from '../accounts/types.js';
import type { Listener, ServerContext } from '../context.js';
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
  /** RFC 8314 §3 / RFC 4954 §4: credentials only over TLS (loopback exception by config). */
  const authAllowed = (secure: boolean, ip: string) => loginAllowed(config, secure, ip);

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
    authAllowed,
    hooks: {
      async connect(session) {
        if (connectRefusal(ctx, session.remoteAddress, name)) throw SubmissionRejects.banned();
      },

      async auth(auth: SMTPServerAuthentication, session, conn) {
        // The server's one login flow decides (src/accounts/login.ts); authReply maps it.
        let r: LoginResult;
        try {
          r = await authenticate(ctx, {
            protocol: name,
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
      },

      async mailFrom(address: SMTPServerAddress, _session, conn) {
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
        const max = config.submission.maxMessagesPerHour;
        if (rateFor(ctx).count(account.address) >= max) {
          conn.log.warn({ limit: max }, 'hourly sending limit reached');
          throw SubmissionRejects.hourlyLimit(max);
        }
      },

      async rcptTo(address: SMTPServerAddress, session, conn) {
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
      },

      data: (stream: SMTPServerDataStream, session, conn) => handleData(ctx, conn, stream, session),
    },
  });
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

async function handleData(ctx: ServerContext, st: Conn, stream: SMTPServerDataStream, session: SMTPServerSession): Promise<string> {
  const started = Date.now();
  const sid = newQueueId();
  const tx = ++st.tx;
  const log = st.log.child({ tx, sid });
  const account = st.extra.account;
  if (!account) throw new SmtpReject(Reply.AuthRequired, '5.7.0', 'Authentication required');

  // Deadlines of the DATA phase (rate floor, total): src/smtp/guard.ts, by the listener.
  const msg: SpooledMessage = await receive(stream, spoolIo(ctx));
  // Milliseconds per phase, in the delivery log line (where does a slow 250 come from).
  const phases: Record<string, number> = { receive: Date.now() - started };
  let mark = Date.now();
  const phase = (name: string) => {
    const now = Date.now();
    phases[name] = now - mark;
    mark = now;
  };
  let spoolFile: string | undefined;
  try {
    if (stream.sizeExceeded) {
      log.info({ size: stream.byteLength }, 'message too big; refused');
      return 'refused';
    }
    const mailFrom = session.envelope.mailFrom ? parseAddress(session.envelope.mailFrom.address).address : '';
    const rcpts = session.envelope.rcptTo.map((r) => envelopeRecipient(r.address));

    const fields = headerFields(await msg.header());
    const get = (n: string) => fields.filter(([k]) => k === n).map(([, v]) => v);
    // The From header: every address in it must be the account's (RFC 5322 §3.6.2).
    const fromValues = get('from');
    const fromAddrs = fromValues.flatMap((v) => addressparser(v, { flatten: true }).map((a) => a.address)).filter(Boolean);
    for (const a of fromAddrs) {
      if (!ownsAddress(ctx, account, a)) {
        log.info({ from: a }, 'From header not owned');
        throw SubmissionRejects.fromNotOwned(a, account.address);
      }
    }
    if (fromValues.length > 0 && fromAddrs.length === 0) throw new SmtpReject(Reply.MailboxNameNotAllowed, '5.7.1', 'From: header has no usable address');

    // RFC 6409 §8: the MSA completes the message.
    const signDomain = parseAddress(fromAddrs[0] ?? mailFrom).domain;
    let added = '';
    if (fromValues.length === 0) added += `From: <${mailFrom}>\r\n`; // RFC 5322 §3.6: From is required; the envelope sender is the author
    let messageId = get('message-id')[0];
    if (!messageId) {
      messageId = `<${Date.now().toString(36)}.${randomBytes(8).toString('hex')}@${signDomain}>`;
      added += `Message-ID: ${messageId}\r\n`; // RFC 6409 §8.3
    }
    if (get('date').length === 0) added += `Date: ${rfc5322Date()}\r\n`; // RFC 6409 §8.2

    const tls = session.secure ? (session as unknown as { tlsOptions?: { name?: string; version?: string } }).tlsOptions : undefined;
    const received = receivedHeader({
      helo: session.hostNameAppearsAs || '',
      remoteAddress: session.remoteAddress,
      byHostname: ctx.config.hostname,
      protocol: protocolName({ tls: Boolean(session.secure), auth: true, utf8: Boolean((session.envelope as { utf8?: boolean }).utf8) }),
      id: sid,
      forRcpt: rcpts.length === 1 ? rcpts[0] : undefined,
      tls: tls ? { version: tls.version, cipher: tls.name } : undefined,
    });
    const prefix = received + added;

    // RFC 6376 §5: sign what will be sent: our prefix + the message as received.
    let signature = '';
    try {
      const signed = await signMessage(ctx.db, signDomain, Readable.from(concatStreams(Buffer.from(prefix), msg)));
      if (signed) signature = signed.header;
      else log.warn({ domain: signDomain }, 'no DKIM key for the sender domain; sending unsigned');
    } catch (err) {
      log.error({ domain: signDomain, err: (err as Error).message }, 'DKIM signing failed; sending unsigned');
    }

    phase('sign');
    const final = await writeFinal(spoolIo(ctx), signature + prefix, msg);
    spoolFile = final.path;
    phase('write');

    const remote: string[] = [];
    const localRcpts: string[] = [];
    for (const r of rcpts) (resolveWithPostmaster(ctx.accounts, ctx.config, r).kind === 'notLocal' ? remote : localRcpts).push(r);
    const { targets, forward } = resolveTargets(ctx, localRcpts);
    const toQueue = [...new Set([...remote, ...forward])];
    // RFC 3461: remote recipients keep their own NOTIFY/ORCPT, an alias's forwards get theirs from dsnPlan.
    const dsn = envelopeDsn(session);
    const params = recipientsDsn(session);
    const rcptDsn = new Map([...dsnPlan(ctx, localRcpts, params).forwardDsn, ...[...params].filter(([r]) => remote.includes(r))]);
    // Local recipients' Sieve scripts (src/sieve/deliver.ts); the submitter is authenticated.
    const sieve = await planSieveDelivery(ctx, { mailFrom, rcpts: localRcpts, targets, source: { path: final.path }, size: final.size, senderVerified: true, othersAccepted: toQueue.length > 0, authUser: account.address, log });
    let qid: number | undefined;
    if (toQueue.length > 0) {
      const queue = ctx.queue as QueueRunner | undefined;
      if (!queue) throw SubmissionRejects.queueUnavailable();
      if (typeof queue.add === 'function') qid = await queue.add({ mailFrom, rcpts: toQueue, file: final.path, account: account.address, headerMessageId: messageId, dsn, rcptDsn });
      else await queue.enqueue({ mailFrom, rcpts: toQueue, file: final.path, dsn, rcptDsn });
    }
    phase('queue');
    // Quota rules at end of DATA (src/smtp/quota.ts); a refusal only when nothing was queued.
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
    phase('local');
    rateFor(ctx).add(account.address);
    log.info(
      {
        from: mailFrom,
        rcpts,
        local: targets.map((t) => t.account),
        queued: toQueue.length ? toQueue : undefined,
        qid,
        dkim: signature ? signDomain : undefined,
        size: final.size,
        ms: Date.now() - started,
        phases,
        result: 'accepted',
      },
      'submitted',
    );
    return `Ok: queued as ${qid !== undefined ? qid : sid}`;
  } finally {
    await msg.dispose();
    if (spoolFile) await unlink(spoolFile).catch(() => undefined);
  }
}

async function* concatStreams(head: Buffer, msg: SpooledMessage): AsyncGenerator<Buffer> {
  yield head;
  for await (const chunk of msg.open() as AsyncIterable<Buffer>) yield chunk;
}
