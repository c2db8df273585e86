/**
 * The read side of the account database (as mox splits lookup.go from admin.go): what
 * the protocol front ends ask on every message and login, behind an explicit cache.
 * The write side is AccountAdmin (admin.ts), which changes the database only through
 * `write()` below, and `write()` empties both caches after every write.
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
 * Credentials (checkCredentials): the stored hash is read on every login; a password
 * checked successfully a moment ago against that same hash is a hit in the AuthCache
 * (auth-cache.ts) and costs no scrypt.
 */
import type { Db } from '../db/index.js';
import { catchAllKey, normalizeDomain, parseAddress, subaddressBase } from './address.js';
import { AuthCache } from './auth-cache.js';
import { AccountsError, aliasKey, dom } from './errors.js';
import { LookupCache } from './lookup-cache.js';
import { hashPassword, needsRehash, SCRYPT_PARAMS, verifyPassword, type ScryptParams } from './passwords.js';
import type { AccountRecord, Accounts, AliasRecord, CredentialCheck, DomainRecord, Resolution } from './types.js';

/** How many alias levels resolution follows before it gives up on a chain. */
export const MAX_ALIAS_DEPTH = 10;

/** What the password side reads from the configuration (config.auth; read at each use, so reloads apply). */
export interface PasswordPolicy {
  scryptLn: number;
  scryptR: number;
  scryptP: number;
  cacheTtlSeconds: number;
}

export interface AccountsOptions {
  /** Hashing cost and cache lifetime; the built-in defaults without it (CLI without a config file, tests). */
  passwords?: () => PasswordPolicy;
}

export interface DomainRow {
  id: number;
  name: string;
  quota_bytes: number | null;
  created_at: number;
}

export interface AccountRow {
  id: number;
  address: string;
  local: string;
  domain: string;
  quota_bytes: number | null;
  quota_messages: number | null;
  disabled: number;
  created_at: number;
}

export interface AliasRow {
  id: number;
  address: string;
  domain: string;
  created_at: number;
}

const ACCOUNT_COLS = `a.id, a.address, a.local, d.name AS domain, a.quota_bytes, a.quota_messages, a.disabled, a.created_at`;
const ALIAS_SELECT = 'SELECT al.id, al.address, d.name AS domain, al.created_at FROM aliases al JOIN domains d ON d.id = al.domain_id';

export function toDomain(r: DomainRow): DomainRecord {
  return { id: r.id, name: r.name, quotaBytes: r.quota_bytes, createdAt: new Date(r.created_at) };
}

export function toAccount(r: AccountRow): AccountRecord {
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

/** A throwaway hash so a login for an unknown user costs as much as one for a known user (per cost setting). */
const dummyHashes = new Map<string, Promise<string>>();
function dummyHash(params: ScryptParams): Promise<string> {
  const key = `${params.ln},${params.r},${params.p}`;
  let h = dummyHashes.get(key);
  if (!h) dummyHashes.set(key, (h = hashPassword('not a real password, only for timing', params)));
  return h;
}

function prepareQueries(db: Db) {
  return {
    domainByName: db.prepare('SELECT id, name, quota_bytes, created_at FROM domains WHERE name = ?'),
    accountByAddress: db.prepare(`SELECT ${ACCOUNT_COLS} FROM accounts a JOIN domains d ON d.id = a.domain_id WHERE a.address = ?`),
    credentialsByAddress: db.prepare(`SELECT ${ACCOUNT_COLS}, a.password_hash FROM accounts a JOIN domains d ON d.id = a.domain_id WHERE a.address = ?`),
    aliasTargets: db.prepare('SELECT t.target FROM aliases al JOIN alias_targets t ON t.alias_id = al.id WHERE al.address = ? ORDER BY t.target').pluck(),
    aliasByAddress: db.prepare(`${ALIAS_SELECT} WHERE al.address = ?`),
    // Aliases whose target is the address itself or a plus-address of it (`user+tag@d`).
    aliasesTargeting: db
      .prepare(`SELECT DISTINCT al.address FROM aliases al JOIN alias_targets t ON t.alias_id = al.id WHERE t.target = ? OR (t.target LIKE ? ESCAPE '\\' AND t.target LIKE ? ESCAPE '\\')`)
      .pluck(),
  };
}

export class AccountLookup implements Accounts {
  /** Read-only statements; writes go through write(). */
  protected readonly q;
  readonly #db: Db;
  private readonly cache: LookupCache;
  private readonly cached;
  private readonly authCache: AuthCache;
  private readonly passwords: () => PasswordPolicy | undefined;

  constructor(db: Db, opts: AccountsOptions = {}) {
    this.#db = db;
    this.q = prepareQueries(db);
    this.cache = new LookupCache(db);
    this.cached = {
      domains: this.cache.table<string, DomainRow | undefined>(),
      accounts: this.cache.table<string, AccountRow | undefined>(),
      targets: this.cache.table<string, string[]>(),
      /** resolveRecipient results by the address as given. */
      resolutions: this.cache.table<string, Resolution>(),
    };
    this.passwords = opts.passwords ?? (() => undefined);
    this.authCache = new AuthCache(() => (this.passwords()?.cacheTtlSeconds ?? 300) * 1000);
  }

  /**
   * The one way to change the database: runs `fn` in an immediate transaction (so a
   * failure leaves nothing half-written), then empties the lookup cache and the
   * remembered password checks, also when `fn` throws. Admin writes are rare; emptying
   * everything is cheaper than being wrong about which lookups a change touches (a new
   * alias changes what a catch-all resolves to, a removed domain every address in it).
   */
  protected write<T>(fn: (db: Db) => T): T {
    try {
      return this.#db.transaction(() => fn(this.#db)).immediate();
    } finally {
      this.cache.clear();
      this.authCache.clear();
    }
  }

  /** scrypt parameters for new hashes. */
  protected scryptParams(): ScryptParams {
    const p = this.passwords();
    return p ? { ln: p.scryptLn, r: p.scryptR, p: p.scryptP } : SCRYPT_PARAMS;
  }

  // ---- cached lookups of the delivery path -------------------------------------------

  /** The domain row for a name as given (normalized here; undefined when it does not normalize). */
  private cachedDomain(name: string): DomainRow | undefined {
    return this.cache.get(this.cached.domains, name, (raw) => {
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
    return this.cache.get(this.cached.accounts, address, (raw) => {
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
    return this.cache.get(this.cached.targets, address, (a) => this.q.aliasTargets.all(a) as string[]);
  }

  isLocalDomain(domain: string): boolean {
    return this.cachedDomain(domain) !== undefined;
  }

  getDomain(name: string): DomainRecord | undefined {
    const row = this.cachedDomain(name);
    return row ? toDomain(row) : undefined;
  }

  getAccount(address: string): AccountRecord | undefined {
    const row = this.cachedAccount(address);
    return row ? toAccount(row) : undefined;
  }

  /** Never throws: an address that does not parse is unknownUser in a local domain, else notLocal. */
  resolveRecipient(address: string): Resolution {
    const r = this.cache.get(this.cached.resolutions, address, (a) => this.resolveUncached(a));
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
  private expand(address: string, accounts: Map<string, AccountRecord>, forward: Set<string>, seen: Set<string>, depth: number, catchAll: boolean): boolean {
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
      for (const a of this.q.aliasesTargeting.all(cur, plusPattern, domainPattern) as string[]) {
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
    for (const t of this.q.aliasTargets.all(alias) as string[]) {
      try {
        this.expand(t, accounts, new Set(), new Set([alias]), 1, false);
      } catch {
        // unparsable stored target: skipped, as in resolution
      }
      if (accounts.has(account)) return true;
    }
    return false;
  }

  // ---- listings (management; never cached) ---------------------------------------------

  protected domainRow(name: string): DomainRow {
    const row = this.q.domainByName.get(name) as DomainRow | undefined;
    if (!row) throw new AccountsError('notFound', `unknown domain ${name}`);
    return row;
  }

  listDomains(): DomainRecord[] {
    return (this.#db.prepare('SELECT id, name, quota_bytes, created_at FROM domains ORDER BY name').all() as DomainRow[]).map(toDomain);
  }

  listAccounts(domain?: string): AccountRecord[] {
    const sql = `SELECT ${ACCOUNT_COLS} FROM accounts a JOIN domains d ON d.id = a.domain_id`;
    const rows =
      domain !== undefined
        ? this.#db.prepare(`${sql} WHERE a.domain_id = ? ORDER BY a.address`).all(this.domainRow(dom(domain)).id)
        : this.#db.prepare(`${sql} ORDER BY d.name, a.local`).all();
    return (rows as AccountRow[]).map(toAccount);
  }

  listAliases(domain?: string): AliasRecord[] {
    const rows =
      domain !== undefined
        ? this.#db.prepare(`${ALIAS_SELECT} WHERE al.domain_id = ? ORDER BY al.address`).all(this.domainRow(dom(domain)).id)
        : this.#db.prepare(`${ALIAS_SELECT} ORDER BY d.name, al.address`).all();
    return (rows as AliasRow[]).map((r) => this.aliasRecord(r));
  }

  getAlias(address: string): AliasRecord | undefined {
    const row = this.q.aliasByAddress.get(aliasKey(address).address) as AliasRow | undefined;
    return row ? this.aliasRecord(row) : undefined;
  }

  protected aliasRecord(r: AliasRow): AliasRecord {
    return { id: r.id, address: r.address, domain: r.domain, targets: this.q.aliasTargets.all(r.address) as string[] };
  }

  // ---- credentials -----------------------------------------------------------------

  /**
   * Checks a login name and password. `invalid` for an unknown name or a wrong password
   * (which one is never told, and both cost one full hash check, so timing does not tell
   * either); `disabled` only with the right password. Throws when the database fails.
   */
  async checkCredentials(username: string, password: string): Promise<CredentialCheck> {
    let address: string | undefined;
    try {
      address = parseAddress(username).address;
    } catch {
      address = undefined; // not an address: nobody
    }
    // A database error propagates: the caller answers "try again later", not "wrong password".
    const row = address === undefined ? undefined : (this.q.credentialsByAddress.get(address) as (AccountRow & { password_hash: string }) | undefined);
    if (!row) {
      await verifyPassword(password, await dummyHash(this.scryptParams()));
      return { kind: 'invalid' };
    }
    const account = toAccount(row);
    let hash = row.password_hash;
    if (!this.authCache.hit(account.address, password, hash)) {
      if (!(await verifyPassword(password, hash))) return { kind: 'invalid' };
      if (needsRehash(hash, this.scryptParams())) hash = await this.rehash(account.address, hash, password);
      this.authCache.remember(account.address, password, hash);
    }
    return account.disabled ? { kind: 'disabled', account } : { kind: 'ok', account };
  }

  /** Password checks answered from the cache of recent successes, and the others. */
  authCacheStats(): { hits: number; misses: number; entries: number } {
    return { ...this.authCache.stats, entries: this.authCache.size };
  }

  /** The account when the name and password are right and the account is enabled; undefined on any failure. */
  async verifyCredentials(username: string, password: string): Promise<AccountRecord | undefined> {
    const r = await this.checkCredentials(username, password);
    return r.kind === 'ok' ? r.account : undefined;
  }

  /**
   * An imported hash (SHA512-CRYPT, bcrypt, Argon2 from Dovecot) or one made with other
   * scrypt parameters than the configured ones is replaced by a current scrypt hash once
   * the password is known to be right, as at login. Only if the stored hash is still the
   * one checked, so a password changed meanwhile (CLI passwd) is never overwritten. A
   * failure here does not fail the login: the next one tries again. Returns the hash
   * stored now.
   */
  private async rehash(address: string, old: string, password: string): Promise<string> {
    try {
      const fresh = await hashPassword(password, this.scryptParams());
      const changed = this.write((db) => db.prepare('UPDATE accounts SET password_hash = ? WHERE address = ? AND password_hash = ?').run(fresh, address, old).changes);
      return changed > 0 ? fresh : old;
    } catch {
      return old; // e.g. the database is busy; the old hash keeps working
    }
  }
}
