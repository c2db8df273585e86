/**
 * Sieve scripts per account, the admin's vacation setting, and the record of vacation
 * replies sent, in the server database (migration 60).
 *
 * Why SQLite and not files under the account's directory as Pigeonhole keeps them
 * (~/sieve/*.sieve and a .dovecot.sieve symlink to the active one): the server already
 * keeps accounts in this database, so a script is backed up, restored and deleted with
 * its account (ON DELETE CASCADE); SETACTIVE, RENAMESCRIPT and PUTSCRIPT are single
 * transactions (no window with two active scripts or a half-written file, which
 * Pigeonhole handles with rename tricks); the CLI and the web admin change scripts
 * while the server runs without file permissions or inotify; and delivery finds the
 * active script with one indexed query. Scripts are small (bounded by
 * sieve.max_script_size), so keeping them in rows costs nothing.
 *
 * The store validates names (RFC 5804 §1.6) and enforces the per-account limits
 * (number of scripts, size); callers compile a script before putting it.
 */
import type { Db } from '../db/index.js';

export class SieveStoreError extends Error {
  constructor(
    /** nonexistent: no such script; exists: the new name is taken; active: cannot delete the active script; quota: a limit; invalidName; noAccount; invalid: a bad setting. */
    readonly kind: 'nonexistent' | 'exists' | 'active' | 'quota' | 'invalidName' | 'noAccount' | 'invalid',
    message: string,
  ) {
    super(message);
    this.name = 'SieveStoreError';
  }
}

export interface ScriptInfo {
  name: string;
  active: boolean;
  size: number;
  updatedAt: Date;
}

export interface ActiveScript {
  id: number;
  name: string;
  content: string;
  updatedAt: number;
}

export interface VacationSetting {
  enabled: boolean;
  subject?: string;
  message: string;
  days: number;
}

export interface SieveLimits {
  maxScripts: number;
  maxScriptBytes: number;
}

export const DEFAULT_SIEVE_LIMITS: SieveLimits = { maxScripts: 20, maxScriptBytes: 256 * 1024 };

/** RFC 5804 §1.6: no control characters (C0, DEL, C1), no line or paragraph separators. */
const BAD_NAME = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
export const MAX_NAME_LENGTH = 128;

export function checkScriptName(name: string): void {
  if (name.length === 0) throw new SieveStoreError('invalidName', 'a script name must not be empty');
  if (name.length > MAX_NAME_LENGTH) throw new SieveStoreError('invalidName', `a script name is at most ${MAX_NAME_LENGTH} characters`);
  if (BAD_NAME.test(name)) throw new SieveStoreError('invalidName', 'a script name must not contain control characters');
}

export class SieveStore {
  constructor(
    private readonly db: Db,
    private readonly limits: () => SieveLimits = () => DEFAULT_SIEVE_LIMITS,
  ) {}

  private accountId(account: string): number {
    const id = this.db.prepare('SELECT id FROM accounts WHERE address = ?').pluck().get(account.toLowerCase()) as number | undefined;
    if (id === undefined) throw new SieveStoreError('noAccount', `no account ${account}`);
    return id;
  }

  list(account: string): ScriptInfo[] {
    const rows = this.db
      .prepare('SELECT name, active, length(CAST(content AS BLOB)) AS size, updated_at FROM sieve_scripts WHERE account_id = ? ORDER BY name')
      .all(this.accountId(account)) as Array<{ name: string; active: number; size: number; updated_at: number }>;
    return rows.map((r) => ({ name: r.name, active: r.active === 1, size: r.size, updatedAt: new Date(r.updated_at) }));
  }

  get(account: string, name: string): string {
    const c = this.db.prepare('SELECT content FROM sieve_scripts WHERE account_id = ? AND name = ?').pluck().get(this.accountId(account), name) as string | undefined;
    if (c === undefined) throw new SieveStoreError('nonexistent', `no script named "${name}"`);
    return c;
  }

  /**
   * RFC 5804 §2.6 HAVESPACE: whether a script of this size could be stored under this
   * name now (replacing one of that name does not add to the count). Throws 'quota'.
   */
  checkSpace(account: string, name: string, bytes: number): void {
    const { maxScripts, maxScriptBytes } = this.limits();
    if (bytes > maxScriptBytes) throw new SieveStoreError('quota', `the script is larger than the limit of ${maxScriptBytes} bytes`);
    const id = this.accountId(account);
    const exists = this.db.prepare('SELECT 1 FROM sieve_scripts WHERE account_id = ? AND name = ?').get(id, name);
    const count = this.db.prepare('SELECT count(*) FROM sieve_scripts WHERE account_id = ?').pluck().get(id) as number;
    if (!exists && count >= maxScripts) throw new SieveStoreError('quota', `the account already has the maximum of ${maxScripts} scripts`);
  }

  /** Creates or replaces a script (its active state is kept). */
  put(account: string, name: string, content: string): void {
    checkScriptName(name);
    this.db.transaction(() => {
      this.checkSpace(account, name, Buffer.byteLength(content, 'utf8'));
      this.db
        .prepare(
          `INSERT INTO sieve_scripts (account_id, name, content, active, updated_at) VALUES (?, ?, ?, 0, ?)
           ON CONFLICT (account_id, name) DO UPDATE SET content = excluded.content,
             updated_at = max(excluded.updated_at, sieve_scripts.updated_at + 1)`,
        )
        .run(this.accountId(account), name, content, Date.now());
    }).immediate();
  }

  /** RFC 5804 §2.8 SETACTIVE: makes `name` the active script; "" deactivates all. */
  setActive(account: string, name: string): void {
    const id = this.accountId(account);
    this.db.transaction(() => {
      if (name !== '' && !this.db.prepare('SELECT 1 FROM sieve_scripts WHERE account_id = ? AND name = ?').get(id, name)) {
        throw new SieveStoreError('nonexistent', `no script named "${name}"`);
      }
      this.db.prepare('UPDATE sieve_scripts SET active = 0 WHERE account_id = ? AND active = 1 AND name <> ?').run(id, name);
      if (name !== '') this.db.prepare('UPDATE sieve_scripts SET active = 1 WHERE account_id = ? AND name = ?').run(id, name);
    }).immediate();
  }

  /** RFC 5804 §2.10 DELETESCRIPT: the active script cannot be deleted. */
  delete(account: string, name: string): void {
    const id = this.accountId(account);
    const row = this.db.prepare('SELECT active FROM sieve_scripts WHERE account_id = ? AND name = ?').get(id, name) as { active: number } | undefined;
    if (!row) throw new SieveStoreError('nonexistent', `no script named "${name}"`);
    if (row.active) throw new SieveStoreError('active', `"${name}" is the active script; deactivate it first`);
    this.db.prepare('DELETE FROM sieve_scripts WHERE account_id = ? AND name = ?').run(id, name);
  }

  /** RFC 5804 §2.11.1 RENAMESCRIPT: the active flag moves with the script. */
  rename(account: string, from: string, to: string): void {
    checkScriptName(to);
    const id = this.accountId(account);
    this.db.transaction(() => {
      if (!this.db.prepare('SELECT 1 FROM sieve_scripts WHERE account_id = ? AND name = ?').get(id, from)) throw new SieveStoreError('nonexistent', `no script named "${from}"`);
      if (from !== to && this.db.prepare('SELECT 1 FROM sieve_scripts WHERE account_id = ? AND name = ?').get(id, to)) throw new SieveStoreError('exists', `a script named "${to}" exists`);
      this.db.prepare('UPDATE sieve_scripts SET name = ? WHERE account_id = ? AND name = ?').run(to, id, from);
    }).immediate();
  }

  /** The script delivery runs, if any (one indexed lookup; no error for an unknown account). */
  active(account: string): ActiveScript | undefined {
    const row = this.db
      .prepare('SELECT s.id, s.name, s.content, s.updated_at FROM sieve_scripts s JOIN accounts a ON a.id = s.account_id WHERE a.address = ? AND s.active = 1')
      .get(account.toLowerCase()) as { id: number; name: string; content: string; updated_at: number } | undefined;
    return row ? { id: row.id, name: row.name, content: row.content, updatedAt: row.updated_at } : undefined;
  }

  // --- the admin's vacation setting (also for the web admin's /account page) ---

  getVacation(account: string): VacationSetting | undefined {
    const r = this.db.prepare('SELECT enabled, subject, message, days FROM sieve_vacation WHERE account_id = ?').get(this.accountId(account)) as
      | { enabled: number; subject: string | null; message: string; days: number }
      | undefined;
    return r ? { enabled: r.enabled === 1, subject: r.subject ?? undefined, message: r.message, days: r.days } : undefined;
  }

  setVacation(account: string, v: VacationSetting): void {
    this.db
      .prepare(
        `INSERT INTO sieve_vacation (account_id, enabled, subject, message, days, updated_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (account_id) DO UPDATE SET enabled = excluded.enabled, subject = excluded.subject, message = excluded.message, days = excluded.days, updated_at = excluded.updated_at`,
      )
      .run(this.accountId(account), v.enabled ? 1 : 0, v.subject ?? null, v.message, v.days, Date.now());
  }

  /** The enabled vacation setting for delivery, without an error for unknown accounts. */
  activeVacation(account: string): (VacationSetting & { updatedAt: number }) | undefined {
    const r = this.db
      .prepare('SELECT v.subject, v.message, v.days, v.updated_at FROM sieve_vacation v JOIN accounts a ON a.id = v.account_id WHERE a.address = ? AND v.enabled = 1')
      .get(account.toLowerCase()) as { subject: string | null; message: string; days: number; updated_at: number } | undefined;
    return r ? { enabled: true, subject: r.subject ?? undefined, message: r.message, days: r.days, updatedAt: r.updated_at } : undefined;
  }

  // --- RFC 5230 §4.2: replies sent ---

  /**
   * Records that a reply to `sender` under `handle` goes out now, unless one went out
   * within the period: true when the caller should send. One statement, so two
   * deliveries at once cannot both answer.
   */
  claimVacationReply(account: string, handle: string, sender: string, periodMs: number, now = Date.now()): boolean {
    const id = this.accountId(account);
    const info = this.db
      .prepare(
        `INSERT INTO sieve_vacation_sent (account_id, handle, sender, expires_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (account_id, handle, sender) DO UPDATE SET expires_at = excluded.expires_at WHERE sieve_vacation_sent.expires_at <= ?`,
      )
      .run(id, handle, sender.toLowerCase(), now + periodMs, now);
    if (Math.random() < 0.01) this.db.prepare('DELETE FROM sieve_vacation_sent WHERE expires_at <= ?').run(now);
    return info.changes > 0;
  }
}
