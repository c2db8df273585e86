/**
 * `rollback`: puts back the server database and config as they were before the last
 * schema upgrade (the newest `backups/pre-migrate-*` snapshot, or a named one).
 *
 * Never while a server runs on the data root (its pid file, ./lock.ts). What the
 * database holds now is kept first as `backups/pre-rollback-<time>/`, so a rollback
 * can itself be undone. What changed since the upgrade is named before anything
 * happens: accounts and domains added since (their mail stays in maildir/; `verify`
 * lists it), and queued messages the snapshot does not know, which would be lost: the
 * rollback refuses while there are any unless forced, and then their spool files are
 * moved into the pre-rollback directory rather than left for the server's start-up
 * clean-up to delete. Mailbox indexes are not touched: no migration changes them.
 */
import { existsSync } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { integrityProblems } from './files.js';
import { DataRootBusyError, lockDataRoot, lockHolder } from './lock.js';
import { clearMarker, listSnapshots, readMarker, restoreSnapshot, takeSnapshot, type Snapshot } from './snapshots.js';

export interface RollbackPlan {
  snapshot: Snapshot;
  /** Schema versions of the database now. */
  current: number[];
  accountsAdded: string[];
  domainsAdded: string[];
  /** Queue messages (spool paths) the snapshot does not hold. */
  queueAdded: string[];
  /** An upgrade stopped halfway. */
  halfMigrated: boolean;
}

export interface RollbackResult extends RollbackPlan {
  savedAs: string;
}

function read(file: string): { accounts: string[]; domains: string[]; queue: string[]; schema: number[] } {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  const all = (sql: string): unknown[] => {
    try {
      return db.prepare(sql).pluck().all();
    } catch {
      return []; // a table the half-migrated or older schema lacks
    }
  };
  try {
    return {
      accounts: all('SELECT address FROM accounts') as string[],
      domains: all('SELECT name FROM domains') as string[],
      queue: all('SELECT spool_path FROM queue_messages') as string[],
      schema: all('SELECT version FROM schema_migrations ORDER BY version') as number[],
    };
  } finally {
    db.close();
  }
}

/** What a rollback would do, without doing it. */
export function planRollback(dataRoot: string, name?: string): RollbackPlan {
  const all = listSnapshots(dataRoot, 'pre-migrate');
  const snapshot = name ? all.find((s) => s.name === name) : all[0];
  if (!snapshot) throw new Error(name ? `no snapshot ${name} in ${path.join(dataRoot, 'backups')}` : 'no snapshot taken before an upgrade: nothing to roll back to');
  const live = path.join(dataRoot, 'config', 'mailserver.db');
  const now = existsSync(live) ? read(live) : { accounts: [], domains: [], queue: [], schema: [] };
  const then = read(path.join(snapshot.dir, 'config', 'mailserver.db'));
  const minus = (a: string[], b: string[]) => a.filter((x) => !new Set(b).has(x)).sort();
  return {
    snapshot,
    current: now.schema,
    accountsAdded: minus(now.accounts, then.accounts),
    domainsAdded: minus(now.domains, then.domains),
    queueAdded: minus(now.queue, then.queue),
    halfMigrated: readMarker(dataRoot) !== undefined,
  };
}

export function rollback(dataRoot: string, opts: { snapshot?: string; force?: boolean } = {}): Promise<RollbackResult> {
  const holder = lockHolder(dataRoot);
  if (holder) throw new DataRootBusyError(holder, dataRoot);
  const lock = lockDataRoot(dataRoot, 'rollback');
  return run(dataRoot, opts).finally(() => lock.release());
}

async function run(dataRoot: string, opts: { snapshot?: string; force?: boolean }): Promise<RollbackResult> {
  const plan = planRollback(dataRoot, opts.snapshot);
  const damaged = integrityProblems(path.join(plan.snapshot.dir, 'config', 'mailserver.db'));
  if (damaged.length) throw new Error(`the snapshot ${plan.snapshot.name} is damaged (${damaged[0]}); pick another with --snapshot`);
  if (plan.queueAdded.length && !opts.force) {
    throw new Error(
      `${plan.queueAdded.length} queued message(s) arrived after the snapshot and would not be in the queue any more; ` +
        'let this version deliver them first ("mailserver queue list"), or pass --force to keep their files aside in the pre-rollback snapshot',
    );
  }
  const live = path.join(dataRoot, 'config', 'mailserver.db');
  const db = new Database(live, { fileMustExist: true });
  let saved: Snapshot;
  try {
    db.pragma('busy_timeout = 10000');
    saved = takeSnapshot(db, dataRoot, 'pre-rollback', { applied: plan.current });
  } finally {
    db.close();
  }
  if (plan.queueAdded.length) {
    await mkdir(path.join(saved.dir, 'queue'), { recursive: true, mode: 0o750 });
    for (const rel of plan.queueAdded) {
      const abs = path.resolve(dataRoot, rel);
      if (existsSync(abs)) await rename(abs, path.join(saved.dir, 'queue', path.basename(abs)));
    }
  }
  restoreSnapshot(dataRoot, plan.snapshot, { config: true });
  clearMarker(dataRoot);
  return { ...plan, savedAs: saved.name };
}
