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
 *   (Junk or INBOX) and the X-Spam-* header block to prepend. It never throws: an
 *   internal error delivers unscored, with a log line.
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
import { decide, spamHeaders, type Decision } from './decide.js';
import { greylistCheck, greylistExpire } from './greylist.js';
import { inboundIdentities, readBounded, scan, type ScannedMessage } from './message.js';
import { identityKeys, judge, type Identities, type Reputation } from './reputation.js';
import { MailboxRoles } from './roles.js';
import { rspamdCheck, rspamdLearn, type RspamdResult } from './rspamd.js';
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
  readonly classifiers: Classifiers;
  readonly trainer: Trainer;
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
      const m = scan(bytes, truncated, this.o.config.hostname);
      // The sender's identities are read only for an account that has reputation rows to
      // look them up in, or for greylisting: never for accounts that were never trained.
      let id: Identities | undefined;
      const ids = (): Identities => (id ??= inboundIdentities(m.fields, input.authHeaders, this.o.config.hostname, input.remoteAddress));
      const rspamd = await this.askRspamd(m, input);
      const out = await this.decideAll(input, scored, settings, m, ids, rspamd);
      this.scans[m.depth]++;
      return out;
    } catch (err) {
      this.log.error({ err }, 'spam check failed; delivering unscored');
      return { accounts: new Map(), log: { spam: 'error' } };
    }
  }

  private async askRspamd(m: ScannedMessage, input: SpamCheckInput): Promise<RspamdResult | { error: string } | undefined> {
    const cfg = this.o.config.spam;
    if (!cfg.rspamdUrl) return undefined;
    if (m.truncated) return { error: 'message larger than max_scan_size' };
    try {
      return await rspamdCheck(
        cfg.rspamdUrl,
        m.bytes,
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

  private async decideAll(
    input: SpamCheckInput,
    scored: AccountId[],
    settings: Map<AccountId, EffectiveSpamSettings>,
    m: ScannedMessage,
    ids: () => Identities,
    rspamd: RspamdResult | { error: string } | undefined,
  ): Promise<SpamCheckResult> {
    const cfg = this.o.config.spam;
    const out: SpamCheckResult = { accounts: new Map(), log: {} };
    const decisions = new Map<AccountId, Decision>();
    const greylisted: AccountId[] = [];
    for (const account of scored) {
      const s = settings.get(account)!;
      const hasDb = this.classifiers.handle(account) !== undefined;
      const assessed = this.classifiers.assess(account, () => m.tokens, hasDb ? identityKeys(ids()) : [], cfg.minTrained);
      const reputation: Reputation = hasDb ? judge(assessed.reputation, ids()) : { clues: [] };
      const bayes = assessed.bayes;
      const d = decide({ gtube: m.gtube, bayes, reputation, rspamd, policyJunk: input.policyJunk }, s, cfg.minTrained);
      decisions.set(account, d);
      const vouched = reputation.known !== undefined || (reputation.clues.some((c) => c.name.startsWith('dkim ') && c.p < 0.5) && ids().dkim.length > 0);
      if (s.greylist && d.action !== 'reject' && !vouched) greylisted.push(account);
      const junk = d.action === 'inbox' ? undefined : ((await this.roles.junkName(account).catch(() => undefined)) ?? 'Junk');
      out.accounts.set(account, { mailbox: junk, headers: spamHeaders(d, s) });
    }
    out.log.spam = [...decisions].map(([a, d]) => (scored.length > 1 ? `${a}=` : '') + `${d.action} ${d.score.toFixed(3)}`).join(',');
    if (rspamd) out.log.rspamd = 'error' in rspamd ? 'unavailable' : `${rspamd.action} ${rspamd.score}`;
    const all = [...decisions.values()];
    // Refused only if every account would refuse it: one SMTP reply answers for all.
    if (scored.length === input.accounts.length && all.every((d) => d.action === 'reject')) {
      const top = all[0]!;
      out.refuse = { code: 550, enhanced: '5.7.1', text: `Message refused as spam (score ${top.score.toFixed(3)}): ${top.reasons[0] ?? 'content'}`.slice(0, 400) };
      return out;
    }
    if (greylisted.length > 0) {
      const ip = ids().ip ?? input.remoteAddress;
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
    this.classifiers.close();
  }
}
