/**
 * The guard around schema upgrades (see ./index.ts and src/backup/snapshots.ts):
 *
 *   marker left by an interrupted upgrade?  → another live process migrating: wait;
 *                                             migrations it named still pending: refuse
 *                                             (HalfMigratedError); else just clear it
 *   nothing pending                         → done
 *   a database with data                    → snapshot, marker, migrate, clear marker,
 *                                             keep the newest N snapshots
 *   a migration throws                      → close, put the snapshot back, clear the
 *                                             marker, MigrationError (the server does not start)
 *
 * A brand-new database has nothing to lose: it is migrated without a snapshot.
 */
import { rmSync } from 'node:fs';
import { processAlive, processStartTime } from '../backup/lock.js';
import { clearMarker, pruneSnapshots, readMarker, restoreSnapshot, takeSnapshot, writeMarker, type Snapshot } from '../backup/snapshots.js';
import type { Db } from './index.js';
import { MIGRATIONS, type Migration } from './migrations.js';

export interface UpgradeOptions {
  /** The migrations to apply (tests add one that fails); MIGRATIONS by default. */
  migrations?: readonly Migration[];
  /** Pre-migrate snapshots kept (config backup.keep_snapshots); 5 by default. */
  keepSnapshots?: number;
  /** Told about snapshots taken and pruned. */
  onSnapshot?: (event: { taken?: Snapshot; pruned: string[] }) => void;
}

/** A migration failed; the database was put back as it was before the upgrade. */
export class MigrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationError';
  }
}

/** An earlier upgrade stopped halfway; the server must not run on this database. */
export class HalfMigratedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HalfMigratedError';
  }
}

export function appliedVersions(db: Db): Set<number> {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)');
  return new Set(db.prepare('SELECT version FROM schema_migrations').pluck().all() as number[]);
}

/**
 * Applies the pending migrations in order, each in its own transaction; returns the
 * versions applied. An error carries the failing version in `migration`.
 */
export function migrate(db: Db, migrations: readonly Migration[] = MIGRATIONS): number[] {
  const done = appliedVersions(db);
  const applied: number[] = [];
  for (const m of migrations) {
    if (done.has(m.version)) continue;
    try {
      db.transaction(() => {
        // Another process (CLI vs server) may have applied it since we looked.
        const again = db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?').get(m.version);
        if (again) return;
        db.exec(m.sql);
        db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)').run(m.version, Date.now());
        applied.push(m.version);
      }).immediate();
    } catch (err) {
      if (err instanceof Error) Object.assign(err, { migration: m.version });
      throw err;
    }
  }
  return applied;
}

const WAIT_FOR_OTHER_MS = 120_000;

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Deals with a marker left by this or another process; returns when none stands in the way. */
function checkMarker(db: Db, dataRoot: string): void {
  const deadline = Date.now() + WAIT_FOR_OTHER_MS;
  for (;;) {
    const marker = readMarker(dataRoot);
    if (!marker) return;
    if (marker.pid !== process.pid && processAlive(marker) && Date.now() < deadline) {
      sleepSync(200); // another process is upgrading right now
      continue;
    }
    const applied = appliedVersions(db);
    if (marker.pending.every((v) => applied.has(v))) {
      clearMarker(dataRoot); // it finished; only the marker's removal was lost
      return;
    }
    throw new HalfMigratedError(
      `the database is half-migrated: an upgrade to schema version ${Math.max(...marker.pending)} started at ${marker.since} did not finish; ` +
        `run "mailserver rollback" to put back the snapshot taken before it (backups/${marker.snapshot})`,
    );
  }
}

export function upgrade(open: () => Db, dataRoot: string, opts: UpgradeOptions): Db {
  const migrations = opts.migrations ?? MIGRATIONS;
  const db = open();
  let snap: Snapshot | undefined;
  try {
    checkMarker(db, dataRoot);
    const applied = appliedVersions(db);
    const pending = migrations.filter((m) => !applied.has(m.version)).map((m) => m.version);
    if (pending.length === 0) return db;
    if (applied.size > 0) {
      snap = takeSnapshot(db, dataRoot, 'pre-migrate', { applied: [...applied].sort((a, b) => a - b), pending });
      writeMarker(dataRoot, { pid: process.pid, start: processStartTime(process.pid), snapshot: snap.name, pending, since: new Date().toISOString() });
    }
  } catch (err) {
    db.close();
    throw err;
  }
  try {
    migrate(db, migrations);
  } catch (err) {
    db.close();
    throw failed(err, migrations, dataRoot, snap);
  }
  if (snap) {
    clearMarker(dataRoot);
    const pruned = pruneSnapshots(dataRoot, 'pre-migrate', opts.keepSnapshots ?? 5);
    opts.onSnapshot?.({ taken: snap, pruned });
  }
  return db;
}

function failed(err: unknown, migrations: readonly Migration[], dataRoot: string, snap: Snapshot | undefined): Error {
  const version = (err as { migration?: number }).migration;
  const which = migrations.find((m) => m.version === version);
  const what = `${which ? `migration ${which.version} (${which.name})` : 'a migration'} failed: ${(err as Error).message}`;
  if (!snap) return new MigrationError(what);
  try {
    restoreSnapshot(dataRoot, snap, { config: false });
    clearMarker(dataRoot);
    // The database is that snapshot again; keeping it would only push out older ones.
    rmSync(snap.dir, { recursive: true, force: true });
  } catch (e) {
    return new HalfMigratedError(`${what}; putting back the snapshot ${snap.name} failed too (${(e as Error).message}): run "mailserver rollback"`);
  }
  return new MigrationError(`${what}; the database was put back as it was before the upgrade (schema version ${Math.max(...snap.applied)}); this version of mailserver cannot run on it`);
}
