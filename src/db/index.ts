/**
 * The server database (`<data>/config/mailserver.db`): domains, accounts, aliases,
 * DKIM keys, quotas, the outbound queue. better-sqlite3 in WAL mode so the CLI can
 * write while the server runs; foreign keys on; numbered migrations applied at open.
 *
 * Migrations live in MIGRATIONS (src/db/migrations.ts) as numbered SQL strings: each
 * is applied once, in order, inside a transaction, and recorded in `schema_migrations`.
 * Never edit a migration that has shipped: add the next number.
 *
 * Upgrades are guarded (./upgrade.ts): before the first pending migration of a
 * database that has data, a snapshot of it and of the config goes to
 * `<data>/backups/pre-migrate-<version>-<time>/`; a migration that fails puts the
 * snapshot back and the open fails with MigrationError; an upgrade interrupted halfway
 * is refused at the next open until `mailserver rollback`.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { upgrade, type UpgradeOptions } from './upgrade.js';

export type Db = Database.Database;
export { appliedVersions, HalfMigratedError, migrate, MigrationError } from './upgrade.js';

export function dbPath(dataRoot: string): string {
  return path.join(dataRoot, 'config', 'mailserver.db');
}

/** The data root of a database at its usual place (`<data>/config/mailserver.db`). */
export function dataRootOf(file: string): string {
  return path.dirname(path.dirname(path.resolve(file)));
}

export type OpenDbOptions = UpgradeOptions;

export function openDb(file: string, opts: OpenDbOptions = {}): Db {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o750 });
  return upgrade(() => openRaw(file), dataRootOf(file), opts);
}

/**
 * The database holds password hashes and DKIM keys: owner read-write, group read (0640),
 * whatever the umask. SQLite gives its -wal and -shm files the database file's mode, so
 * the file is made before SQLite opens it; files an older version left readable by
 * others lose those bits.
 */
export const DB_FILE_MODE = 0o640;

function restrictDbFiles(file: string): void {
  if (!existsSync(file)) closeSync(openSync(file, 'a', DB_FILE_MODE));
  for (const f of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      const mode = statSync(f).mode & 0o777;
      if (mode & ~DB_FILE_MODE) chmodSync(f, mode & DB_FILE_MODE);
    } catch {
      // -wal and -shm exist only while the database is open
    }
  }
}

/** Opens the database with the server's pragmas, without migrating it. */
export function openRaw(file: string): Db {
  if (file !== ':memory:') restrictDbFiles(file);
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  // FULL: a committed queue row or account change survives power loss.
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  return db;
}
