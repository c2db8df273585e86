/**
 * Spam filtering that learns from the user (docs/spam.md): the service the server starts
 * once. Two halves:
 *
 * - check(): the port 25 hook, called once per message after the inbound policy
 *   (SPF/DKIM/DMARC) and before delivery (and before Sieve: policy → spam score → sieve →
 *   deliver). For each local account the message goes to, it scores the message with that
 *   account's classifier and the sender's reputation (plus GTUBE and, when configured,
 *   Rspamd, asked once per message), and answers: refuse the whole message (550 when
 *   every account would refuse it; 451 for greylisting), or per account the mailbox
 *   (Junk or INBOX) and the X-Spam-* header block to prepend. The scoring itself
 *   (./score.ts) runs in a thread of its own (./score-thread.ts). It never throws: an
 *   internal error, or a scoring thread that does not answer in time, delivers
 *   unscored, with a log line.
 * - the trainer (./train.ts) on the store's change bus, and an hourly sweep.
 *
 * Authenticated submission never reaches check(): only port 25 calls it.
 */
import type { Readable } from 'node:stream';
import type { Config } from '../config/index.js';
import type { Db } from '../db/index.js';
import type { Logger } from '../log.js';
import type { AccountId, MailStore } from '../store/types.js';
import { Classifiers } from './classifier.js';
import type { Verdict } from './db.js';
import { greylistCheck, greylistExpire } from './greylist.js';
import { readBounded } from './message.js';
import { MailboxRoles } from './roles.js';
import { rspamdCheck, rspamdLearn, type RspamdResult } from './rspamd.js';
import type { ScoreRequest, ScoreResult } from './score.js';
import { ScoreThread, ScoreTimeout } from './score-thread.js';
import { getSpamSettings, type EffectiveSpamSettings } from './settings.js';
import { Trainer } from './train.js';

// For the admin's /account page: an account's thresholds, and what its filter learned.
export { getSpamSettings, setSpamSettings, type SpamSettings, type EffectiveSpamSettings, type SpamSettingsPatch } from './settings.js';
export { accountStatus, type AccountSpamStatus } from './status.js';

export interface SpamCheckInput {
  remoteAddress: string;
  /** The client's FCrDNS name, if any. */
  clientHostname?: string;
  helo: string;
  mailFrom: string;
  /** Envelope recipients (for Rspamd and greylisting). */
  rcpts: string[];
  /** The local accounts the message is for (after alias expansion). */
  accounts: AccountId[];
  message: () => Readable;
  /** The message, when it is in memory: read without a stream (its async iteration and end-of-stream listeners cost ~0.05 ms a message). */
  data?: Buffer;
  size: number;
  /** The inbound policy's trace fields (Authentication-Results …), as prepended. */
  authHeaders: string;
  /** The inbound policy files the message to Junk anyway (its reason). */
  policyJunk?: string;
  queueId?: string;
}

export interface SpamCheckResult {
  /** Refuse the whole message at end of DATA (never after acceptance: no backscatter). */
  refuse?: { code: number; enhanced: string; text: string };
  /** Per account: the mailbox to deliver to (Junk's name, or undefined for INBOX) and the header block to prepend. */
  accounts: Map<AccountId, { mailbox?: string; headers: string }>;
  /** Fields for the delivery log line. */
  log: Record<string, string>;
}

const SWEEP_MS = 3600_000;
/** How often "Rspamd is down" is logged at most. */
const RSPAMD_LOG_MS = 60_000;

export interface SpamServiceOptions {
  config: Config;
  log: Logger;
  db: Db;
  store: MailStore;
}

export class SpamService {
  /** The trainer's classifiers (port 25 scores in the thread, with its own). */
  readonly classifiers: Classifiers;
  readonly trainer: Trainer;
  /** Where port 25's messages are scored (./score-thread.ts). */
  readonly thread: ScoreThread;
  private readonly roles: MailboxRoles;
  private readonly log: Logger;
  private readonly off: () => void;
  private readonly timer: NodeJS.Timeout;
  private rspamdLoggedAt = 0;
  /** How far port 25 read the messages it scored (tests): untrained classifiers need no tokens. */
  readonly scans = { header: 0, decoded: 0, tokenised: 0 };

  constructor(private readonly o: SpamServiceOptions) {
    this.log = o.log.child({ component: 'spam' });
    this.classifiers = new Classifiers(o.config.dataRoot, this.log);
    this.thread = new ScoreThread(o.config.dataRoot, () => o.config.spam.scoreTimeoutMs, this.log);
    this.classifiers.onUpdate = (account) => this.thread.changed(account);
    this.roles = new MailboxRoles(o.store);
    this.trainer = new Trainer({
      store: o.store,
      classifiers: this.classifiers,
      roles: this.roles,
      config: o.config,
      log: this.log,
      learn: (bytes, verdict) => this.learnRspamd(bytes, verdict),
    });
    this.off = o.store.changes.subscribeAll((c) => this.trainer.onChange(c));
    this.timer = setInterval(() => void this.sweep(), SWEEP_MS);
    this.timer.unref();
  }

  /** The hourly work: kept-in-INBOX ham, greylist expiry. */
  async sweep(now = Date.now()): Promise<void> {
    try {
      await this.trainer.sweep(now);
      greylistExpire(this.o.db, this.o.config.spam.greylistExpireDays, now);
    } catch (err) {
      this.log.warn({ err }, 'spam sweep failed');
    }
  }

  async check(input: SpamCheckInput): Promise<SpamCheckResult> {
    const none: SpamCheckResult = { accounts: new Map(), log: {} };
    const cfg = this.o.config.spam;
    if (!cfg.enabled || input.accounts.length === 0) return none;
    try {
      const settings = new Map(input.accounts.map((a) => [a, getSpamSettings(this.o.db, this.o.config, a)]));
      const scored = input.accounts.filter((a) => settings.get(a)!.enabled);
      if (scored.length === 0) return none;
      const { bytes, truncated } = input.data
        ? { bytes: input.data.subarray(0, cfg.maxScanSize), truncated: input.data.length > cfg.maxScanSize }
        : await readBounded(input.message(), cfg.maxScanSize);
      const rspamd = await this.askRspamd(bytes, truncated, input);
      const req: ScoreRequest = {
        bytes,
        truncated,
        hostname: this.o.config.hostname,
        remoteAddress: input.remoteAddress,
        authHeaders: input.authHeaders,
        policyJunk: input.policyJunk,
        minTrained: cfg.minTrained,
        rspamd,
        accounts: scored.map((account) => ({ account, settings: settings.get(account)! })),
      };
      let res: ScoreResult;
      try {
        res = await this.thread.score(req);
      } catch (err) {
        // A stuck or failed scoring thread never holds a delivery (./score-thread.ts).
        this.log.error({ err: (err as Error).message }, 'spam scoring failed; delivering unscored');
        return { accounts: new Map(), log: { spam: err instanceof ScoreTimeout ? 'timeout' : 'error' } };
      }
      this.scans[res.depth]++;
      return await this.decideAll(input, res, rspamd, settings);
    } catch (err) {
      this.log.error({ err }, 'spam check failed; delivering unscored');
      return { accounts: new Map(), log: { spam: 'error' } };
    }
  }

  private async askRspamd(bytes: Buffer, truncated: boolean, input: SpamCheckInput): Promise<RspamdResult | { error: string } | undefined> {
    const cfg = this.o.config.spam;
    if (!cfg.rspamdUrl) return undefined;
    if (truncated) return { error: 'message larger than max_scan_size' };
    try {
      return await rspamdCheck(
        cfg.rspamdUrl,
        bytes,
        { ip: input.remoteAddress, helo: input.helo, from: input.mailFrom, rcpts: input.rcpts, hostname: input.clientHostname, queueId: input.queueId },
        cfg.rspamdTimeoutMs,
      );
    } catch (err) {
      const now = Date.now();
      if (now - this.rspamdLoggedAt > RSPAMD_LOG_MS) {
        this.rspamdLoggedAt = now;
        this.log.warn({ err: (err as Error).message, url: cfg.rspamdUrl }, 'Rspamd unavailable; scoring with the built-in classifier');
      }
      return { error: (err as Error).message };
    }
  }

  /**
   * From the scoring thread's verdicts to the check's answer: each account's mailbox and
   * fields, or the whole message refused (550 when every account would refuse it, 451
   * when greylisted).
   */
  private async decideAll(
    input: SpamCheckInput,
    res: ScoreResult,
    rspamd: RspamdResult | { error: string } | undefined,
    settings: Map<AccountId, EffectiveSpamSettings>,
  ): Promise<SpamCheckResult> {
    const cfg = this.o.config.spam;
    const out: SpamCheckResult = { accounts: new Map(), log: {} };
    const greylisted: AccountId[] = [];
    for (const a of res.accounts) {
      const account = a.account as AccountId;
      if (a.action !== 'reject' && !a.vouched && settings.get(account)!.greylist) greylisted.push(account);
      const junk = a.action === 'inbox' ? undefined : ((await this.roles.junkName(account).catch(() => undefined)) ?? 'Junk');
      out.accounts.set(account, { mailbox: junk, headers: a.headers });
    }
    const many = res.accounts.length > 1;
    out.log.spam = res.accounts.map((a) => (many ? `${a.account}=` : '') + `${a.action} ${a.score.toFixed(3)}`).join(',');
    if (rspamd) out.log.rspamd = 'error' in rspamd ? 'unavailable' : `${rspamd.action} ${rspamd.score}`;
    // Refused only if every account would refuse it: one SMTP reply answers for all.
    if (res.accounts.length === input.accounts.length && res.accounts.every((a) => a.action === 'reject')) {
      const top = res.accounts[0]!;
      out.refuse = { code: 550, enhanced: '5.7.1', text: `Message refused as spam (score ${top.score.toFixed(3)}): ${top.reason ?? 'content'}`.slice(0, 400) };
      return out;
    }
    if (greylisted.length > 0) {
      const ip = res.ip ?? input.remoteAddress;
      const sender = input.mailFrom.toLowerCase();
      const triplets = input.rcpts.map((rcpt) => ({ ip, sender, rcpt: rcpt.toLowerCase() }));
      const g = greylistCheck(this.o.db, triplets, cfg.greylistDelaySeconds);
      if (!g.pass) {
        out.log.greylist = `wait ${g.wait}s`;
        // RFC 6647 §2.1: a temporary failure; 4.7.1 as Postfix's postgrey setups answer.
        out.refuse = { code: 451, enhanced: '4.7.1', text: `Greylisted, please try again in ${g.wait} seconds` };
      }
    }
    return out;
  }

  private learnRspamd(bytes: Buffer, verdict: Verdict): void {
    const cfg = this.o.config.spam;
    if (!cfg.rspamdControllerUrl) return;
    rspamdLearn(cfg.rspamdControllerUrl, cfg.rspamdPassword, bytes, verdict, cfg.rspamdTimeoutMs).then(
      (r) => {
        if (!r.learned) this.log.info({ verdict, answer: r.text }, 'Rspamd did not learn the message');
      },
      (err: unknown) => this.log.warn({ err: (err as Error).message, verdict }, 'Rspamd learning failed'),
    );
  }

  /** Waits for queued training (tests, shutdown). */
  idle(): Promise<void> {
    return this.trainer.idle();
  }

  async close(): Promise<void> {
    this.off();
    clearInterval(this.timer);
    await this.trainer.stop();
    await this.thread.stop();
    this.classifiers.close();
  }
}
