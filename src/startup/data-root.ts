/**
 * The data root at start: writable, held by one server only (`mailserver.pid`), and its
 * database open at the current schema.
 */
import { accessSync, constants, mkdirSync } from 'node:fs';
import { DataRootBusyError, lockDataRoot } from '../backup/lock.js';
import type { Config } from '../config/index.js';
import { dbPath, HalfMigratedError, MigrationError, openDb, type Db } from '../db/index.js';
import type { Migration } from '../db/migrations.js';
import type { Logger } from '../log.js';
import { StartupError } from './error.js';

/**
 * Takes the data root (one server per data root: `mailserver.pid`) and opens the
 * database, upgrading its schema behind a snapshot (src/db/upgrade.ts). A failed or
 * half-done upgrade stops the start with one line saying what to do.
 */
export function openDataRoot(config: Config, log: Logger, migrations: readonly Migration[] | undefined, flushLog: () => void): { db: Db; lock: { release(): void } } {
  let lock;
  try {
    lock = lockDataRoot(config.dataRoot, 'serve');
  } catch (err) {
    if (err instanceof DataRootBusyError) throw new StartupError(err.message);
    throw err;
  }
  try {
    const db = openDb(dbPath(config.dataRoot), {
      migrations,
      keepSnapshots: config.backup.keepSnapshots,
      onSnapshot: (e) => log.info({ snapshot: e.taken?.name, pruned: e.pruned }, 'database upgraded; snapshot of the previous version kept'),
    });
    return { db, lock };
  } catch (err) {
    lock.release();
    if (err instanceof MigrationError || err instanceof HalfMigratedError) {
      log.fatal({ err: err.message }, 'database upgrade failed; not starting');
      flushLog();
      throw new StartupError(err.message);
    }
    throw err;
  }
}

export function checkDataRoot(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK | constants.R_OK);
  } catch (err) {
    throw new StartupError(`data root ${dir} is not writable: ${(err as Error).message}`);
  }
}
