/**
 * File-level pieces of backup and restore: SQLite's online backup of a live database,
 * its integrity check, hard link with copy fallback, hashes, directory fsync and a
 * bounded parallel loop.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, link, open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { fsyncPath } from '../util/fs.js';

export { fsyncPath };

const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

/** True when the file starts with SQLite's 16-byte header. */
export async function isSqliteFile(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(16);
    const { bytesRead } = await fh.read(buf, 0, 16, 0);
    return bytesRead === 16 && buf.equals(SQLITE_MAGIC);
  } finally {
    await fh.close();
  }
}

/** Journals that belong to a database beside them (copied through the database, never alone). */
export function isJournal(name: string): boolean {
  return /-(wal|shm|journal)$/.test(name);
}

/**
 * Copies a live database with SQLite's online backup API. The copy is made in one step
 * (all pages under one read lock) so a writer in another process cannot make it start
 * over again and again, and so it is one consistent state; in WAL mode writers go on
 * meanwhile. The copy is left in rollback-journal mode: one self-contained file.
 */
export async function backupSqlite(src: string, dest: string): Promise<{ pages: number }> {
  const db = new Database(src, { fileMustExist: true });
  let pages = 0;
  try {
    db.pragma('busy_timeout = 10000');
    const r = await db.backup(dest, { progress: () => 0x7fffffff });
    pages = r.totalPages;
  } finally {
    db.close();
  }
  const copy = new Database(dest);
  try {
    copy.pragma('journal_mode = DELETE');
  } finally {
    copy.close();
  }
  await fsyncPath(dest);
  return { pages };
}

/** `PRAGMA integrity_check` (and foreign keys): [] when sound, else SQLite's complaints. */
export function integrityProblems(file: string): string[] {
  let db: Database.Database;
  try {
    db = new Database(file, { fileMustExist: true, readonly: true });
  } catch (err) {
    return [(err as Error).message];
  }
  try {
    db.pragma('busy_timeout = 10000');
    const rows = db.pragma('integrity_check', { simple: false }) as Array<{ integrity_check: string }>;
    const problems = rows.map((r) => r.integrity_check).filter((m) => m !== 'ok');
    const fk = db.pragma('foreign_key_check') as Array<{ table: string; rowid: number; parent: string }>;
    for (const r of fk.slice(0, 10)) problems.push(`${r.table} row ${r.rowid}: no matching row in ${r.parent}`);
    return problems;
  } catch (err) {
    return [(err as Error).message];
  } finally {
    db.close();
  }
}

const NO_LINK = new Set(['EXDEV', 'EPERM', 'EMLINK', 'ENOTSUP', 'EOPNOTSUPP']);

/**
 * Hard-links `src` to `dest` when `mode.link` holds, else copies it (fsynced). The first
 * link refused with EXDEV and the like switches `mode` to copying for the rest of the
 * run (src/util/fs.ts's linkOrCopy would try a link for every file, and cannot be told
 * to copy). Returns how it went; ENOENT (the file went away meanwhile) is the caller's.
 */
export async function linkOrCopyFile(src: string, dest: string, mode: { link: boolean }): Promise<'linked' | 'copied'> {
  if (mode.link) {
    try {
      await link(src, dest);
      return 'linked';
    } catch (e) {
      if (!NO_LINK.has((e as NodeJS.ErrnoException).code ?? '')) throw e;
      mode.link = false;
    }
  }
  await copyFile(src, dest);
  await fsyncPath(dest);
  return 'copied';
}

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** fsyncs every directory under `root` (new names made by links and renames are durable after this). */
export async function fsyncTree(root: string): Promise<void> {
  const dirs: string[] = [];
  const visit = async (d: string): Promise<void> => {
    dirs.push(d);
    for (const e of await readdir(d, { withFileTypes: true })) if (e.isDirectory()) await visit(path.join(d, e.name));
  };
  await visit(root);
  // In parallel; all of them before the caller writes the manifest that marks the end.
  await eachLimit(dirs.reverse(), 16, fsyncPath);
}

/** Runs `fn` over `items` with at most `limit` at a time; rejects with the first error. */
export async function eachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Size of a regular file, or undefined when it is gone. */
export async function sizeOf(file: string): Promise<number | undefined> {
  try {
    return (await stat(file)).size;
  } catch {
    return undefined;
  }
}
