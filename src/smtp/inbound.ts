/**
 * Port 25: mail from the internet (MX). smtp-server speaks the protocol; this module
 * decides who may send what to whom and hands accepted mail to local delivery.
 *
 * - No AUTH here (RFC 6409 puts it on submission); STARTTLS offered with the current
 *   certificate (hot-reloaded through the TLS holder).
 * - RCPT TO: recipients must be ours. A foreign domain, an IP literal, a source route
 *   or a percent-hack local part is relaying → `554 5.7.1`; an unknown user in one of
 *   our domains → `550 5.1.1` (RFC 5321 §3.6.2: never an open relay).
 * - SIZE advertised and enforced (`552 5.3.4`, RFC 1870), recipients per message
 *   bounded (`452 4.5.3`, RFC 5321 §4.5.3.1.10), connections per client IP bounded.
 * - DATA: the message is received (memory or temp file), checked (SPF/DKIM/DMARC
 *   policy, when configured), written with Return-Path, Received and the checks'
 *   headers to one fsynced spool file, hard-linked into every recipient's Maildir, and
 *   only then answered `250` ("accepted means durable"). Any failure before that is a
 *   `451` and leaves nothing in any mailbox. A client that vanishes mid-DATA destroys
 *   the stream; nothing is delivered.
 */
import type { SMTPServerAddress, SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import type { Readable } from 'node:stream';
import { AddressError, parseAddress } from '../accounts/address.js';
import type { Resolution } from '../accounts/types.js';
import type { Listener, ServerContext } from '../context.js';
import type { Logger } from '../log.js';
import { announcedSize, deliverWithQuota, rcptQuotaCheck } from './quota.js';
import { resolveTargets } from './deliver.js';
import { planSieveDelivery, type SieveDeliveryInput, type SieveDeliveryPlan } from '../sieve/deliver.js';
import { startSmtpListener, type SmtpConn } from './listener.js';
import { dsnPlan, reportLocalSuccess } from './dsn.js';
import { checkMailParams, checkRcptParams, envelopeDsn, recipientsDsn } from './params.js';
import { envelopeRecipient, isPostmaster, resolveWithPostmaster } from './postmaster.js';
import { Rejects, Reply, SmtpReject } from './reply.js';
import { finalData, receive, spoolIo, writeFinal, type SpooledMessage } from './spool.js';
import { junkMailboxName } from '../store/names.js';
import type { DeliveryResult, DeliveryTarget, MessageSource } from '../store/types.js';
import { spamGroups } from '../spam/groups.js';
import type { SpamCheckInput, SpamCheckResult } from '../spam/index.js';
import { newQueueId, protocolName, receivedHeader, returnPathHeader } from './trace.js';
import { unlink } from 'node:fs/promises';

/** What the inbound checks (SPF/DKIM/DMARC/DNSBL, src/smtp/policy.ts) return for a message. */
export interface InboundVerdict {
  action: 'accept' | 'junk' | 'reject' | 'tempfail';
  code?: number;
  enhanced?: string;
  text?: string;
  /** Header lines to prepend (Authentication-Results, Received-SPF, ARC-*), CRLF-terminated. */
  headers: string;
  /** Check results for the delivery log line. */
  log: Record<string, string>;
}

/** The checks port 25 runs; absent means "accept everything that passes recipient checks". */
export interface InboundChecks {
  checkConnection?(ctx: ServerContext, input: { remoteAddress: string }): Promise<{ reject?: { code: number; enhanced: string; text: string }; fcrdns?: string }>;
  checkInbound?(
    ctx: ServerContext,
    input: {
      remoteAddress: string;
      clientHostname?: string;
      helo: string;
      mailFrom: string;
      rcpts: string[];
      message: () => Readable;
      size: number;
      authenticated: boolean;
    },
  ): Promise<InboundVerdict>;
  /** Rewrites the received header block (drops forged Authentication-Results). */
  filterHeader?(ctx: ServerContext, header: Buffer): Buffer;
}

export interface InboundOptions {
  port: number;
  host?: string;
  checks?: InboundChecks;
}

interface ConnState {
  fcrdns?: string;
}
type Conn = SmtpConn<ConnState>;

export async function startInbound(ctx: ServerContext, opts: InboundOptions): Promise<Listener> {
  const { config } = ctx;
  return startSmtpListener<ConnState>(ctx, {
    name: 'smtp',
    port: opts.port,
    host: opts.host,
    extra: () => ({}),
    options: {
      banner: 'ESMTP ready',
      secure: false,
      disabledCommands: ['AUTH'],
      authOptional: true,
      hideSTARTTLS: false,
      maxRecipients: config.limits.maxRecipients,
    },
    hooks: {
      async connect(session, conn) {
        if (!opts.checks?.checkConnection) return;
        let r: Awaited<ReturnType<NonNullable<InboundChecks['checkConnection']>>>;
        try {
          r = await opts.checks.checkConnection(ctx, { remoteAddress: session.remoteAddress });
        } catch (err) {
          conn.log.error({ err }, 'connection check failed');
          return;
        }
        conn.extra.fcrdns = r.fcrdns;
        if (r.reject) throw new SmtpReject(r.reject.code, r.reject.enhanced, r.reject.text);
      },

      async mailFrom(address: SMTPServerAddress) {
        const bad = checkMailParams(address);
        if (bad) throw bad;
        if (address.address === '') return; // null sender (bounces), RFC 5321 §4.5.5
        try {
          parseAddress(address.address);
        } catch {
          throw new SmtpReject(Reply.MailboxNameNotAllowed, '5.1.7', `<${address.address}>: bad sender address syntax`);
        }
      },

      async rcptTo(address: SMTPServerAddress, session) {
        const bad = checkRcptParams(address, session);
        if (bad) throw bad;
        const { refused, resolution } = recipientVerdict(ctx, address.address);
        if (refused) throw refused;
        // Full mailboxes are refused here, after alias expansion (src/smtp/quota.ts),
        // with the resolution just made (one lookup per RCPT).
        const full = await rcptQuotaCheck(ctx, address.address, announcedSize(session), resolution);
        if (full) throw full;
      },

      data: (stream: SMTPServerDataStream, session, conn) => handleData(ctx, opts.checks, conn, stream, session),
    },
  });
}

/** RCPT TO policy: undefined to accept, an SmtpReject otherwise. */
export function checkRecipient(ctx: ServerContext, raw: string): SmtpReject | undefined {
  return recipientVerdict(ctx, raw).refused;
}

/** RCPT TO policy, with the recipient's resolution when it was looked up. */
function recipientVerdict(ctx: ServerContext, raw: string): { refused?: SmtpReject; resolution?: Resolution } {
  // RFC 5321 §4.5.1: postmaster, bare or at any local domain, is always taken.
  if (isPostmaster(raw) && (!raw.includes('@') || isLocalPostmaster(ctx, raw))) {
    const r = resolveWithPostmaster(ctx.accounts, ctx.config, raw);
    if (r.kind === 'deliver') return forwardable(ctx, r);
    // No mailbox on the whole server: nobody could read it.
    return { refused: new SmtpReject(Reply.MailboxUnavailable, '5.1.1', `<${raw}>: no mailbox for postmaster here yet`) };
  }
  const at = raw.lastIndexOf('@');
  const domainPart = at >= 0 ? raw.slice(at + 1) : '';
  // Address literals ("user@[192.0.2.1]") name a host, not a domain we serve.
  if (domainPart.startsWith('[')) return { refused: Rejects.relayDenied() };
  let addr: string;
  try {
    addr = parseAddress(raw).address;
  } catch (err) {
    if (err instanceof AddressError) {
      // "user%other@local", "a!b@local", source routes: relaying tricks, refused as such.
      if (/[%!]/.test(raw.slice(0, Math.max(0, at))) || raw.startsWith('@')) return { refused: Rejects.relayDenied() };
      return { refused: Rejects.badAddress(raw) };
    }
    throw err;
  }
  const r = ctx.accounts.resolveRecipient(addr);
  switch (r.kind) {
    case 'notLocal':
      return { refused: Rejects.relayDenied() };
    case 'unknownUser':
      return { refused: Rejects.unknownUser(addr) };
    case 'deliver':
      return forwardable(ctx, r);
  }
}

function isLocalPostmaster(ctx: ServerContext, raw: string): boolean {
  try {
    return ctx.accounts.isLocalDomain(parseAddress(raw).domain);
  } catch {
    return false;
  }
}

/** A resolution that forwards outside needs the queue. */
function forwardable(ctx: ServerContext, r: Resolution): { refused?: SmtpReject; resolution?: Resolution } {
  if (r.kind === 'deliver' && r.forward.length > 0 && !ctx.queue) {
    return { refused: new SmtpReject(Reply.LocalError, '4.3.0', 'Forwarding is not available right now, try again later') };
  }
  return { resolution: r };
}


/**
 * The DATA phase of port 25, in the order of "accepted means durable": receive, the
 * policy's verdict (refuse here or go on), the trace fields, the spam filter, the
 * message written once, delivery to every recipient (deliverAll), then the `250`.
 */
async function handleData(
  ctx: ServerContext,
  checks: InboundChecks | undefined,
  st: Conn,
  stream: SMTPServerDataStream,
  session: SMTPServerSession,
): Promise<string> {
  const started = Date.now();
  const qid = newQueueId();
  const tx = ++st.tx;
  const log = st.log.child({ tx, qid });

  // Deadlines of the DATA phase (rate floor, total): src/smtp/guard.ts, by the listener.
  const msg: SpooledMessage = await receive(stream, spoolIo(ctx));
  let spoolFile: string | undefined;
  try {
    if (stream.sizeExceeded) {
      // smtp-server answers 552 5.3.4 itself (rejectOversized); nothing is stored.
      log.info({ size: stream.byteLength }, 'message too big; refused');
      return 'refused';
    }
    const mailFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
    const rcpts = session.envelope.rcptTo.map((r) => envelopeRecipient(r.address));
    const helo = session.hostNameAppearsAs || '';
    const verdict = await policyVerdict(ctx, checks, log, { remoteAddress: session.remoteAddress, clientHostname: st.extra.fcrdns, helo, mailFrom, rcpts, msg });
    const received = traceField(ctx, session, st, qid, rcpts);

    const filter = checks?.filterHeader ? (h: Buffer) => checks.filterHeader!(ctx, h) : undefined;
    const { targets, forward, unknown } = resolveTargets(ctx, rcpts);
    if (verdict.action === 'junk') await toJunk(ctx, targets);
    // Spam score (src/spam/): after the policy, before Sieve and delivery; refuses, or
    // gives each account its X-Spam-* fields and its default mailbox (see spamCheck).
    const spam = await spamCheck(ctx, log, verdict, {
      remoteAddress: session.remoteAddress,
      clientHostname: st.extra.fcrdns,
      helo,
      mailFrom,
      rcpts,
      accounts: targets.map((t) => t.account),
      message: () => msg.open(),
      data: msg.data,
      size: msg.size,
      authHeaders: verdict.headers,
      policyJunk: verdict.action === 'junk' ? (verdict.log.junk ?? 'policy') : undefined,
      queueId: qid,
    });
    const groups = spamGroups(targets, spam);
    const prefixOf = (spamFields: string) => returnPathHeader(mailFrom) + verdict.headers + spamFields + received;
    const written = await writeMessage(ctx, prefixOf(groups[0]!.headers), msg, filter, forward.length > 0);
    spoolFile = written.spoolFile;
    const { sieve, overQuota } = await deliverAll(ctx, session, log, { mailFrom, rcpts, verdict, forward, groups, prefixOf, msg, filter, written });
    await reportLocalSuccess(ctx, log, { mailFrom, rcpts, params: recipientsDsn(session), dsn: envelopeDsn(session), skipped: overQuota, original: written.original });
    log.info(
      {
        from: mailFrom,
        rcpts,
        mailboxes: targets.map((t) => t.account),
        sieve: sieve.log,
        forward: forward.length ? forward : undefined,
        unknown: unknown.length ? unknown : undefined,
        overQuota: overQuota.length ? overQuota : undefined,
        folder: verdict.action === 'junk' ? 'Junk' : undefined,
        size: written.size,
        ms: Date.now() - started,
        result: 'delivered',
        ...verdict.log,
        ...spam?.log,
      },
      'delivered',
    );
    return `Ok: queued as ${qid}`;
  } finally {
    await msg.dispose();
    if (spoolFile) await unlink(spoolFile).catch(() => undefined);
  }
}

/**
 * The inbound checks' verdict on the received message (SPF/DKIM/DMARC, src/smtp/policy.ts;
 * accept when none are configured). A reject or tempfail is thrown here as its reply
 * (550 5.7.1 / 451 4.7.0 unless the check says otherwise), before anything is written.
 */
async function policyVerdict(
  ctx: ServerContext,
  checks: InboundChecks | undefined,
  log: Logger,
  input: { remoteAddress: string; clientHostname?: string; helo: string; mailFrom: string; rcpts: string[]; msg: SpooledMessage },
): Promise<InboundVerdict> {
  const { msg, ...who } = input;
  let verdict: InboundVerdict = { action: 'accept', headers: '', log: {} };
  if (checks?.checkInbound) {
    verdict = await checks.checkInbound(ctx, { ...who, message: () => msg.open(), size: msg.size, authenticated: false });
  }
  if (verdict.action === 'reject' || verdict.action === 'tempfail') {
    const code = verdict.code ?? (verdict.action === 'reject' ? 550 : 451);
    const enhanced = verdict.enhanced ?? (verdict.action === 'reject' ? '5.7.1' : '4.7.0');
    log.info({ from: who.mailFrom, rcpts: who.rcpts, size: msg.size, result: verdict.action, code, ...verdict.log }, 'message refused by policy');
    throw new SmtpReject(code, enhanced, verdict.text ?? 'Message refused by policy');
  }
  return verdict;
}

/** The Received field of this hop (RFC 5321 §4.4), with TLS details when there are some. */
/**
 * The inbound policy's "junk" (DMARC p=quarantine, a DNS blocklist): each account's own
 * Junk mailbox, found by its \Junk special use (RFC 6154) whatever the user renamed it
 * to; a missing non-INBOX mailbox would otherwise fall back to INBOX.
 */
async function toJunk(ctx: ServerContext, targets: DeliveryTarget[]): Promise<void> {
  for (const t of targets) t.mailbox = await junkMailboxName(ctx.store, t.account);
}

function traceField(ctx: ServerContext, session: SMTPServerSession, st: Conn, qid: string, rcpts: string[]): string {
  const tls = session.secure ? (session as unknown as { tlsOptions?: { name?: string; version?: string } }).tlsOptions : undefined;
  return receivedHeader({
    helo: session.hostNameAppearsAs || '',
    clientHostname: st.extra.fcrdns,
    remoteAddress: session.remoteAddress,
    byHostname: ctx.config.hostname,
    protocol: protocolName({ tls: Boolean(session.secure), auth: false, utf8: Boolean((session.envelope as { smtpUtf8?: boolean }).smtpUtf8) }),
    id: qid,
    forRcpt: rcpts.length === 1 ? rcpts[0] : undefined,
    tls: tls ? { version: tls.version, cipher: tls.name } : undefined,
  });
}

/** The message as stored: its source for the store, its size, and what a success DSN quotes. */
interface WrittenMessage {
  source: MessageSource;
  size: number;
  /** The spool file, when one was written (the caller removes it at the end). */
  spoolFile?: string;
  original: { file: string } | { data: Buffer };
}

/**
 * The final message (prefix + received message, header filtered) written once. Local
 * mailboxes only, message in memory: the store writes it itself, straight into the
 * mailbox (tmp/ → fsync → new/). A spool file is written only when the queue needs one
 * too (`forQueue`: an alias's forwards) or the message was spilled to disk.
 */
async function writeMessage(ctx: ServerContext, prefix: string, msg: SpooledMessage, filter: ((h: Buffer) => Buffer) | undefined, forQueue: boolean): Promise<WrittenMessage> {
  const data = forQueue ? undefined : await finalData(prefix, msg, filter);
  if (data) return { source: { data }, size: data.length, original: { data } };
  const final = await writeFinal(spoolIo(ctx), prefix, msg, filter);
  return { source: { path: final.path }, size: final.size, spoolFile: final.path, original: { file: final.path } };
}

/**
 * Delivery to every recipient, all or nothing. The recipients' Sieve scripts decide where
 * the message goes (src/sieve/deliver.ts); a reject by all of them refuses it here,
 * before anything is stored or held. Accounts whose spam fields differ get copies of
 * their own, each planned the same way (deliverCopy). An alias's remote targets are
 * queued first, held; then the local copies are stored; then the forward is released.
 * A failure at any step answers 451 with nothing left behind (the held forward is
 * discarded, copies already stored are taken back), so the sender's retry duplicates
 * nothing. (Between the release and the 250 lies the usual window of RFC 1047, as for
 * any acknowledged message.)
 */
async function deliverAll(
  ctx: ServerContext,
  session: SMTPServerSession,
  log: Logger,
  m: {
    mailFrom: string;
    rcpts: string[];
    verdict: InboundVerdict;
    forward: string[];
    groups: ReturnType<typeof spamGroups>;
    prefixOf: (spamFields: string) => string;
    msg: SpooledMessage;
    filter: ((h: Buffer) => Buffer) | undefined;
    written: WrittenMessage;
  },
): Promise<{ sieve: SieveDeliveryPlan; overQuota: string[] }> {
  const { groups, forward, written } = m;
  const sieveInput = { mailFrom: m.mailFrom, rcpts: m.rcpts, senderVerified: m.verdict.log.spf === 'pass', othersAccepted: forward.length > 0 || groups.length > 1, log };
  const sieve = await planSieveDelivery(ctx, { ...sieveInput, targets: groups[0]!.targets, source: written.source, size: written.size });
  let held: number | undefined;
  if (forward.length > 0) {
    // RFC 3461 parameters: carried by the forwards (dsnPlan), honoured for success reports.
    if (!ctx.queue || !written.spoolFile) throw new SmtpReject(Reply.LocalError, '4.3.0', 'Forwarding is not available right now, try again later');
    held = await ctx.queue.hold({ mailFrom: m.mailFrom, rcpts: forward, file: written.spoolFile, dsn: envelopeDsn(session), rcptDsn: dsnPlan(ctx, m.rcpts, recipientsDsn(session)).forwardDsn });
  }
  const plans = [sieve];
  const stored: DeliveryResult[] = [];
  try {
    // Quota rules at end of DATA (452/552 or delivery over quota): src/smtp/quota.ts.
    const first = await deliverWithQuota(ctx, sieve.targets, written.source, { othersAccepted: sieveInput.othersAccepted || sieve.othersAccepted, log, size: written.size });
    stored.push(...first.delivered);
    const overQuota = first.overQuota;
    for (const g of groups.slice(1)) overQuota.push(...(await deliverCopy(ctx, { ...sieveInput, targets: g.targets }, m.prefixOf(g.headers), m.msg, m.filter, plans, stored)));
    for (const p of plans) await p.commit(stored);
    if (held !== undefined) ctx.queue!.release(held);
    return { sieve, overQuota };
  } catch (err) {
    for (const p of plans) await p.abort();
    if (held !== undefined) await ctx.queue!.discard(held).catch((e: unknown) => log.error({ err: e, qid: held }, 'taking back a held forward failed'));
    if (groups.length > 1) await takeBack(ctx, stored, log);
    throw err;
  }
}

/**
 * The spam filter's one call (src/spam/index.ts). It refuses the whole message at end of
 * DATA (550 spam, 451 greylisting: thrown here, never a bounce after acceptance) or gives
 * each account its X-Spam-* fields and, for spam, Junk as the mailbox of its "keep". As
 * in a Dovecot + Rspamd setup, the user's Sieve script then runs on the message with
 * those fields: its fileinto decides, and Junk is where the implicit keep goes
 * (planSieveDelivery's keep mailbox, the same as for the policy's junk verdict).
 */
async function spamCheck(ctx: ServerContext, log: Logger, verdict: InboundVerdict, input: SpamCheckInput): Promise<SpamCheckResult | undefined> {
  const spam = await ctx.spam?.check(input);
  if (spam?.refuse) {
    log.info({ from: input.mailFrom, rcpts: input.rcpts, size: input.size, result: 'refused', code: spam.refuse.code, ...verdict.log, ...spam.log }, 'message refused by the spam filter');
    throw new SmtpReject(spam.refuse.code, spam.refuse.enhanced, spam.refuse.text);
  }
  return spam;
}

/**
 * A copy of its own, with its own Sieve plan, for accounts whose spam fields differ from
 * the first group's (spamGroups); its plan joins `plans` (committed or aborted with the
 * others) and what it stored joins `stored` (taken back if a later step fails).
 */
async function deliverCopy(
  ctx: ServerContext,
  input: Omit<SieveDeliveryInput, 'source' | 'size'>,
  prefix: string,
  msg: SpooledMessage,
  filter: ((h: Buffer) => Buffer) | undefined,
  plans: SieveDeliveryPlan[],
  stored: DeliveryResult[],
): Promise<string[]> {
  const data = await finalData(prefix, msg, filter);
  const file = data ? undefined : await writeFinal(spoolIo(ctx), prefix, msg, filter);
  try {
    const source: MessageSource = data ? { data } : { path: file!.path };
    const size = data?.length ?? file!.size;
    const plan = await planSieveDelivery(ctx, { ...input, source, size });
    plans.push(plan);
    const r = await deliverWithQuota(ctx, plan.targets, source, { othersAccepted: true, log: input.log, size });
    stored.push(...r.delivered);
    return r.overQuota;
  } finally {
    if (file) await unlink(file.path).catch(() => undefined);
  }
}

/** Removes copies stored before a later copy failed (the sender retries after our 451). */
async function takeBack(ctx: ServerContext, stored: DeliveryResult[], log: Logger): Promise<void> {
  for (const r of stored) {
    try {
      const mb = await ctx.store.getMailbox(r.account, r.mailbox);
      await ctx.store.expunge(r.account, mb.id, [r.uid]);
    } catch (err) {
      log.error({ err, account: r.account, uid: r.uid }, 'taking back a stored copy failed; the retry may duplicate it');
    }
  }
}
