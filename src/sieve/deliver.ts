/**
 * Sieve at delivery: the one call the SMTP delivery paths make (port 25, and the local
 * recipients of submission) to learn what to do with a message for its local accounts.
 *
 *   const plan = await planSieveDelivery(ctx, { targets, … });   // may throw SmtpReject
 *   try { delivered = store(plan.targets); await plan.commit(delivered); }
 *   catch (err) { await plan.abort(); throw err; }
 *
 * For every target account with an active script (and/or the admin's vacation setting,
 * run after it as Pigeonhole runs a sieve_after script), the script runs on the message
 * and its actions become: store targets with their IMAP flags (fileinto, keep, the
 * implicit keep; the policy's Junk folder is the "keep" of a message judged junk),
 * redirects (held in the queue before the store, released by commit, discarded by
 * abort: the same all-or-nothing as an alias's forwards), and after the store: vacation
 * replies and rejection notices. Accounts without a script are passed through untouched, at the cost of one
 * indexed query each.
 *
 * reject/ereject (RFC 5429 §2.1) at SMTP time, so we never create backscatter:
 * - every recipient's script rejects and nothing else takes the message (no alias
 *   forward, no remote recipient): the whole message is refused at end of DATA with
 *   `550 5.7.1 <reason>`, before the 250; the sender's MTA tells the sender.
 * - only some reject: SMTP has one reply for all recipients (LMTP could answer each,
 *   as Dovecot's LMTP does behind Postfix, which then bounces). We accept for the
 *   others and store nothing for the rejecting ones; the sender hears of the rejection
 *   by a DSN (RFC 3464, status 5.7.1) only when the envelope sender is verified (SPF
 *   pass on port 25, or an authenticated submitter), never to an address anyone could
 *   have forged. Otherwise the refusal is logged and nothing is sent.
 *
 * Script failures (errors, resource limits) keep the message (implicit keep, RFC 5228
 * §2.10.6) and are logged with the reason. A script that no longer compiles is logged
 * and treated as absent.
 */
import { unlink } from 'node:fs/promises';
import type { Statement } from 'better-sqlite3';
import type { ServerContext } from '../context.js';
import type { Logger } from '../log.js';
import { buildDsn } from '../queue/dsn.js';
import { Reply, SmtpReject } from '../smtp/reply.js';
import { headerEnd, MAX_HEADER_BYTES } from '../smtp/spool.js';
import { junkMailboxName } from '../store/names.js';
import { StoreError, type DeliveryResult, type DeliveryTarget, type MessageSource } from '../store/types.js';
import { compileSieve, runSieve, type CompiledScript } from './engine.js';
import { DEFAULT_RUN_LIMITS } from './interpreter.js';
import { MAX_BODY_BYTES, SieveMessage } from './message.js';
import { readHead, returnPathLength, sendGenerated, spoolFile } from './outbound.js';
import { executeOutcome, sameMailbox, type SieveOutcome, type VacationAction } from './result.js';
import { vacationScript } from './settings.js';
import { Srs } from './srs.js';
import { SieveStore } from './store.js';
import { buildVacationReply, vacationRefusal } from './vacation.js';

export interface SieveDeliveryInput {
  mailFrom: string;
  /** Envelope recipients, canonical, as accepted at RCPT TO. */
  rcpts: string[];
  /** The local targets resolveTargets made of them. */
  targets: DeliveryTarget[];
  source: MessageSource;
  size: number;
  /** The envelope sender is verified (SPF pass, or an authenticated submitter). */
  senderVerified: boolean;
  /** Something else takes the message too (alias forwards, remote recipients). */
  othersAccepted: boolean;
  /** The authenticated submitter, for envelope "auth". */
  authUser?: string;
  log: Logger;
}

export interface SieveDeliveryPlan {
  /** What to store, in place of the input's targets. */
  targets: DeliveryTarget[];
  /** Redirects hold the message in the queue: refusing it is no longer an option. */
  othersAccepted: boolean;
  /** After the store: held redirects released, replies and notices sent. */
  commit(delivered: DeliveryResult[]): Promise<void>;
  /** The store failed: held redirects are taken back. */
  abort(): Promise<void>;
  /** What the scripts did, for the delivery log line (undefined when none ran). */
  log?: Record<string, string>;
}

/** Received fields beyond this mean a loop (Postfix's hopcount_limit is 50). */
export const MAX_HOPS = 30;
/** Our marker on redirected mail (Pigeonhole's name): a redirect loop through us is seen. */
export const REDIRECT_MARKER = 'X-Sieve-Redirected-From';

interface State {
  compiled: Map<string, CompiledScript | null>;
  srs: Srs;
  /** The per-delivery lookup, prepared once. */
  lookup: Statement;
}
const states = new WeakMap<ServerContext, State>();
function stateOf(ctx: ServerContext): State {
  let s = states.get(ctx);
  if (!s) states.set(ctx, (s = { compiled: new Map(), srs: new Srs(ctx.db), lookup: ctx.db.prepare(LOOKUP) }));
  return s;
}

/** The SRS of this server (for the port 25 recipient check of bounces). */
export function srsOf(ctx: ServerContext): Srs {
  return stateOf(ctx).srs;
}

interface Scripts {
  account: string;
  user?: CompiledScript;
  vacation?: CompiledScript;
}

const LOOKUP = `SELECT s.id, s.updated_at AS updated, v.updated_at AS vupdated
  FROM accounts a
  LEFT JOIN sieve_scripts s ON s.account_id = a.id AND s.active = 1
  LEFT JOIN sieve_vacation v ON v.account_id = a.id AND v.enabled = 1
  WHERE a.address = ?`;

/** The account's compiled scripts (cached by id and change time); undefined when it has none. */
function scriptsOf(ctx: ServerContext, account: string, log: Logger): Scripts | undefined {
  const st = stateOf(ctx);
  const row = st.lookup.get(account) as { id: number | null; updated: number | null; vupdated: number | null } | undefined;
  if (!row || (row.id === null && row.vupdated === null)) return undefined;
  const cached = (key: string, text: () => string): CompiledScript | undefined => {
    let c = st.compiled.get(key);
    if (c === undefined) {
      try {
        c = compileSieve(text());
      } catch (err) {
        log.error({ account, err: (err as Error).message }, 'stored Sieve script does not compile; ignored');
        c = null;
      }
      if (st.compiled.size > 1000) st.compiled.clear();
      st.compiled.set(key, c);
    }
    return c ?? undefined;
  };
  const out: Scripts = { account };
  if (row.id !== null) out.user = cached(`${row.id}:${row.updated}`, () => ctx.db.prepare('SELECT content FROM sieve_scripts WHERE id = ?').pluck().get(row.id) as string);
  if (row.vupdated !== null) {
    out.vacation = cached(`vacation:${account}:${row.vupdated}`, () => {
      const v = ctx.db.prepare('SELECT v.subject, v.message, v.days FROM sieve_vacation v JOIN accounts a ON a.id = v.account_id WHERE a.address = ?').get(account) as { subject: string | null; message: string; days: number };
      return vacationScript({ enabled: true, subject: v.subject ?? undefined, message: v.message, days: v.days });
    });
  }
  return out.user || out.vacation ? out : undefined;
}

export async function planSieveDelivery(ctx: ServerContext, input: SieveDeliveryInput): Promise<SieveDeliveryPlan> {
  const accounts = [...new Set(input.targets.map((t) => t.account))];
  const runs = accounts.map((a) => scriptsOf(ctx, a, input.log)).filter((s): s is Scripts => s !== undefined);
  if (runs.length === 0) return { targets: input.targets, othersAccepted: false, commit: async () => undefined, abort: async () => undefined };
  const needsBody = runs.some((r) => r.user?.uses.has('body'));
  const { header, raw } = await readHead(input.source, needsBody ? MAX_BODY_BYTES : MAX_HEADER_BYTES);
  const message = new SieveMessage({ header: header.subarray(0, headerEnd(header)), size: input.size, raw: needsBody ? raw : undefined });
  const d = new Decisions(ctx, input, message);
  for (const r of runs) await d.run(r);
  return d.plan(accounts.filter((a) => !runs.some((r) => r.account === a)));
}

/** The recipient an account got the message through (envelope "to"). */
function envelopeTo(ctx: ServerContext, rcpts: string[], account: string): string {
  for (const r of rcpts) {
    const res = ctx.accounts.resolveRecipient(r);
    if (res.kind === 'deliver' && res.accounts.some((a) => a.address === account)) return r;
  }
  return account;
}

interface Redirect {
  account: string;
  to: string;
  held?: number;
}

/** The decisions of every script run for one message, and the plan made of them. */
class Decisions {
  readonly targets: DeliveryTarget[] = [];
  readonly creates: Array<{ account: string; mailbox: string }> = [];
  readonly redirects: Redirect[] = [];
  readonly rejects: Array<{ account: string; rcpt: string; reason: string }> = [];
  readonly vacations: Array<{ account: string; action: VacationAction }> = [];
  readonly log: Record<string, string> = {};

  constructor(
    private readonly ctx: ServerContext,
    private readonly input: SieveDeliveryInput,
    private readonly message: SieveMessage,
  ) {}

  async run(s: Scripts): Promise<void> {
    const { ctx, input } = this;
    const keepMailbox = input.targets.find((t) => t.account === s.account)?.mailbox ?? 'INBOX';
    const to = envelopeTo(ctx, input.rcpts, s.account);
    let mailboxes: Set<string> | undefined;
    // mailboxexists (RFC 5490) is answered from a list fetched before the run, only for scripts that test it.
    if (s.user?.uses.has('mailboxexists')) mailboxes = new Set((await ctx.store.listMailboxes(s.account)).map((m) => m.name));
    const env = {
      message: this.message,
      envelope: { from: input.mailFrom, to, auth: input.authUser },
      mailboxExists: (m: string) => mailboxes?.has(m) ?? false,
    };
    const limits = { ...DEFAULT_RUN_LIMITS, maxRedirects: ctx.config.sieve.maxRedirects };
    let out: SieveOutcome = s.user ? runSieve(s.user, env, limits) : { actions: [], implicitKeep: { mailbox: 'INBOX', flags: [] } };
    if (out.error) input.log.warn({ account: s.account, err: out.error }, 'Sieve script failed; message kept');
    // The admin's vacation runs after the user's script, unless that refused or dropped the message.
    const dropped = out.actions.some((a) => a.type === 'reject') || (!out.implicitKeep && !out.actions.some((a) => a.type === 'store' || a.type === 'redirect'));
    if (s.vacation && !dropped && !out.actions.some((a) => a.type === 'vacation')) {
      const v = runSieve(s.vacation, env, limits).actions.find((a): a is VacationAction => a.type === 'vacation');
      if (v) out = { ...out, actions: [...out.actions, v] };
    }
    const done: string[] = [];
    await executeOutcome(out, {
      store: (mailbox, flags, o) => {
        const mb = o.implicit || sameMailbox(mailbox, 'INBOX') ? keepMailbox : mailbox;
        this.store(s.account, mb, flags, o.create);
        done.push(o.implicit ? 'keep' : `fileinto ${mb}`);
      },
      redirect: (address, o) => {
        if (this.loops(s.account)) {
          input.log.warn({ account: s.account, to: address }, 'redirect loop detected; message kept instead');
          if (!o.copy) this.store(s.account, keepMailbox, [], false);
          done.push('redirect-loop-kept');
          return;
        }
        this.redirects.push({ account: s.account, to: address });
        done.push(`redirect ${address}`);
      },
      reject: (reason) => {
        this.rejects.push({ account: s.account, rcpt: to, reason });
        done.push('reject');
      },
      vacation: (action) => {
        this.vacations.push({ account: s.account, action });
        done.push('vacation');
      },
      discard: () => void done.push('discard'),
    });
    this.log[s.account] = out.error ? `error, kept: ${out.error}` : done.join(', ') || 'discard';
  }

  /** A copy to store, with its own flags (RFC 5232 :flags / the internal variable). */
  private store(account: string, mailbox: string, flags: string[], create: boolean): void {
    if (!this.targets.some((t) => t.account === account && sameMailbox(t.mailbox ?? 'INBOX', mailbox))) this.targets.push({ account, mailbox, flags: flags.length ? flags : undefined });
    if (create) this.creates.push({ account, mailbox });
  }

  /** Our marker naming this account, or too many hops: redirecting again would loop. */
  private loops(account: string): boolean {
    if (this.message.rawValues('received').length >= MAX_HOPS) return true;
    return this.message.rawValues(REDIRECT_MARKER).some((v) => v.trim().toLowerCase() === account);
  }

  async plan(untouched: string[]): Promise<SieveDeliveryPlan> {
    const { ctx, input } = this;
    for (const a of untouched) for (const t of input.targets) if (t.account === a) this.targets.push(t);
    // RFC 5429 §2.1.1: every recipient refuses and nothing else takes it → 550 before the 250.
    if (this.rejects.length > 0 && this.targets.length === 0 && this.redirects.length === 0 && untouched.length === 0 && !input.othersAccepted) {
      input.log.info({ sieve: this.log }, 'message rejected by the recipients\' Sieve scripts');
      throw new SmtpReject(Reply.MailboxUnavailable, '5.7.1', this.rejects[0]!.reason.replace(/[\r\n]+/g, ' ').trim() || 'Message rejected');
    }
    for (const c of this.creates) {
      await ctx.store.createMailbox(c.account, c.mailbox).catch((err: unknown) => {
        // Already there is fine; an invalid name falls back to INBOX in the store.
        if (!(err instanceof StoreError && err.kind === 'exists')) input.log.warn({ account: c.account, mailbox: c.mailbox, err: (err as Error).message }, 'fileinto :create failed');
      });
    }
    try {
      for (const r of this.redirects) r.held = await this.hold(r);
    } catch (err) {
      await this.abort();
      throw err;
    }
    return {
      targets: this.targets,
      othersAccepted: this.redirects.length > 0,
      commit: () => this.commit(),
      abort: () => this.abort(),
      log: this.log,
    };
  }

  /** Queues a redirected copy, held: SRS sender, our marker, no Return-Path. */
  private async hold(r: Redirect): Promise<number> {
    const { ctx, input } = this;
    if (!ctx.queue) throw new SmtpReject(Reply.LocalError, '4.3.0', 'Forwarding is not available right now, try again later');
    const domain = r.account.slice(r.account.lastIndexOf('@') + 1);
    const skip = returnPathLength(this.message.header);
    const file = await spoolFile(ctx.config.dataRoot, Buffer.from(`${REDIRECT_MARKER}: ${r.account}\r\n`), input.source, skip);
    try {
      return await ctx.queue.hold({ mailFrom: stateOf(ctx).srs.forward(input.mailFrom, domain), rcpts: [r.to], file });
    } finally {
      await unlink(file).catch(() => undefined);
    }
  }

  private async abort(): Promise<void> {
    for (const r of this.redirects) {
      if (r.held === undefined) continue;
      const id = r.held;
      r.held = undefined;
      await this.ctx.queue?.discard(id).catch((err: unknown) => this.input.log.error({ err, qid: id }, 'taking back a held redirect failed'));
    }
  }

  private async commit(): Promise<void> {
    const { ctx, input } = this;
    for (const r of this.redirects) if (r.held !== undefined) ctx.queue!.release(r.held);
    for (const v of this.vacations) await this.vacation(v.account, v.action).catch((err: unknown) => input.log.error({ err, account: v.account }, 'vacation reply failed'));
    // Recipients that rejected got nothing stored; the others did (the mixed case).
    if (this.rejects.length > 0) await this.notifyRejection(this.rejects).catch((err: unknown) => input.log.error({ err }, 'rejection notice failed'));
  }

  private async vacation(account: string, action: VacationAction): Promise<void> {
    const { ctx, input } = this;
    const rec = ctx.accounts.getAccount(account);
    const owned = rec ? ctx.accounts.ownedAddresses(rec).addresses : new Set<string>();
    const mine = [account, ...owned, ...action.addresses];
    // Filed to the account's Junk mailbox (by the spam filter or the inbound policy), by
    // its \Junk special use (RFC 6154), whatever the user renamed it to.
    const junkName = await junkMailboxName(ctx.store, account);
    const junk = input.targets.some((t) => t.account === account && t.mailbox === junkName);
    const why = vacationRefusal({ message: this.message, envelopeFrom: input.mailFrom, myAddresses: mine, junk });
    if (why) {
      input.log.info({ account, to: input.mailFrom, reason: why }, 'no vacation reply');
      return;
    }
    if (!new SieveStore(ctx.db).claimVacationReply(account, action.handle, input.mailFrom, action.seconds * 1000)) {
      input.log.info({ account, to: input.mailFrom }, 'no vacation reply: already answered this sender within the period');
      return;
    }
    const domain = account.slice(account.lastIndexOf('@') + 1);
    const data = buildVacationReply({ action, original: this.message, recipient: account, to: input.mailFrom, domain });
    await sendGenerated(ctx, { to: input.mailFrom, data, signDomain: domain, log: input.log });
    input.log.info({ account, to: input.mailFrom }, 'vacation reply sent');
  }

  /** A DSN for the recipients that rejected, only to a verified sender (see the module note). */
  private async notifyRejection(rejects: Array<{ account: string; rcpt: string; reason: string }>): Promise<void> {
    const { ctx, input } = this;
    if (!input.senderVerified || input.mailFrom === '') {
      input.log.info({ rejected: rejects.map((r) => r.rcpt), from: input.mailFrom }, 'Sieve rejection not reported: the sender is not verified (no backscatter)');
      return;
    }
    const dsn = buildDsn({
      reportingMta: ctx.config.hostname,
      to: input.mailFrom,
      arrivalDate: new Date(),
      recipients: rejects.map((r) => ({ rcpt: r.rcpt, action: 'failed' as const, status: '5.7.1', diagnostic: `550 5.7.1 ${r.reason.replace(/[\r\n]+/g, ' ')}`, fromRemote: false })),
      originalHeaders: this.message.header,
      reason: 'failed',
    });
    await sendGenerated(ctx, { to: input.mailFrom, data: dsn, signDomain: ctx.config.hostname, log: input.log });
    input.log.info({ rejected: rejects.map((r) => r.rcpt), to: input.mailFrom }, 'Sieve rejection reported to the sender');
  }
}
