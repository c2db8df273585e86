/**
 * The server database (`<data>/config/mailserver.db`): domains, accounts, aliases,
 * DKIM keys, quotas, the outbound queue. better-sqlite3 in WAL mode so the CLI can
 * write while the server runs; foreign keys on; numbered migrations applied at open.
 *
 * Migrations live in MIGRATIONS (src/db/migrations.ts) as numbered SQL strings: each
 * is applied once, in order, inside a transaction, and recorded in `schema_migrations`.
 * Never edit a migration that has shipped: add the next number.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS } from './migrations.js';

export type Db = Database.Database;

export function dbPath(dataRoot: string): string {
  return path.join(dataRoot, 'config', 'mailserver.db');
}

export function openDb(file: string): Db {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o750 });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  // FULL: a committed queue row or account change survives power loss.
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrate(db);
  return db;
}

export function migrate(db: Db): number[] {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)');
  const done = new Set(db.prepare('SELECT version FROM schema_migrations').pluck().all() as number[]);
  const applied: number[] = [];
  for (const m of MIGRATIONS) {
    if (done.has(m.version)) continue;
    db.transaction(() => {
      // Another process (CLI vs server) may have applied it since we looked.
      const again = db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?').get(m.version);
      if (again) return;
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)').run(m.version, Date.now());
      applied.push(m.version);
    }).immediate();
  }
  return applied;
}
