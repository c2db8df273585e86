/**
 * `backupDataRoot`: a consistent copy of a data root while the server runs.
 *
 * What is copied: every SQLite database under the root (the server database, each
 * mailbox index, anything else) through SQLite's online backup API; the Maildir message
 * files by hard link (same file system) or copy; the other files as they are (config,
 * certs, the outbound queue's spool, each folder's mailserver-uidvalidity). Left out:
 * `backups/` (snapshots and staging), `spool/` and `tmp/` (messages not yet
 * acknowledged), Maildir `tmp/` contents, WAL/shm journals (the backup of the database
 * holds them) and the pid file.
 *
 * Why the result is consistent (DESIGN.md "Accepted means durable"): the server writes
 * a message file (fsynced, linked into new/) before its index row and its queue row,
 * and removes rows before files. Every database is copied first, then the files. So a
 * message acknowledged before the backup started has its row in the copied index and
 * its file still there when the files are walked; a message delivered meanwhile may
 * have its file without its row (restore indexes it from the file, whose name carries
 * its UID) or neither; a message expunged meanwhile may leave a row without a file
 * (restore drops it). Files renamed while the walk runs (new/ → cur/, flag changes)
 * are found again: new/ is walked before cur/, a name gone missing is looked up by its
 * base in cur/ again, and a message is taken once per folder whatever its names.
 *
 * The last file written is `backup.json`; a directory without it is not a backup.
 * `files.tsv` lists every file with its size (and a SHA-256 for all but the message
 * files, whose size is in their names too), so restore can check what it is given.
 */
import { chmod, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { LOCK_FILE } from './lock.js';
import { backupSqlite, eachLimit, fsyncPath, fsyncTree, isJournal, isSqliteFile, linkOrCopyFile, sha256File } from './files.js';
import { BACKUPS_DIR, version } from './snapshots.js';
import { isEnoent } from '../util/fs.js';

export const MANIFEST = 'backup.json';
export const FILE_LIST = 'files.tsv';
/** Top-level entries of a data root that are never backed up. */
const SKIP_TOP = new Set([BACKUPS_DIR, 'spool', 'tmp', LOCK_FILE]);
const PARALLEL = 16;

export interface BackupManifest {
  format: 'mailserver-backup';
  version: 1;
  program: string;
  source: string;
  started: string;
  finished: string;
  /** Schema versions of the server database in the backup. */
  schema: number[];
  databases: number;
  files: number;
  messages: number;
  bytes: number;
  /** Message and queue files hard-linked to the data root's (the rest were copied). */
  linked: number;
}

export interface BackupReport extends BackupManifest {
  dir: string;
  durationMs: number;
}

export interface BackupOptions {
  /** Copy every file even where a hard link would do (a backup on the same disk that must not share inodes). */
  copy?: boolean;
  /** Progress lines for a person. */
  onProgress?: (line: string) => void;
}

interface Walk {
  databases: string[];
  files: string[];
  /** Maildir folders (directories with cur/ and new/), relative to the root. */
  folders: string[];
  dirs: string[];
}

type Entry = { kind: 'db' | 'file' | 'mail'; rel: string; size: number; sha256?: string };

/** Lists what to copy; message files are not listed here (the folder walk reads them later). */
async function walk(root: string, exclude: string): Promise<Walk> {
  const out: Walk = { databases: [], files: [], folders: [], dirs: [] };
  const visit = async (rel: string): Promise<void> => {
    const abs = path.join(root, rel);
    if (abs === exclude) return;
    out.dirs.push(rel);
    const entries = await readdir(abs, { withFileTypes: true });
    const names = new Set(entries.map((e) => e.name));
    const isFolder = rel.split(path.sep)[0] === 'maildir' && names.has('cur') && names.has('new');
    if (isFolder) out.folders.push(rel);
    for (const e of entries) {
      const r = path.join(rel, e.name);
      if (rel === '' && SKIP_TOP.has(e.name)) continue;
      if (isFolder && (e.name === 'cur' || e.name === 'new' || e.name === 'tmp')) continue;
      if (e.isDirectory()) await visit(r);
      else if (e.isFile() && !isJournal(e.name)) {
        if (rel.split(path.sep)[0] !== 'queue' && (await isSqliteFile(path.join(root, r)).catch(() => false))) out.databases.push(r);
        else out.files.push(r);
      }
    }
  };
  await visit('');
  // The server database first: it says which accounts and queue files exist.
  out.databases.sort((a, b) => Number(b === path.join('config', 'mailserver.db')) - Number(a === path.join('config', 'mailserver.db')));
  return out;
}

/** The part of a Maildir name before the info (`:2,FS`): the same message under any flags. */
function baseOf(name: string): string {
  const i = name.indexOf(':');
  return i < 0 ? name : name.slice(0, i);
}

/** Copies one Maildir folder's messages, each once, while the server may rename them. */
async function copyFolder(src: string, dst: string, mode: { link: boolean }, add: (e: Entry, linked: boolean) => void): Promise<void> {
  for (const d of ['cur', 'new', 'tmp']) await mkdir(path.join(dst, d), { recursive: true });
  const taken = new Set<string>();
  let missed = new Set<string>();
  const take = (sub: 'new' | 'cur', names: string[]) =>
    eachLimit(names, PARALLEL, async (n) => {
      const base = baseOf(n);
      if (n.startsWith('.') || taken.has(base)) return;
      taken.add(base);
      try {
        const how = await linkOrCopyFile(path.join(src, sub, n), path.join(dst, sub, n), mode);
        const size = Number(/,S=(\d+)/.exec(base)?.[1] ?? (await stat(path.join(dst, sub, n))).size);
        add({ kind: 'mail', rel: path.join(sub, n), size }, how === 'linked');
      } catch (e) {
        if (!isEnoent(e)) throw e;
        taken.delete(base); // renamed (moved to cur/, flags changed) or expunged meanwhile
        missed.add(base);
      }
    });
  const list = (sub: string) => readdir(path.join(src, sub)).catch((e: unknown) => (isEnoent(e) ? [] : Promise.reject(e)));
  await take('new', await list('new'));
  await take('cur', await list('cur'));
  for (let round = 0; round < 5 && missed.size > 0; round++) {
    const wanted = missed;
    missed = new Set();
    await take('cur', (await list('cur')).filter((n) => wanted.has(baseOf(n)) && !taken.has(baseOf(n))));
  }
}

function schemaOf(file: string): number[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all() as number[]) ?? [];
  } catch {
    return [];
  } finally {
    db.close();
  }
}

/** Copies the data root `root` into the new or empty directory `dest`. */
export async function backupDataRoot(root: string, dest: string, opts: BackupOptions = {}): Promise<BackupReport> {
  root = path.resolve(root);
  dest = path.resolve(dest);
  const t0 = Date.now();
  const started = new Date(t0).toISOString();
  const note = opts.onProgress ?? (() => undefined);
  const mainDb = path.join(root, 'config', 'mailserver.db');
  await stat(mainDb).catch(() => Promise.reject(new Error(`${root} is not a mail server data root (no config/mailserver.db)`)));
  await mkdir(dest, { recursive: true, mode: 0o700 });
  if ((await readdir(dest)).length > 0) throw new Error(`${dest} is not empty`);

  const plan = await walk(root, dest);
  for (const d of plan.dirs) await mkdir(path.join(dest, d), { recursive: true, mode: 0o750 });
  const entries: Entry[] = [];
  let linked = 0;
  const add = (e: Entry, wasLinked: boolean) => {
    entries.push(e);
    if (wasLinked) linked++;
  };

  // 1. Databases, before any file (see the module comment).
  for (const rel of plan.databases) {
    const to = path.join(dest, rel);
    await backupSqlite(path.join(root, rel), to);
    await chmod(to, 0o640);
    add({ kind: 'db', rel, size: (await stat(to)).size, sha256: await sha256File(to) }, false);
  }
  note(`databases: ${plan.databases.length}`);
  // 2. Config, certs, the queue spool, uidvalidity files.
  const mode = { link: !opts.copy };
  await eachLimit(plan.files, PARALLEL, async (rel) => {
    const abs = path.join(root, rel);
    try {
      // Small files that may change in place are copied; queue files never change.
      const how = rel.startsWith(`queue${path.sep}`) ? await linkOrCopyFile(abs, path.join(dest, rel), mode) : await linkOrCopyFile(abs, path.join(dest, rel), { link: false });
      const to = path.join(dest, rel);
      add({ kind: 'file', rel, size: (await stat(to)).size, sha256: await sha256File(to) }, how === 'linked');
    } catch (e) {
      if (!isEnoent(e)) throw e; // a queue file delivered and removed meanwhile
    }
  });
  // 3. Messages, folder by folder.
  for (const rel of plan.folders) {
    await copyFolder(path.join(root, rel), path.join(dest, rel), mode, (e, l) => add({ ...e, rel: path.join(rel, e.rel) }, l));
  }
  const messages = entries.filter((e) => e.kind === 'mail').length;
  note(`messages: ${messages} in ${plan.folders.length} folders`);

  const lines = entries.map((e) => `${e.kind}\t${e.size}\t${e.sha256 ?? '-'}\t${e.rel.split(path.sep).join('/')}`).sort();
  await writeFile(path.join(dest, FILE_LIST), `${lines.join('\n')}\n`, { mode: 0o640 });
  const manifest: BackupManifest = {
    format: 'mailserver-backup',
    version: 1,
    program: version(),
    source: root,
    started,
    finished: new Date().toISOString(),
    schema: plan.databases.length ? schemaOf(path.join(dest, 'config', 'mailserver.db')) : [],
    databases: plan.databases.length,
    files: entries.length,
    messages,
    bytes: entries.reduce((n, e) => n + e.size, 0),
    linked,
  };
  await fsyncTree(dest);
  await writeFile(path.join(dest, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o640 });
  await fsyncPath(path.join(dest, MANIFEST));
  await fsyncPath(dest);
  return { ...manifest, dir: dest, durationMs: Date.now() - t0 };
}
