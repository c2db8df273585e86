/**
 * The write side of the account database (mox's admin.go): adding and removing domains,
 * accounts and aliases, passwords, quotas, disabling. Every change goes through
 * `this.write()` (lookup.ts), the only handle on the database for writing: it runs the
 * change in one immediate transaction, so a failure leaves nothing half-written, and
 * empties the lookup cache and the remembered password checks afterwards. A method added
 * here cannot change the database without going through it; test/accounts/cache.test.ts
 * lists every method of this class (helpers are #private, so the list is the public
 * writes) and fails for one it does not exercise.
 *
 * Bad input throws AccountsError with one clear line.
 *
 * Removal rules: removing an account (or a domain with --force) also removes alias
 * targets that pointed at it, and aliases left with no target. The Maildir is kept
 * unless `deleteMail` is given (like Dovecot, which never deletes mail on its own, and
 * unlike an rm -rf that cannot be undone); adding the account again finds its old mail.
 */
import type { Db } from '../db/index.js';
import type { MailStore } from '../store/types.js';
import { parseAddress, subaddressBase } from './address.js';
import { AccountsError, addr, aliasKey, checkImportedHash, dom, validQuota } from './errors.js';
import { AccountLookup, toAccount, toDomain, type AccountRow, type AccountsOptions, type AliasRow, type DomainRow } from './lookup.js';
import { hashPassword } from './passwords.js';
import type { AccountRecord, AliasRecord, DomainRecord } from './types.js';

export class AccountAdmin extends AccountLookup {
  readonly #store?: MailStore;

  constructor(db: Db, store?: MailStore, opts: AccountsOptions = {}) {
    super(db, opts);
    this.#store = store;
  }

  // ---- domains ------------------------------------------------------------------

  addDomain(name: string): DomainRecord {
    const n = dom(name);
    return this.write((db) => {
      if (this.q.domainByName.get(n)) throw new AccountsError('exists', `domain ${n} already exists`);
      db.prepare('INSERT INTO domains (name, created_at) VALUES (?, ?)').run(n, Date.now());
      return toDomain(this.q.domainByName.get(n) as DomainRow);
    });
  }

  setDomainQuota(name: string, bytes: number | null): DomainRecord {
    const n = dom(name);
    const q = validQuota(bytes, 'quota');
    return this.write((db) => {
      db.prepare('UPDATE domains SET quota_bytes = ? WHERE id = ?').run(q, this.domainRow(n).id);
      return toDomain(this.q.domainByName.get(n) as DomainRow);
    });
  }

  /**
   * Removes a domain. Without `force`, refuses while it has accounts or aliases. With
   * `force`, removes them too (and alias targets elsewhere that pointed into it), in
   * one transaction; Maildirs are removed only with `deleteMail`. Returns the removed
   * account addresses.
   */
  async removeDomain(name: string, opts: { force?: boolean; deleteMail?: boolean } = {}): Promise<{ accounts: string[]; aliases: string[] }> {
    const n = dom(name);
    const removed = this.write((db) => {
      const row = this.domainRow(n);
      const accounts = db.prepare('SELECT address FROM accounts WHERE domain_id = ? ORDER BY address').pluck().all(row.id) as string[];
      const aliases = db.prepare('SELECT address FROM aliases WHERE domain_id = ? ORDER BY address').pluck().all(row.id) as string[];
      if ((accounts.length > 0 || aliases.length > 0) && !opts.force) {
        throw new AccountsError('notEmpty', `domain ${n} still has ${accounts.length} account(s) and ${aliases.length} alias(es); remove them first or use --force`);
      }
      db.prepare('DELETE FROM aliases WHERE domain_id = ?').run(row.id); // targets cascade
      db.prepare('DELETE FROM accounts WHERE domain_id = ?').run(row.id);
      // Targets elsewhere that pointed into this domain would otherwise start being
      // forwarded to the internet once the domain is no longer local.
      db.prepare(`DELETE FROM alias_targets WHERE target LIKE ? ESCAPE '\\'`).run(`%@${n.replace(/[\\%_]/g, '\\$&')}`);
      dropEmptyAliases(db);
      db.prepare('DELETE FROM domains WHERE id = ?').run(row.id); // DKIM keys cascade
      return { accounts, aliases };
    });
    if (opts.deleteMail && this.#store) {
      for (const a of removed.accounts) await this.#store.removeAccount(a);
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
    this.#checkNewAccount(a); // fail fast, before spending time on the hash
    const hash = opts.passwordHash ?? (await hashPassword(password, this.scryptParams()));
    const id = this.write((db) => {
      const d = this.#checkNewAccount(a);
      const info = db
        .prepare('INSERT INTO accounts (domain_id, local, address, password_hash, quota_bytes, quota_messages, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(d.id, a.local, a.address, hash, quotaBytes, quotaMessages, Date.now());
      return Number(info.lastInsertRowid);
    });
    if (this.#store) {
      try {
        await this.#store.ensureAccount(a.address);
      } catch (err) {
        this.write((db) => db.prepare('DELETE FROM accounts WHERE id = ?').run(id));
        throw new AccountsError('storage', `could not create the mailbox of ${a.address}: ${(err as Error).message}`);
      }
    }
    return this.getAccount(a.address)!;
  }

  #checkNewAccount(a: { address: string; domain: string }): DomainRow {
    const d = this.domainRow(a.domain);
    if (this.q.accountByAddress.get(a.address)) throw new AccountsError('exists', `account ${a.address} already exists`);
    if (this.q.aliasByAddress.get(a.address)) throw new AccountsError('exists', `${a.address} is already an alias`);
    return d;
  }

  async setPassword(address: string, password: string): Promise<void> {
    const a = addr(address);
    if (password.length === 0) throw new AccountsError('invalid', 'the password must not be empty');
    if (!this.q.accountByAddress.get(a.address)) throw new AccountsError('notFound', `unknown account ${a.address}`);
    this.#storeHash(a.address, await hashPassword(password, this.scryptParams()));
  }

  /** Stores an existing hash as is (imports from Dovecot / docker-mailserver). */
  setPasswordHash(address: string, hash: string): void {
    const a = addr(address);
    checkImportedHash(hash);
    this.#storeHash(a.address, hash);
  }

  #storeHash(address: string, hash: string): void {
    this.write((db) => {
      const info = db.prepare('UPDATE accounts SET password_hash = ? WHERE address = ?').run(hash, address);
      if (info.changes === 0) throw new AccountsError('notFound', `unknown account ${address}`);
    });
  }

  setDisabled(address: string, disabled: boolean): void {
    const a = addr(address);
    this.write((db) => {
      const info = db.prepare('UPDATE accounts SET disabled = ? WHERE address = ?').run(disabled ? 1 : 0, a.address);
      if (info.changes === 0) throw new AccountsError('notFound', `unknown account ${a.address}`);
    });
  }

  setAccountQuota(address: string, quota: { bytes?: number | null; messages?: number | null }): AccountRecord {
    const a = addr(address);
    const bytes = quota.bytes === undefined ? undefined : validQuota(quota.bytes, 'quota');
    const messages = quota.messages === undefined ? undefined : validQuota(quota.messages, 'message quota');
    return this.write((db) => {
      const cur = this.q.accountByAddress.get(a.address) as AccountRow | undefined;
      if (!cur) throw new AccountsError('notFound', `unknown account ${a.address}`);
      db.prepare('UPDATE accounts SET quota_bytes = ?, quota_messages = ? WHERE id = ?').run(bytes === undefined ? cur.quota_bytes : bytes, messages === undefined ? cur.quota_messages : messages, cur.id);
      return toAccount(this.q.accountByAddress.get(a.address) as AccountRow);
    });
  }

  /**
   * Removes an account, and alias targets pointing at it (aliases left empty go too).
   * The Maildir stays unless `deleteMail` is set.
   */
  async removeAccount(address: string, opts: { deleteMail?: boolean } = {}): Promise<void> {
    const a = addr(address);
    this.write((db) => {
      const info = db.prepare('DELETE FROM accounts WHERE address = ?').run(a.address);
      if (info.changes === 0) throw new AccountsError('notFound', `unknown account ${a.address}`);
      db.prepare('DELETE FROM alias_targets WHERE target = ?').run(a.address);
      dropEmptyAliases(db);
    });
    if (opts.deleteMail && this.#store) await this.#store.removeAccount(a.address);
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
    return this.write((db) => {
      const d = this.domainRow(key.domain);
      if (!key.catchAll && this.q.accountByAddress.get(key.address)) {
        throw new AccountsError('exists', `${key.address} is an account; an alias with the same address would never be used`);
      }
      for (const t of norm) {
        if (t === key.address) throw new AccountsError('loop', `alias ${key.address} cannot point at itself`);
        const tp = parseAddress(t);
        if (this.isLocalDomain(tp.domain) && !this.#knownLocal(t)) {
          throw new AccountsError('notFound', `target ${t} is neither an account nor an alias (${tp.domain} is a local domain)`);
        }
      }
      let row = this.q.aliasByAddress.get(key.address) as AliasRow | undefined;
      if (!row) {
        db.prepare('INSERT INTO aliases (domain_id, address, created_at) VALUES (?, ?, ?)').run(d.id, key.address, Date.now());
        row = this.q.aliasByAddress.get(key.address) as AliasRow;
      }
      const insert = db.prepare('INSERT INTO alias_targets (alias_id, target) VALUES (?, ?)');
      const existing = new Set(this.q.aliasTargets.all(key.address) as string[]);
      for (const t of norm) {
        if (existing.has(t)) throw new AccountsError('exists', `alias ${key.address} already has target ${t}`);
        insert.run(row.id, t);
      }
      // An alias chain that comes back to this alias is a loop: refuse it (the
      // transaction rolls back, so nothing is written).
      const loop = this.#findLoop(key.address);
      if (loop) throw new AccountsError('loop', `alias loop: ${loop.join(' -> ')}`);
      return this.aliasRecord(row);
    });
  }

  /** Removes a whole alias, or one target of it (the alias goes when its last target does). */
  removeAlias(address: string, target?: string): void {
    const key = aliasKey(address);
    this.write((db) => {
      const row = this.q.aliasByAddress.get(key.address) as AliasRow | undefined;
      if (!row) throw new AccountsError('notFound', `unknown alias ${key.address}`);
      if (target === undefined) {
        db.prepare('DELETE FROM aliases WHERE id = ?').run(row.id);
        return;
      }
      const t = addr(target).address;
      const info = db.prepare('DELETE FROM alias_targets WHERE alias_id = ? AND target = ?').run(row.id, t);
      if (info.changes === 0) throw new AccountsError('notFound', `alias ${key.address} has no target ${t}`);
      dropEmptyAliases(db);
    });
  }

  #knownLocal(address: string): boolean {
    const p = parseAddress(address);
    const candidates = [p.address];
    const base = subaddressBase(p.local);
    if (base) candidates.push(`${base}@${p.domain}`);
    return candidates.some((c) => this.q.accountByAddress.get(c) !== undefined || this.q.aliasByAddress.get(c) !== undefined);
  }

  /** The alias a target continues at, following resolution order; undefined when it ends in an account or nowhere. */
  #aliasStep(target: string): string | undefined {
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
  #findLoop(start: string): string[] | undefined {
    const done = new Set<string>();
    const visit = (cur: string, path: string[]): string[] | undefined => {
      for (const t of this.q.aliasTargets.all(cur) as string[]) {
        const next = this.#aliasStep(t);
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
}

/** Deletes aliases with no target left, then targets that pointed at those, until stable. */
function dropEmptyAliases(db: Db): void {
  const empty = db.prepare('SELECT address FROM aliases WHERE id NOT IN (SELECT DISTINCT alias_id FROM alias_targets)').pluck();
  const delAlias = db.prepare('DELETE FROM aliases WHERE address = ?');
  const delTarget = db.prepare('DELETE FROM alias_targets WHERE target = ?');
  for (let gone = empty.all() as string[]; gone.length > 0; gone = empty.all() as string[]) {
    for (const a of gone) {
      delAlias.run(a);
      if (!a.startsWith('@')) delTarget.run(a);
    }
  }
}
