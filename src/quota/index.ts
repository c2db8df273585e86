/**
 * Mailbox quotas: per-account storage (bytes) and message-count limits, and a per-domain
 * storage limit over all accounts of the domain (RFC 9208 resources STORAGE and
 * MESSAGE). The limits live in the accounts table (quota_bytes, quota_messages) and the
 * domains table (quota_bytes), set with the CLI; usage is the store's (its index keeps
 * exact byte and message counters, maintained by triggers on every insert and delete,
 * so arrivals, copies, moves, expunges and `reindex` keep it exact).
 *
 * What this module adds on top of the store:
 * - `quotaOf(account)`: the synchronous limit the store enforces on append, copy and
 *   deliver (StoreError('overQuota') → IMAP `NO [OVERQUOTA]`, RFC 9208 §5.2). A domain
 *   quota becomes an account byte limit of "domain quota minus what the other accounts
 *   of the domain use", from a usage cache of the domain's accounts (kept fresh by the
 *   store's change bus; a change not yet seen can let a domain overshoot by at most
 *   the messages in flight).
 * - `fit(account, size)`: whether a message fits, within the grace, or not, for the SMTP
 *   rules of port 25 and submission (src/smtp/quota.ts decides and replies; quota never
 *   speaks SMTP).
 * - The warning message: when usage reaches `quota.warn_percent` of an account's own
 *   quota (bytes or messages), one message from MAILER-DAEMON@<hostname> is delivered to
 *   its INBOX; the fact is kept in SQLite (quota_warnings) so it is sent once per
 *   crossing, across restarts, and again only after usage fell below the threshold.
 *   The warning itself is delivered without quota enforcement (Dovecot's advice for
 *   quota-warning scripts: `quota=noenforcing`), so it reaches a nearly full mailbox:
 *   said in that one delivery call (`unenforced`), not by switching enforcement off.
 *
 * Accounts are tracked (usage cached, change bus subscribed) once they have a quota of
 * their own or belong to a domain with one; the CLI runs in another process, so a quota
 * set later is noticed at the account's next delivery or IMAP quota command.
 */
import { randomBytes } from 'node:crypto';
import type { AccountRecord, DomainRecord } from '../accounts/types.js';
import type { Config } from '../config/index.js';
import type { Db } from '../db/index.js';
import type { Logger } from '../log.js';
import type { AccountId, MailStore, Quota, Usage } from '../store/types.js';

/** The part of AccountsRepo this module reads. */
export interface QuotaAccounts {
  getAccount(address: string): AccountRecord | undefined;
  getDomain(name: string): DomainRecord | undefined;
  listAccounts(domain?: string): AccountRecord[];
}

export interface QuotaOptions {
  db: Db;
  accounts: QuotaAccounts;
  store: MailStore;
  config: Config;
  log?: Logger;
}

/** Limits and usage of one account, as GETQUOTA and `account list` show them. */
export interface QuotaStatus {
  account: AccountId;
  usage: Usage;
  /** The account's own limits; null = unlimited. */
  bytes: number | null;
  messages: number | null;
  /** The domain's total limit and what all its accounts use, when the domain has a quota. */
  domain?: { name: string; bytes: number; usage: number };
}

/** What a mailbox says to one message of a given size. */
export type Fit =
  /** Stored normally. */
  | 'fits'
  /** Over the limit by no more than the grace: stored (Dovecot quota_grace semantics). */
  | 'grace'
  /** Full now: may fit later (452 4.2.2). */
  | 'full'
  /** Larger than the whole quota plus grace: can never fit (552 5.2.2). */
  | 'tooBig';

export class QuotaService {
  private readonly db: Db;
  private readonly accounts: QuotaAccounts;
  private readonly store: MailStore;
  private readonly config: Config;
  private readonly log?: Logger;
  private readonly usageCache = new Map<AccountId, Usage>();
  private readonly subs = new Map<AccountId, () => void>();
  private readonly refreshing = new Map<AccountId, Promise<void>>();
  private readonly dirty = new Set<AccountId>();
  private closed = false;

  constructor(opts: QuotaOptions) {
    this.db = opts.db;
    this.accounts = opts.accounts;
    this.store = opts.store;
    this.config = opts.config;
    this.log = opts.log?.child({ component: 'quota' });
  }

  /** Tracks every account that has a quota or is in a domain with one (background). */
  async start(): Promise<void> {
    const all = this.accounts.listAccounts();
    const withDomainQuota = new Set<string>();
    for (const a of all) {
      if (withDomainQuota.has(a.domain)) continue;
      if (this.accounts.getDomain(a.domain)?.quotaBytes != null) withDomainQuota.add(a.domain);
    }
    await Promise.all(all.filter((a) => a.quotaBytes != null || a.quotaMessages != null || withDomainQuota.has(a.domain)).map((a) => this.track(a.address)));
  }

  close(): void {
    this.closed = true;
    for (const off of this.subs.values()) off();
    this.subs.clear();
  }

  /**
   * The store's quota callback (synchronous): the account's byte limit narrowed by the
   * domain's remaining room, and its message limit; undefined = unlimited.
   */
  quotaOf(account: AccountId): Quota | undefined {
    const a = this.accounts.getAccount(account);
    if (!a) return undefined;
    const domainBytes = this.accounts.getDomain(a.domain)?.quotaBytes ?? null;
    if (a.quotaBytes == null && a.quotaMessages == null && domainBytes == null) return undefined;
    if (!this.subs.has(account)) void this.track(account);
    let bytes = a.quotaBytes;
    if (domainBytes != null) {
      // The store compares the account's exact usage + size with this limit, so the
      // domain total stays within domainBytes.
      const room = Math.max(0, domainBytes - this.domainUsage(a.domain, account, true));
      bytes = bytes == null ? room : Math.min(bytes, room);
    }
    return { bytes, messages: a.quotaMessages };
  }

  /** Exact usage and limits of one account (IMAP GETQUOTA, CLI). */
  async status(account: AccountId): Promise<QuotaStatus> {
    const a = this.accounts.getAccount(account);
    const usage = await this.store.usage(account);
    this.usageCache.set(account, usage);
    const out: QuotaStatus = { account, usage, bytes: a?.quotaBytes ?? null, messages: a?.quotaMessages ?? null };
    const d = a ? this.accounts.getDomain(a.domain) : undefined;
    if (a && d?.quotaBytes != null) {
      await this.primeDomain(a.domain);
      out.domain = { name: d.name, bytes: d.quotaBytes, usage: this.domainUsage(a.domain, account, true) + usage.bytes };
    }
    return out;
  }

  /**
   * How a mailbox takes a message of `size` bytes (0 = unknown: only "full or not"):
   * - tooBig: larger than the account's (or domain's) whole quota plus the grace;
   * - full: at or over a limit already, or the message does not fit even with the grace
   *   (RFC 9208 §5.2 semantics; SMTP 452 4.2.2, RFC 3463 "mailbox full");
   * - grace: over the limit after this message, within the grace, and under it before;
   * - fits.
   */
  async fit(account: AccountId, size: number): Promise<Fit> {
    // Fast path: no limits at all (most accounts) need no usage lookup.
    const a = this.accounts.getAccount(account);
    if (!a || (a.quotaBytes == null && a.quotaMessages == null && this.accounts.getDomain(a.domain)?.quotaBytes == null)) return 'fits';
    const st = await this.status(account);
    const grace = this.config.quota.gracePercent / 100;
    const limits: Array<[number, number]> = []; // [limit, usage] for bytes
    if (st.bytes != null) limits.push([st.bytes, st.usage.bytes]);
    if (st.domain) limits.push([st.domain.bytes, st.domain.usage]);
    for (const [limit] of limits) if (size > limit + Math.floor(limit * grace)) return 'tooBig';
    if (st.messages != null && st.usage.messages >= st.messages) return 'full';
    let result: Fit = 'fits';
    for (const [limit, used] of limits) {
      if (used >= limit) return 'full';
      if (used + size > limit + Math.floor(limit * grace)) return 'full';
      if (used + size > limit) result = 'grace';
    }
    return result;
  }

  /** Waits until pending usage refreshes (and the warnings they trigger) are done (tests, shutdown). */
  async settle(): Promise<void> {
    while (this.refreshing.size > 0) await Promise.all([...this.refreshing.values()]);
  }

  // ---------------------------------------------------------------- internals

  private domainUsage(domain: string, except: AccountId, prime: boolean): number {
    let sum = 0;
    let missing = false;
    for (const a of this.accountsOf(domain)) {
      if (a.address === except) continue;
      const u = this.usageCache.get(a.address);
      if (u) sum += u.bytes;
      else missing = true;
    }
    if (missing && prime) void this.primeDomain(domain);
    return sum;
  }

  private accountsOf(domain: string): AccountRecord[] {
    try {
      return this.accounts.listAccounts(domain);
    } catch {
      return [];
    }
  }

  private async primeDomain(domain: string): Promise<void> {
    await Promise.all(this.accountsOf(domain).filter((a) => !this.usageCache.has(a.address)).map((a) => this.track(a.address)));
  }

  private async track(account: AccountId): Promise<void> {
    if (this.closed) return;
    if (!this.subs.has(account)) {
      this.subs.set(
        account,
        this.store.changes.subscribe(account, (c) => {
          if (c.kind === 'flags' || c.kind === 'mailboxAdded' || c.kind === 'mailboxRenamed') return;
          void this.refresh(account);
        }),
      );
    }
    await this.refresh(account);
  }

  /** Re-reads the account's usage (coalesced) and sends or clears the warning. */
  private refresh(account: AccountId): Promise<void> {
    const running = this.refreshing.get(account);
    if (running) {
      this.dirty.add(account);
      return running;
    }
    const run = (async () => {
      do {
        this.dirty.delete(account);
        try {
          const u = await this.store.usage(account);
          this.usageCache.set(account, u);
          await this.checkWarning(account, u);
        } catch (err) {
          if (!this.closed) this.log?.warn({ err, account }, 'quota usage refresh failed');
        }
      } while (this.dirty.has(account) && !this.closed);
    })().finally(() => this.refreshing.delete(account));
    this.refreshing.set(account, run);
    return run;
  }

  private async checkWarning(account: AccountId, u: Usage): Promise<void> {
    const pct = this.config.quota.warnPercent;
    const a = this.accounts.getAccount(account);
    if (!a) return;
    const over = (limit: number | null, used: number) => limit != null && limit > 0 && used * 100 >= limit * pct;
    const crossed = pct > 0 && (over(a.quotaBytes, u.bytes) || over(a.quotaMessages, u.messages));
    if (!crossed) {
      // Read first: a write (an fsynced commit) only when there is something to clear.
      if (this.db.prepare('SELECT 1 FROM quota_warnings WHERE account = ?').get(account)) {
        this.db.prepare('DELETE FROM quota_warnings WHERE account = ?').run(account);
      }
      return;
    }
    // Claim the warning first (once per crossing, even with two processes racing).
    const claimed = this.db.prepare('INSERT OR IGNORE INTO quota_warnings (account, warned_at) VALUES (?, ?)').run(account, Date.now()).changes === 1;
    if (!claimed) return;
    const msg = warningMessage(this.config.hostname, a, u, pct);
    try {
      // The warning itself is delivered even to a full mailbox: that is its point.
      await this.store.deliver([{ account }], { data: msg }, { unenforced: [account] });
      this.log?.info({ account, bytes: u.bytes, messages: u.messages, quotaBytes: a.quotaBytes, quotaMessages: a.quotaMessages }, 'quota warning delivered');
    } catch (err) {
      // Not sent: forget the claim so the next change tries again.
      this.db.prepare('DELETE FROM quota_warnings WHERE account = ?').run(account);
      throw err;
    }
  }
}

/** "1.5 MiB" style, for the warning text. */
export function humanSize(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} bytes` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** The warning message (RFC 5322, RFC 3834 Auto-Submitted so no one auto-replies to it). */
export function warningMessage(hostname: string, a: AccountRecord, u: Usage, pct: number): Buffer {
  const lines: string[] = [];
  if (a.quotaBytes != null) lines.push(`Storage:  ${humanSize(u.bytes)} of ${humanSize(a.quotaBytes)} (${Math.floor((u.bytes * 100) / a.quotaBytes)}%)`);
  if (a.quotaMessages != null) lines.push(`Messages: ${u.messages} of ${a.quotaMessages} (${Math.floor((u.messages * 100) / a.quotaMessages)}%)`);
  const date = new Date().toUTCString().replace('GMT', '+0000');
  const text = [
    `Return-Path: <>`,
    `From: Mail Delivery System <MAILER-DAEMON@${hostname}>`,
    `To: <${a.address}>`,
    `Subject: Your mailbox is ${pct}% full`,
    `Date: ${date}`,
    `Message-ID: <quota.${Date.now().toString(36)}.${randomBytes(6).toString('hex')}@${hostname}>`,
    `Auto-Submitted: auto-generated`,
    `MIME-Version: 1.0`,
    `Content-Type: text/plain; charset=utf-8`,
    `Content-Transfer-Encoding: 8bit`,
    ``,
    `Your mailbox ${a.address} has reached ${pct}% of its quota.`,
    ``,
    ...lines,
    ``,
    `When it is full, new mail is refused (senders are asked to try again later).`,
    `Delete messages you no longer need and empty the Trash folder to make room.`,
    ``,
  ];
  return Buffer.from(text.join('\r\n'), 'utf8');
}
