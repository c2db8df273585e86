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
import { mkdirSync } from 'node:fs';
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

/** Opens the database with the server's pragmas, without migrating it. */
export function openRaw(file: string): Db {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  // FULL: a committed queue row or account change survives power loss.
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  return db;
}
