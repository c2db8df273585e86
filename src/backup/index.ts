/**
 * Backup, restore, verify and rollback of a data root, for the CLI
 * (src/cli/commands/backup.ts) and anything else that wants them (an admin page):
 *
 * - `backup(dataRoot, target)`: a consistent backup of a running server into a
 *   directory, or a `.tar.zst` / `.tar.gz` archive of one (./backup.ts, ./archive.ts);
 * - `restoreBackup(source, newRoot)`: checks and restores one (./restore.ts);
 * - `verifyDataRoot(root, { fix })`: index against files, database integrity, orphans,
 *   permissions (./verify.ts);
 * - `rollback(root)`: the database and config as before the last schema upgrade
 *   (./rollback.ts), from the snapshots taken at start (./snapshots.ts, src/db/upgrade.ts).
 *
 * docs/backup.md is the user's guide to all of it.
 */
import { existsSync } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { archiveKind, checkArchiver, packArchive } from './archive.js';
import { backupDataRoot, type BackupOptions, type BackupReport } from './backup.js';
import { fsyncPath } from './files.js';
import { BACKUPS_DIR, stamp } from './snapshots.js';

export { archiveKind } from './archive.js';
export { backupDataRoot, type BackupManifest, type BackupReport } from './backup.js';
export { lockHolder, type LockInfo } from './lock.js';
export { checkBackup, restoreBackup, type RestoreReport } from './restore.js';
export { planRollback, rollback, type RollbackPlan } from './rollback.js';
export { listSnapshots, type Snapshot } from './snapshots.js';
export { verifyDataRoot, type Finding, type VerifyReport } from './verify.js';

export interface FullBackupReport extends BackupReport {
  /** The archive written, when the target named one. */
  archive?: string;
  archiveBytes?: number;
}

/**
 * Backs up `dataRoot` into `target`: a directory (new or empty), or an archive when the
 * name ends in .tar.zst/.tzst or .tar.gz/.tgz. An archive is packed from a directory
 * backup staged under `<data>/backups/` (same file system: message files are hard
 * links there, not copies) and written under a temporary name until complete.
 */
export async function backup(dataRoot: string, target: string, opts: BackupOptions = {}): Promise<FullBackupReport> {
  const kind = archiveKind(target);
  if (!kind) return backupDataRoot(dataRoot, target, opts);
  target = path.resolve(target);
  if (existsSync(target)) throw new Error(`${target} exists already`);
  await checkArchiver(kind);
  const staging = path.join(path.resolve(dataRoot), BACKUPS_DIR, `.staging-${stamp()}`);
  const partial = `${target}.partial`;
  try {
    const report = await backupDataRoot(dataRoot, staging, opts);
    opts.onProgress?.(`packing ${path.basename(target)}`);
    const t0 = Date.now();
    await packArchive(staging, partial, kind);
    await fsyncPath(partial);
    await rename(partial, target);
    await fsyncPath(path.dirname(target));
    return { ...report, dir: target, archive: target, archiveBytes: (await stat(target)).size, durationMs: report.durationMs + (Date.now() - t0) };
  } finally {
    await rm(staging, { recursive: true, force: true });
    await rm(partial, { force: true });
  }
}
