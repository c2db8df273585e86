/**
 * AccountsRepo: the account database (domains, accounts, aliases) over SQLite.
 *
 * Every address passes through address.ts normalisation before it touches SQL, so the
 * tables only hold canonical forms and lookups are plain equality.
 *
 * Recipient resolution (resolveRecipient), in order:
 *   1. the domain is not one of ours → notLocal (port 25: relay denied, RFC 5321 §3.6.2);
 *   2. an account with exactly that address → that account;
 *   3. an alias with exactly that address → its targets, expanded recursively;
 *   4. plus-addressing (RFC 5233 subaddress): `user+tag@d` → the account or alias
 *      `user@d`, when no exact `user+tag@d` exists;
 *   5. the catch-all alias `@d` of the domain;
 *   6. otherwise unknownUser (550 5.1.1, RFC 3463).
 * Alias targets expand by rules 2–4 (not the catch-all, so a dangling target cannot be
 * swallowed by it) up to MAX_ALIAS_DEPTH levels, with loop protection; targets in other
 * domains are forwarded. Final mailboxes and forward addresses are de-duplicated, so one
 * message reaches each mailbox once.
 *
 * Management: every change that writes more than one row runs in one SQLite transaction,
 * so a failure leaves nothing half-written. Bad input throws AccountsError with one
 * clear line.
 *
 * Removal rules: removing an account (or a domain with --force) also removes alias
 * targets that pointed at it, and aliases left with no target. The Maildir is kept
 * unless `deleteMail` is given (like Dovecot, which never deletes mail on its own, and
 * unlike an rm -rf that cannot be undone); adding the account again finds its old mail.
 */
import type { Db } from '../db/index.js';
import type { MailStore } from '../store/types.js';
import { AddressError, catchAllKey, normalizeDomain, parseAddress, subaddressBase } from './address.js';
import { hashPassword, needsRehash, verifyPassword } from './passwords.js';
import type { AccountRecord, Accounts, AliasRecord, DomainRecord, Resolution } from './types.js';

/** How many alias levels resolution follows before it gives up on a chain. */
export const MAX_ALIAS_DEPTH = 10;

export type AccountsErrorKind = 'invalid' | 'notFound' | 'exists' | 'notEmpty' | 'loop' | 'storage';

/** A management error with one clear line of text; the CLI prints it as is. */
export class AccountsError extends Error {
  constructor(
    readonly kind: AccountsErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'AccountsError';
  }
}

interface DomainRow {
  id: number;
  name: string;
  quota_bytes: number | null;
  created_at: number;
}

interface AccountRow {
  id: number;
  address: string;
  local: string;
  domain: string;
  quota_bytes: number | null;
  quota_messages: number | null;
  disabled: number;
  created_at: number;
}

interface AliasRow {
  id: number;
  address: string;
  domain: string;
  created_at: number;
}

const ACCOUNT_COLS = `a.id, a.address, a.local, d.name AS domain, a.quota_bytes, a.quota_messages, a.disabled, a.created_at`;

function toDomain(r: DomainRow): DomainRecord {
  return { id: r.id, name: r.name, quotaBytes: r.quota_bytes, createdAt: new Date(r.created_at) };
}

function toAccount(r: AccountRow): AccountRecord {
  return {
    id: r.id,
    address: r.address,
    local: r.local,
    domain: r.domain,
    quotaBytes: r.quota_bytes,
    quotaMessages: r.quota_messages,
    disabled: r.disabled !== 0,
    createdAt: new Date(r.created_at),
  };
}

/** Parses input into a canonical address, turning AddressError into AccountsError. */
function addr(input: string): { local: string; domain: string; address: string } {
  try {
    return parseAddress(input);
  } catch (err) {
    if (err instanceof AddressError) throw new AccountsError('invalid', err.message);
    throw err;
  }
}

function dom(input: string): string {
  try {
    return normalizeDomain(input);
  } catch (err) {
    if (err instanceof AddressError) throw new AccountsError('invalid', err.message);
    throw err;
  }
}

/** An alias key: `local@domain`, or `@domain` for a catch-all. */
function aliasKey(input: string): { address: string; domain: string; catchAll: boolean } {
  const s = input.trim();
  if (s.startsWith('@')) {
    const domain = dom(s.slice(1));
    return { address: catchAllKey(domain), domain, catchAll: true };
  }
  const a = addr(s);
  return { address: a.address, domain: a.domain, catchAll: false };
}

function validQuota(n: number | null | undefined, what: string): number | null {
  if (n === undefined || n === null) return null;
  if (!Number.isSafeInteger(n) || n < 0) throw new AccountsError('invalid', `invalid ${what} ${n}: must be a whole number >= 0`);
  return n;
}

/** An imported hash must be in a scheme verifyPassword knows, or logins would silently fail. */
function checkImportedHash(hash: string): void {
  if (!/^(\{(SCRYPT|SHA512-CRYPT|SHA256-CRYPT|CRYPT|BLF-CRYPT|ARGON2ID|ARGON2I)\})?\$(scrypt|6|5|2[aby]?|argon2id|argon2i)\$\S+$/i.test(hash)) {
    throw new AccountsError('invalid', 'unsupported password hash: use {SCRYPT}, {SHA512-CRYPT}, {SHA256-CRYPT}, {BLF-CRYPT}, {ARGON2ID} or {ARGON2I}');
  }
}

/** A throwaway hash so a login for an unknown user costs as much as one for a known user. */
let dummyHash: Promise<string> | undefined;

/**
 * Read cache for the lookups on the delivery path (domain, account and alias rows).
 * Valid while `PRAGMA data_version` is unchanged (it moves when another connection —
 * the setup CLI in another process — commits; read at most every VERSION_CHECK_MS, so
 * another process's change is seen within a few ms) and for at most CACHE_TTL_MS (a bound
 * for writes made on this connection outside this class); writes through this class
 * bypass and clear it. Bounded: cleared when it holds CACHE_MAX entries.
 */
const CACHE_TTL_MS = 1000;
/** data_version is read at most this often (it showed in profiles at ~4 reads per message). */
const VERSION_CHECK_MS = 2;
const CACHE_MAX = 10_000;
/** The methods that change the database: the cache is off while they run and cleared after. */
const WRITE_METHODS = [
  'addDomain',
  'setDomainQuota',
  'removeDomain',
  'addAccount',
  'setPassword',
  'setPasswordHash',
  'setDisabled',
  'setAccountQuota',
  'removeAccount',
  'addAlias',
  'removeAlias',
] as const;

export class AccountsRepo implements Accounts {
  private readonly q;
  private readonly cache = {
    domains: new Map<string, DomainRow | undefined>(),
    accounts: new Map<string, AccountRow | undefined>(),
    targets: new Map<string, string[]>(),
    /** resolveRecipient results by the address as given. */
    resolutions: new Map<string, Resolution>(),
  };
  private versionAt = 0;
  private cacheVersion = -1;
  private cacheAt = 0;
  private cacheSize = 0;
  private writing = 0;

  constructor(
    readonly db: Db,
    private readonly store?: MailStore,
  ) {
    this.q = {
      domainByName: db.prepare('SELECT id, name, quota_bytes, created_at FROM domains WHERE name = ?'),
      accountByAddress: db.prepare(`SELECT ${ACCOUNT_COLS} FROM accounts a JOIN domains d ON d.id = a.domain_id WHERE a.address = ?`),
      hashByAddress: db.prepare('SELECT password_hash FROM accounts WHERE address = ?'),
      aliasTargets: db.prepare('SELECT t.target FROM aliases al JOIN alias_targets t ON t.alias_id = al.id WHERE al.address = ? ORDER BY t.target'),
      aliasByAddress: db.prepare('SELECT al.id, al.address, d.name AS domain, al.created_at FROM aliases al JOIN domains d ON d.id = al.domain_id WHERE al.address = ?'),
      // Aliases whose target is the address itself or a plus-address of it (`user+tag@d`).
      aliasesTargeting: db.prepare(
        `SELECT DISTINCT al.address FROM aliases al JOIN alias_targets t ON t.alias_id = al.id WHERE t.target = ? OR (t.target LIKE ? ESCAPE '\\' AND t.target LIKE ? ESCAPE '\\')`,
      ),
      dataVersion: db.prepare('PRAGMA data_version').pluck(),
    };
    const self = this as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const m of WRITE_METHODS) {
      const f = self[m]!;
      self[m] = (...args: unknown[]) => this.writeOp(() => f.apply(this, args));
    }
  }

  // ---- read cache -----------------------------------------------------------------

  private clearCache(): void {
    this.cache.domains.clear();
    this.cache.accounts.clear();
    this.cache.targets.clear();
    this.cache.resolutions.clear();
    this.cacheSize = 0;
  }

  /** Runs a write with the cache off, clearing it before and after (also on failure). */
  private writeOp<T>(fn: () => T): T {
    const done = () => {
      this.writing--;
      this.clearCache();
    };
    this.writing++;
    this.clearCache();
    let r: T;
    try {
      r = fn();
    } catch (err) {
      done();
      throw err;
    }
    if (r instanceof Promise) return r.finally(done) as T;
    done();
    return r;
  }

  /** True when the cache may be used (cleared first if the database changed or it is too old). */
  private cacheUsable(): boolean {
    if (this.writing > 0 || this.db.inTransaction) return false;
    const now = Date.now();
    if (now - this.versionAt < VERSION_CHECK_MS && now - this.cacheAt <= CACHE_TTL_MS && this.cacheSize < CACHE_MAX) return true;
    this.versionAt = now;
    const v = this.q.dataVersion.get() as number;
    if (v !== this.cacheVersion || now - this.cacheAt > CACHE_TTL_MS || this.cacheSize >= CACHE_MAX) {
      this.clearCache();
      this.cacheVersion = v;
      this.cacheAt = now;
    }
    return true;
  }

  private lookup<K, V>(map: Map<K, V>, key: K, load: (k: K) => V): V {
    if (!this.cacheUsable()) return load(key);
    if (map.has(key)) return map.get(key) as V;
    const v = load(key);
    map.set(key, v);
    this.cacheSize++;
    return v;
  }

  /** The domain row for a name as given (normalized here; undefined when it does not normalize). */
  private cachedDomain(name: string): DomainRow | undefined {
    return this.lookup(this.cache.domains, name, (raw) => {
      let n: string;
      try {
        n = normalizeDomain(raw);
      } catch {
        return undefined;
      }
      return this.q.domainByName.get(n) as DomainRow | undefined;
    });
  }

  /** The account row for an address as given (canonicalized here; undefined when it does not parse). */
  private cachedAccount(address: string): AccountRow | undefined {
    return this.lookup(this.cache.accounts, address, (raw) => {
      let a: string;
      try {
        a = parseAddress(raw).address;
      } catch {
        return undefined;
      }
      return this.q.accountByAddress.get(a) as AccountRow | undefined;
    });
  }

  private cachedTargets(address: string): string[] {
    return this.lookup(this.cache.targets, address, (a) => this.q.aliasTargets.pluck().all(a) as string[]);
  }

  // ---- lookups used by the protocol front ends ----------------------------------

  isLocalDomain(domain: string): boolean {
    return this.cachedDomain(domain) !== undefined;
  }

  getAccount(address: string): AccountRecord | undefined {
    const row = this.cachedAccount(address);
    return row ? toAccount(row) : undefined;
  }

  /** Never throws: an address that does not parse is unknownUser in a local domain, else notLocal. */
  resolveRecipient(address: string): Resolution {
    const r = this.lookup(this.cache.resolutions, address, (a) => this.resolveUncached(a));
    // Callers get their own arrays; the records in them are shared.
    return r.kind === 'deliver' ? { kind: 'deliver', accounts: [...r.accounts], forward: [...r.forward] } : r;
  }

  private resolveUncached(address: string): Resolution {
    let parsed: { local: string; domain: string; address: string };
    try {
      parsed = parseAddress(address);
    } catch {
      const at = address.lastIndexOf('@');
      return at >= 0 && this.isLocalDomain(address.slice(at + 1).replace(/>$/, '')) ? { kind: 'unknownUser' } : { kind: 'notLocal' };
    }
    if (!this.isLocalDomain(parsed.domain)) return { kind: 'notLocal' };

    const accounts = new Map<string, AccountRecord>();
    const forward = new Set<string>();
    const found = this.expand(parsed.address, accounts, forward, new Set(), 0, true);
    if (!found || (accounts.size === 0 && forward.size === 0)) return { kind: 'unknownUser' };
    return { kind: 'deliver', accounts: [...accounts.values()], forward: [...forward] };
  }

  /**
   * Adds the mailboxes `address` reaches to `accounts`/`forward`. Returns false when the
   * address is unknown. `catchAll` is only true for the envelope recipient itself.
   */
  private expand(
    address: string,
    accounts: Map<string, AccountRecord>,
    forward: Set<string>,
    seen: Set<string>,
    depth: number,
    catchAll: boolean,
  ): boolean {
    const p = parseAddress(address);
    if (!this.isLocalDomain(p.domain)) {
      forward.add(p.address);
      return true;
    }
    const candidates = [p.address];
    const base = subaddressBase(p.local);
    if (base) candidates.push(`${base}@${p.domain}`); // RFC 5233: user+detail → user
    if (catchAll) candidates.push(catchAllKey(p.domain));
    for (const c of candidates) {
      const acct = c.startsWith('@') ? undefined : this.cachedAccount(c);
      if (acct) {
        accounts.set(acct.address, toAccount(acct));
        return true;
      }
      const targets = this.cachedTargets(c);
      if (targets.length > 0) {
        // Loop and depth protection: an alias already on this path, or a chain deeper
        // than MAX_ALIAS_DEPTH, contributes nothing more.
        if (seen.has(c) || depth >= MAX_ALIAS_DEPTH) return true;
        const path = new Set(seen).add(c);
        for (const t of targets) {
          try {
            this.expand(t, accounts, forward, path, depth + 1, false);
          } catch {
            // A stored target that no longer parses is skipped, never fatal to delivery.
          }
        }
        return true;
      }
    }
    return false;
  }

  async verifyCredentials(username: string, password: string): Promise<AccountRecord | undefined> {
    let account: AccountRecord | undefined;
    let hash: string | undefined;
    try {
      const a = parseAddress(username).address;
      const row = this.q.accountByAddress.get(a) as AccountRow | undefined;
      if (row) {
        account = toAccount(row);
        hash = this.q.hashByAddress.pluck().get(a) as string | undefined;
      }
    } catch {
      account = undefined;
    }
    if (!account || !hash || account.disabled) {
      // Spend the same work as a real check, so response time does not tell which
      // usernames exist.
      dummyHash ??= hashPassword('not a real password, only for timing');
      await verifyPassword(password, await dummyHash);
      return undefined;
    }
    if (!(await verifyPassword(password, hash))) return undefined;
    if (needsRehash(hash)) await this.rehash(account.address, hash, password);
    return account;
  }

  /**
   * An imported hash (SHA512-CRYPT, bcrypt, Argon2 from Dovecot) or one made with older
   * scrypt parameters is replaced by a current scrypt hash once the password is known to
   * be right, as at login. Only if the stored hash is still the one checked, so a
   * password changed meanwhile (CLI passwd) is never overwritten. A failure here does not
   * fail the login: the next one tries again.
   */
  private async rehash(address: string, old: string, password: string): Promise<void> {
    try {
      const fresh = await hashPassword(password);
      this.db.prepare('UPDATE accounts SET password_hash = ? WHERE address = ? AND password_hash = ?').run(fresh, address, old);
    } catch {
      // e.g. the database is busy; the old hash keeps working
    }
  }

  ownedAddresses(account: AccountRecord): { addresses: Set<string>; catchAllDomains: Set<string> } {
    const addresses = new Set<string>([account.address]);
    const catchAllDomains = new Set<string>();
    // Walk the alias graph backwards from the account: every alias whose expansion
    // reaches it (directly or through other aliases) is an address it may send as.
    const queue = [account.address];
    const seen = new Set(queue);
    while (queue.length > 0) {
      const cur = queue.shift()!;
      const at = cur.lastIndexOf('@');
      const esc = (x: string) => x.replace(/[\\%_]/g, '\\$&');
      const plusPattern = `${esc(cur.slice(0, at))}+%`;
      const domainPattern = `%${esc(cur.slice(at))}`;
      for (const a of this.q.aliasesTargeting.pluck().all(cur, plusPattern, domainPattern) as string[]) {
        if (seen.has(a)) continue;
        seen.add(a);
        // A plus-address match only counts when resolution really ends at this account
        // (an account `user+tag` of its own takes the mail instead).
        if (!this.aliasReaches(a, account.address)) continue;
        if (a.startsWith('@')) {
          catchAllDomains.add(a.slice(1));
        } else {
          addresses.add(a);
          queue.push(a);
        }
      }
    }
    return { addresses, catchAllDomains };
  }

  private aliasReaches(alias: string, account: string): boolean {
    const accounts = new Map<string, AccountRecord>();
    for (const t of this.q.aliasTargets.pluck().all(alias) as string[]) {
      try {
        this.expand(t, accounts, new Set(), new Set([alias]), 1, false);
      } catch {
        // unparsable stored target: skipped, as in resolution
      }
      if (accounts.has(account)) return true;
    }
    return false;
  }

  // ---- domains ------------------------------------------------------------------

  private domainRow(name: string): DomainRow {
    const row = this.q.domainByName.get(name) as DomainRow | undefined;
    if (!row) throw new AccountsError('notFound', `unknown domain ${name}`);
    return row;
  }

  addDomain(name: string): DomainRecord {
    const n = dom(name);
    return this.db.transaction(() => {
      if (this.q.domainByName.get(n)) throw new AccountsError('exists', `domain ${n} already exists`);
      this.db.prepare('INSERT INTO domains (name, created_at) VALUES (?, ?)').run(n, Date.now());
      return toDomain(this.q.domainByName.get(n) as DomainRow);
    }).immediate();
  }

  getDomain(name: string): DomainRecord | undefined {
    const row = this.cachedDomain(name);
    return row ? toDomain(row) : undefined;
  }

  listDomains(): DomainRecord[] {
    return (this.db.prepare('SELECT id, name, quota_bytes, created_at FROM domains ORDER BY name').all() as DomainRow[]).map(toDomain);
  }

  setDomainQuota(name: string, bytes: number | null): DomainRecord {
    const n = dom(name);
    const q = validQuota(bytes, 'quota');
    const row = this.domainRow(n);
    this.db.prepare('UPDATE domains SET quota_bytes = ? WHERE id = ?').run(q, row.id);
    return toDomain(this.q.domainByName.get(n) as DomainRow);
  }

  /**
   * Removes a domain. Without `force`, refuses while it has accounts or aliases. With
   * `force`, removes them too (and alias targets elsewhere that pointed into it), in
   * one transaction; Maildirs are removed only with `deleteMail`. Returns the removed
   * account addresses.
   */
  async removeDomain(name: string, opts: { force?: boolean; deleteMail?: boolean } = {}): Promise<{ accounts: string[]; aliases: string[] }> {
    const n = dom(name);
    const removed = this.db.transaction(() => {
      const row = this.domainRow(n);
      const accounts = this.db.prepare('SELECT address FROM accounts WHERE domain_id = ? ORDER BY address').pluck().all(row.id) as string[];
      const aliases = this.db.prepare('SELECT address FROM aliases WHERE domain_id = ? ORDER BY address').pluck().all(row.id) as string[];
      if ((accounts.length > 0 || aliases.length > 0) && !opts.force) {
        throw new AccountsError(
          'notEmpty',
          `domain ${n} still has ${accounts.length} account(s) and ${aliases.length} alias(es); remove them first or use --force`,
        );
      }
      this.db.prepare('DELETE FROM aliases WHERE domain_id = ?').run(row.id); // targets cascade
      this.db.prepare('DELETE FROM accounts WHERE domain_id = ?').run(row.id);
      // Targets elsewhere that pointed into this domain would otherwise start being
      // forwarded to the internet once the domain is no longer local.
      this.db.prepare(`DELETE FROM alias_targets WHERE target LIKE ? ESCAPE '\\'`).run(`%@${n.replace(/[\\%_]/g, '\\$&')}`);
      this.dropEmptyAliases();
      this.db.prepare('DELETE FROM domains WHERE id = ?').run(row.id); // DKIM keys cascade
      return { accounts, aliases };
    }).immediate();
    if (opts.deleteMail && this.store) {
      for (const a of removed.accounts) await this.store.removeAccount(a);
    }
    return removed;
  }

  // ---- accounts -----------------------------------------------------------------

  /** Adds an account and creates its Maildir (via the store, when one was given). */
  async addAccount(
    address: string,
    password: string,
    opts: { quotaBytes?: number | null; quotaMessages?: number | null; /** Store this existing hash instead (imports); `password` is ignored. */ passwordHash?: string } = {},
  ): Promise<AccountRecord> {
    const a = addr(address);
    const quotaBytes = validQuota(opts.quotaBytes, 'quota');
    const quotaMessages = validQuota(opts.quotaMessages, 'message quota');
    if (opts.passwordHash !== undefined) checkImportedHash(opts.passwordHash);
    else if (password.length === 0) throw new AccountsError('invalid', 'the password must not be empty');
    this.checkNewAccount(a); // fail fast, before spending time on the hash
    const hash = opts.passwordHash ?? (await hashPassword(password));
    const id = this.db.transaction(() => {
      const d = this.checkNewAccount(a);
      const info = this.db
        .prepare('INSERT INTO accounts (domain_id, local, address, password_hash, quota_bytes, quota_messages, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(d.id, a.local, a.address, hash, quotaBytes, quotaMessages, Date.now());
      return Number(info.lastInsertRowid);
    }).immediate();
    if (this.store) {
      try {
        await this.store.ensureAccount(a.address);
      } catch (err) {
        this.db.prepare('DELETE FROM accounts WHERE id = ?').run(id);
        throw new AccountsError('storage', `could not create the mailbox of ${a.address}: ${(err as Error).message}`);
      }
    }
    return this.getAccount(a.address)!;
  }

  private checkNewAccount(a: { address: string; domain: string }): DomainRow {
    const d = this.domainRow(a.domain);
    if (this.q.accountByAddress.get(a.address)) throw new AccountsError('exists', `account ${a.address} already exists`);
    if (this.q.aliasByAddress.get(a.address)) throw new AccountsError('exists', `${a.address} is already an alias`);
    return d;
  }

  async setPassword(address: string, password: string): Promise<void> {
    const a = addr(address);
    if (password.length === 0) throw new AccountsError('invalid', 'the password must not be empty');
    if (!this.q.accountByAddress.get(a.address)) throw new AccountsError('notFound', `unknown account ${a.address}`);
    const hash = await hashPassword(password);
    const info = this.db.prepare('UPDATE accounts SET password_hash = ? WHERE address = ?').run(hash, a.address);
    if (info.changes === 0) throw new AccountsError('notFound', `unknown account ${a.address}`);
  }

  /** Stores an existing hash as is (imports from Dovecot / docker-mailserver). */
  setPasswordHash(address: string, hash: string): void {
    const a = addr(address);
    checkImportedHash(hash);
    const info = this.db.prepare('UPDATE accounts SET password_hash = ? WHERE address = ?').run(hash, a.address);
    if (info.changes === 0) throw new AccountsError('notFound', `unknown account ${a.address}`);
  }

  setDisabled(address: string, disabled: boolean): void {
    const a = addr(address);
    const info = this.db.prepare('UPDATE accounts SET disabled = ? WHERE address = ?').run(disabled ? 1 : 0, a.address);
    if (info.changes === 0) throw new AccountsError('notFound', `unknown account ${a.address}`);
  }

  setAccountQuota(address: string, quota: { bytes?: number | null; messages?: number | null }): AccountRecord {
    const a = addr(address);
    const cur = this.q.accountByAddress.get(a.address) as AccountRow | undefined;
    if (!cur) throw new AccountsError('notFound', `unknown account ${a.address}`);
    const bytes = quota.bytes === undefined ? cur.quota_bytes : validQuota(quota.bytes, 'quota');
    const messages = quota.messages === undefined ? cur.quota_messages : validQuota(quota.messages, 'message quota');
    this.db.prepare('UPDATE accounts SET quota_bytes = ?, quota_messages = ? WHERE id = ?').run(bytes, messages, cur.id);
    return this.getAccount(a.address)!;
  }

  /**
   * Removes an account, and alias targets pointing at it (aliases left empty go too).
   * The Maildir stays unless `deleteMail` is set.
   */
  async removeAccount(address: string, opts: { deleteMail?: boolean } = {}): Promise<void> {
    const a = addr(address);
    this.db.transaction(() => {
      const info = this.db.prepare('DELETE FROM accounts WHERE address = ?').run(a.address);
      if (info.changes === 0) throw new AccountsError('notFound', `unknown account ${a.address}`);
      this.db.prepare('DELETE FROM alias_targets WHERE target = ?').run(a.address);
      this.dropEmptyAliases();
    }).immediate();
    if (opts.deleteMail && this.store) await this.store.removeAccount(a.address);
  }

  listAccounts(domain?: string): AccountRecord[] {
    if (domain !== undefined) {
      const d = this.domainRow(dom(domain));
      const rows = this.db.prepare(`SELECT ${ACCOUNT_COLS} FROM accounts a JOIN domains d ON d.id = a.domain_id WHERE a.domain_id = ? ORDER BY a.address`).all(d.id);
      return (rows as AccountRow[]).map(toAccount);
    }
    const rows = this.db.prepare(`SELECT ${ACCOUNT_COLS} FROM accounts a JOIN domains d ON d.id = a.domain_id ORDER BY d.name, a.local`).all();
    return (rows as AccountRow[]).map(toAccount);
  }

  // ---- aliases ------------------------------------------------------------------

  /**
   * Adds an alias (`local@domain` or catch-all `@domain`) with targets, or adds targets
   * to an existing alias. A target in one of our domains must be an account or alias
   * (plus-addressing allowed); a target elsewhere is forwarded. Refuses targets already
   * present, an alias that shadows an account, and anything that would make a loop.
   */
  addAlias(address: string, targets: string[]): AliasRecord {
    const key = aliasKey(address);
    if (targets.length === 0) throw new AccountsError('invalid', `alias ${key.address} needs at least one target`);
    const norm = [...new Set(targets.map((t) => addr(t).address))];
    return this.db.transaction(() => {
      const d = this.domainRow(key.domain);
      if (!key.catchAll && this.q.accountByAddress.get(key.address)) {
        throw new AccountsError('exists', `${key.address} is an account; an alias with the same address would never be used`);
      }
      for (const t of norm) {
        if (t === key.address) throw new AccountsError('loop', `alias ${key.address} cannot point at itself`);
        const tp = parseAddress(t);
        if (this.isLocalDomain(tp.domain) && !this.knownLocal(t)) {
          throw new AccountsError('notFound', `target ${t} is neither an account nor an alias (${tp.domain} is a local domain)`);
        }
      }
      let row = this.q.aliasByAddress.get(key.address) as AliasRow | undefined;
      if (!row) {
        this.db.prepare('INSERT INTO aliases (domain_id, address, created_at) VALUES (?, ?, ?)').run(d.id, key.address, Date.now());
        row = this.q.aliasByAddress.get(key.address) as AliasRow;
      }
      const insert = this.db.prepare('INSERT INTO alias_targets (alias_id, target) VALUES (?, ?)');
      const existing = new Set(this.q.aliasTargets.pluck().all(key.address) as string[]);
      for (const t of norm) {
        if (existing.has(t)) throw new AccountsError('exists', `alias ${key.address} already has target ${t}`);
        insert.run(row.id, t);
      }
      // An alias chain that comes back to this alias is a loop: refuse it (the
      // transaction rolls back, so nothing is written).
      const loop = this.findLoop(key.address);
      if (loop) throw new AccountsError('loop', `alias loop: ${loop.join(' -> ')}`);
      return this.aliasRecord(row);
    }).immediate();
  }

  /** Removes a whole alias, or one target of it (the alias goes when its last target does). */
  removeAlias(address: string, target?: string): void {
    const key = aliasKey(address);
    this.db.transaction(() => {
      const row = this.q.aliasByAddress.get(key.address) as AliasRow | undefined;
      if (!row) throw new AccountsError('notFound', `unknown alias ${key.address}`);
      if (target === undefined) {
        this.db.prepare('DELETE FROM aliases WHERE id = ?').run(row.id);
        return;
      }
      const t = addr(target).address;
      const info = this.db.prepare('DELETE FROM alias_targets WHERE alias_id = ? AND target = ?').run(row.id, t);
      if (info.changes === 0) throw new AccountsError('notFound', `alias ${key.address} has no target ${t}`);
      this.dropEmptyAliases();
    }).immediate();
  }

  listAliases(domain?: string): AliasRecord[] {
    let rows: AliasRow[];
    const sql = 'SELECT al.id, al.address, d.name AS domain, al.created_at FROM aliases al JOIN domains d ON d.id = al.domain_id';
    if (domain !== undefined) {
      const d = this.domainRow(dom(domain));
      rows = this.db.prepare(`${sql} WHERE al.domain_id = ? ORDER BY al.address`).all(d.id) as AliasRow[];
    } else {
      rows = this.db.prepare(`${sql} ORDER BY d.name, al.address`).all() as AliasRow[];
    }
    return rows.map((r) => this.aliasRecord(r));
  }

  getAlias(address: string): AliasRecord | undefined {
    const key = aliasKey(address);
    const row = this.q.aliasByAddress.get(key.address) as AliasRow | undefined;
    return row ? this.aliasRecord(row) : undefined;
  }

  private aliasRecord(r: AliasRow): AliasRecord {
    return { id: r.id, address: r.address, domain: r.domain, targets: this.q.aliasTargets.pluck().all(r.address) as string[] };
  }

  private knownLocal(address: string): boolean {
    const p = parseAddress(address);
    const candidates = [p.address];
    const base = subaddressBase(p.local);
    if (base) candidates.push(`${base}@${p.domain}`);
    return candidates.some((c) => this.q.accountByAddress.get(c) !== undefined || this.q.aliasByAddress.get(c) !== undefined);
  }

  /** The alias a target continues at, following resolution order; undefined when it ends in an account or nowhere. */
  private aliasStep(target: string): string | undefined {
    const p = parseAddress(target);
    const candidates = [p.address];
    const base = subaddressBase(p.local);
    if (base) candidates.push(`${base}@${p.domain}`);
    for (const c of candidates) {
      if (this.q.accountByAddress.get(c)) return undefined;
      if (this.q.aliasByAddress.get(c)) return c;
    }
    return undefined;
  }

  /** A path from `start` back to itself through alias targets, or undefined. */
  private findLoop(start: string): string[] | undefined {
    const done = new Set<string>();
    const visit = (cur: string, path: string[]): string[] | undefined => {
      for (const t of this.q.aliasTargets.pluck().all(cur) as string[]) {
        const next = this.aliasStep(t);
        if (next === undefined) continue;
        if (next === start) return [...path, t];
        if (done.has(next) || path.includes(next)) continue;
        const found = visit(next, [...path, next]);
        if (found) return found;
        done.add(next);
      }
      return undefined;
    };
    return visit(start, [start]);
  }

  /** Deletes aliases with no target left, then targets that pointed at those, until stable. */
  private dropEmptyAliases(): void {
    const empty = this.db.prepare('SELECT address FROM aliases WHERE id NOT IN (SELECT DISTINCT alias_id FROM alias_targets)').pluck();
    const delAlias = this.db.prepare('DELETE FROM aliases WHERE address = ?');
    const delTarget = this.db.prepare('DELETE FROM alias_targets WHERE target = ?');
    for (let gone = empty.all() as string[]; gone.length > 0; gone = empty.all() as string[]) {
      for (const a of gone) {
        delAlias.run(a);
        if (!a.startsWith('@')) delTarget.run(a);
      }
    }
  }
}
