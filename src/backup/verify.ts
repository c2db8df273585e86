/**
 * `verifyDataRoot`: checks a data root and says what it would fix; with `fix`, fixes it.
 *
 * - the server database: `PRAGMA integrity_check`, foreign keys, schema versions this
 *   program knows, an upgrade left halfway (backups/migrating.json);
 * - every account: its Maildir exists, its index is sound and agrees with the files
 *   (./verify-mail.ts). Fix: the store's `reindex` (a damaged index is moved aside
 *   first and rebuilt from the files; UIDs come back from the names);
 * - orphans: Maildirs of no account (reported, never removed: it is mail), queue rows
 *   whose spool file is gone (fix: drop them; nothing can deliver them), spool files no
 *   row names (fix: remove them, as the server does at start: nobody got a 250 for them),
 *   a stale pid file (fix: remove it);
 * - permissions: the data root, config/ and certs/ must not be open to other users (the
 *   database holds password hashes and DKIM keys); files the server's user does not own.
 *
 * A server may be running: a delivery between reading a directory and reading the
 * index looks like a file without a row, so an account that disagrees is looked at a
 * second time after a pause before it is reported.
 */
import { existsSync, statSync } from 'node:fs';
import { chmod, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS } from '../db/migrations.js';
import { silentLogger } from '../log.js';
import { integrityProblems } from './files.js';
import { LOCK_FILE, lockHolder } from './lock.js';
import { readMarker } from './snapshots.js';
import { accountDir, checkAccountMail, INDEX_FILE } from './verify-mail.js';

export type Severity = 'error' | 'warning' | 'info';

export interface Finding {
  severity: Severity;
  where: string;
  problem: string;
  /** What --fix does about it; absent when it is for a person to decide. */
  fix?: string;
  fixed?: boolean;
}

export interface VerifyReport {
  findings: Finding[];
  accounts: number;
  messages: number;
  /** No error or warning left unfixed. */
  ok: boolean;
}

export interface VerifyOptions {
  fix?: boolean;
  /** Pause before an account that disagrees is checked again (default 1500 ms while a server runs, else none). */
  recheckMs?: number;
}

interface Ctx {
  root: string;
  fix: boolean;
  findings: Finding[];
  add(f: Finding, doFix?: () => Promise<void>): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function checkDatabase(c: Ctx, file: string): Promise<Database.Database | undefined> {
  if (!existsSync(file)) {
    await c.add({ severity: 'error', where: 'config/mailserver.db', problem: 'missing: this is not a data root, or its database was lost (restore a backup)' });
    return undefined;
  }
  for (const p of integrityProblems(file).slice(0, 20)) await c.add({ severity: 'error', where: 'config/mailserver.db', problem: `integrity: ${p} (restore a backup, or "mailserver rollback" after an upgrade)` });
  const db = new Database(file, { fileMustExist: true, readonly: !c.fix });
  db.pragma('busy_timeout = 10000');
  // Removing a queue message removes its recipients with it (ON DELETE CASCADE).
  if (c.fix) db.pragma('foreign_keys = ON');
  let applied: number[] = [];
  try {
    applied = db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all() as number[];
  } catch {
    await c.add({ severity: 'error', where: 'config/mailserver.db', problem: 'no schema_migrations table: not a mail server database' });
  }
  const known = new Set(MIGRATIONS.map((m) => m.version));
  const unknown = applied.filter((v) => !known.has(v));
  if (unknown.length) await c.add({ severity: 'warning', where: 'config/mailserver.db', problem: `schema versions ${unknown.join(', ')} come from a newer mailserver than this one` });
  const pending = MIGRATIONS.filter((m) => !applied.includes(m.version)).length;
  if (pending && applied.length) await c.add({ severity: 'info', where: 'config/mailserver.db', problem: `${pending} schema migration(s) will be applied at the next start (after a snapshot)` });
  const marker = readMarker(c.root);
  if (marker) await c.add({ severity: 'error', where: 'backups/migrating.json', problem: `an upgrade to schema version ${Math.max(...marker.pending)} did not finish; run "mailserver rollback"` });
  return db;
}

async function checkAccounts(c: Ctx, db: Database.Database, recheckMs: number): Promise<{ accounts: number; messages: number }> {
  const addresses = db.prepare('SELECT address FROM accounts ORDER BY address').pluck().all() as string[];
  let messages = 0;
  let store: import('../store/types.js').MailStore | undefined;
  const reindex = async (address: string) => {
    if (!store) store = (await import('../store/index.js')).createStore({ dataRoot: c.root, log: silentLogger });
    await store.reindex(address);
  };
  try {
    for (const address of addresses) {
      const root = accountDir(c.root, address);
      if (!existsSync(root)) {
        await c.add({ severity: 'warning', where: address, problem: 'has no Maildir', fix: 'create it (empty)' }, () => reindex(address));
        continue;
      }
      let r = await checkAccountMail(root);
      if (r.mismatches.length) {
        await sleep(recheckMs); // a delivery in flight looks like a file without a row
        r = await checkAccountMail(root);
      }
      messages += r.messages;
      if (r.missingIndex) await c.add({ severity: 'info', where: address, problem: 'no index yet (built from the files at first use)', fix: 'build it now' }, () => reindex(address));
      if (r.corrupt.length) {
        const file = path.join(root, INDEX_FILE);
        await c.add({ severity: 'error', where: address, problem: `index damaged: ${r.corrupt[0]}`, fix: 'move it aside and rebuild it from the files (keywords are lost, UIDs kept)' }, async () => {
          for (const x of ['-wal', '-shm']) await rm(file + x, { force: true });
          await rename(file, `${file}.corrupt-${Date.now()}`);
          await reindex(address);
        });
      }
      if (r.mismatches.length) {
        await c.add({ severity: 'warning', where: address, problem: `index and files disagree: ${r.mismatches.slice(0, 3).join('; ')}${r.mismatches.length > 3 ? `; and ${r.mismatches.length - 3} more` : ''}`, fix: 'reindex' }, () =>
          reindex(address),
        );
      }
    }
  } finally {
    await store?.close();
  }
  // Maildirs nobody owns.
  const known = new Set(addresses.map((a) => accountDir(c.root, a)));
  const maildir = path.join(c.root, 'maildir');
  for (const domain of existsSync(maildir) ? await readdir(maildir) : []) {
    const dd = path.join(maildir, domain);
    if (!statSync(dd).isDirectory()) continue;
    for (const local of await readdir(dd)) {
      const dir = path.join(dd, local);
      if (!known.has(dir) && statSync(dir).isDirectory()) {
        await c.add({ severity: 'warning', where: `maildir/${domain}/${local}`, problem: 'mail of no account (removed, or added after the database was restored); add the account again to reach it, or remove the directory' });
      }
    }
  }
  return { accounts: addresses.length, messages };
}

async function checkQueue(c: Ctx, db: Database.Database): Promise<void> {
  let rows: Array<{ id: number; spool_path: string }> = [];
  try {
    rows = db.prepare('SELECT id, spool_path FROM queue_messages').all() as typeof rows;
  } catch {
    return; // no queue table: reported as a schema problem already
  }
  for (const r of rows) {
    if (existsSync(path.resolve(c.root, r.spool_path))) continue;
    await c.add({ severity: 'error', where: `queue message ${r.id}`, problem: `its spool file ${r.spool_path} is gone`, fix: 'remove it from the queue (it cannot be delivered)' }, async () => {
      db.prepare('DELETE FROM queue_messages WHERE id = ?').run(r.id);
    });
  }
  const dir = path.join(c.root, 'queue');
  const named = new Set(rows.map((r) => path.resolve(c.root, r.spool_path)));
  for (const name of existsSync(dir) ? await readdir(dir) : []) {
    const abs = path.join(dir, name);
    if (named.has(abs) || Date.now() - (await stat(abs)).mtimeMs < 60_000) continue;
    await c.add({ severity: 'warning', where: `queue/${name}`, problem: 'no queue row names this file (left by a crash before its 250)', fix: 'remove it' }, () => rm(abs, { force: true }));
  }
}

/** Other users' access: directories must keep them out; a file only matters where its directory lets them in. */
async function checkPermissions(c: Ctx): Promise<void> {
  const uid = process.getuid?.();
  const modeOf = async (rel: string) => (await stat(path.join(c.root, rel)).catch(() => undefined))?.mode ?? 0;
  // Other users reach `rel` only through directories they may enter, from the data root down.
  const reachable = async (rel: string) => {
    const parts = rel ? rel.split('/') : [];
    for (let i = 0; i <= parts.length; i++) if (!((await modeOf(parts.slice(0, i).join('/'))) & 0o001)) return false;
    return true;
  };
  const check = async (rel: string, bits: number, what: string, fixMode: (mode: number) => number) => {
    const abs = path.join(c.root, rel);
    const st = await stat(abs).catch(() => undefined);
    if (!st) return;
    const where = rel || 'data root';
    if (st.mode & bits && (rel === '' || (await reachable(path.dirname(rel) === '.' ? '' : path.dirname(rel))))) {
      await c.add({ severity: 'warning', where, problem: `${what} (mode ${(st.mode & 0o777).toString(8)})`, fix: 'remove the access of other users' }, () => chmod(abs, fixMode(st.mode & 0o7777)));
    }
    if (uid !== undefined && uid !== 0 && st.uid !== uid) await c.add({ severity: 'warning', where, problem: `owned by uid ${st.uid}, not by this user (uid ${uid}): the server may fail to write it` });
  };
  await check('', 0o002, 'writable by other users', (m) => m & ~0o002);
  for (const dir of ['config', 'certs', 'backups']) await check(dir, 0o007, 'open to other users; it holds password hashes and keys', (m) => m & ~0o007);
  await check('config/mailserver.db', 0o007, 'readable by other users; it holds password hashes and DKIM keys', (m) => m & ~0o007);
  const certs = path.join(c.root, 'certs');
  for (const name of existsSync(certs) ? await readdir(certs) : []) {
    if (/key/i.test(name)) await check(`certs/${name}`, 0o007, 'a private key readable by other users', (m) => m & ~0o077);
  }
}

export async function verifyDataRoot(dataRoot: string, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const root = path.resolve(dataRoot);
  const findings: Finding[] = [];
  const c: Ctx = {
    root,
    fix: Boolean(opts.fix),
    findings,
    async add(f, doFix) {
      findings.push(f);
      if (!f.fix || !doFix || !c.fix) return;
      await doFix();
      f.fixed = true;
    },
  };
  if (existsSync(path.join(root, LOCK_FILE)) && !lockHolder(root)) {
    await c.add({ severity: 'info', where: LOCK_FILE, problem: 'left by a server that is not running', fix: 'remove it' }, () => rm(path.join(root, LOCK_FILE), { force: true }));
  }
  const db = await checkDatabase(c, path.join(root, 'config', 'mailserver.db'));
  let counts = { accounts: 0, messages: 0 };
  if (db) {
    try {
      // Deliveries in flight only where a server runs.
      counts = await checkAccounts(c, db, opts.recheckMs ?? (lockHolder(root) ? 1500 : 0));
      await checkQueue(c, db);
    } finally {
      db.close();
    }
  }
  await checkPermissions(c);
  const ok = !findings.some((f) => f.severity !== 'info' && !f.fixed);
  return { findings, ...counts, ok };
}
