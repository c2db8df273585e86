/**
 * `checkBackup` and `restoreBackup`: a backup (directory or archive) checked file by
 * file, then laid out as a new data root and reconciled.
 *
 * Checks: `backup.json` is there (the backup finished); every file in `files.tsv` is
 * there with its size and, for all but message files, its SHA-256; every database
 * passes `PRAGMA integrity_check`.
 *
 * Reconciling (see ./backup.ts for why it is needed): the server database is opened
 * as the server would open it (an older backup is upgraded, behind a snapshot); queue
 * rows whose spool file is not in the backup were delivered while it ran and are
 * dropped; every account is reindexed, so files delivered during the backup enter the
 * index under the UID their names carry and rows of messages expunged meanwhile leave
 * it. Then the new root is verified.
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { dbPath, openDb } from '../db/index.js';
import { silentLogger } from '../log.js';
import { archiveKind, unpackArchive } from './archive.js';
import { FILE_LIST, MANIFEST, type BackupManifest } from './backup.js';
import { eachLimit, fsyncPath, fsyncTree, integrityProblems, linkOrCopyFile, sha256File } from './files.js';
import { lockDataRoot, lockHolder, DataRootBusyError } from './lock.js';
import { BACKUPS_DIR, stamp } from './snapshots.js';
import { verifyDataRoot, type VerifyReport } from './verify.js';

export interface BackupCheck {
  manifest?: BackupManifest;
  problems: string[];
}

/** Checks a backup directory; `problems` is empty when it can be restored. */
export async function checkBackup(dir: string): Promise<BackupCheck> {
  let manifest: BackupManifest;
  try {
    manifest = JSON.parse(await readFile(path.join(dir, MANIFEST), 'utf8')) as BackupManifest;
  } catch {
    return { problems: [`${MANIFEST} is missing: not a backup, or one that did not finish`] };
  }
  if (manifest.format !== 'mailserver-backup' || manifest.version !== 1) return { manifest, problems: [`${MANIFEST}: unknown format ${JSON.stringify(manifest.format)} version ${manifest.version}`] };
  const problems: string[] = [];
  const lines = (await readFile(path.join(dir, FILE_LIST), 'utf8').catch(() => '')).split('\n').filter(Boolean);
  if (lines.length !== manifest.files) problems.push(`${FILE_LIST} lists ${lines.length} files, ${MANIFEST} says ${manifest.files}`);
  await eachLimit(lines, 16, async (line) => {
    const [kind, size, sha, rel] = line.split('\t') as [string, string, string, string];
    const abs = path.join(dir, ...rel.split('/'));
    const st = await stat(abs).catch(() => undefined);
    if (!st) return void problems.push(`${rel}: missing`);
    if (st.size !== Number(size)) return void problems.push(`${rel}: ${st.size} bytes, ${size} expected`);
    if (sha !== '-' && (await sha256File(abs)) !== sha) return void problems.push(`${rel}: content differs from when it was backed up`);
    if (kind === 'db') for (const p of integrityProblems(abs).slice(0, 3)) problems.push(`${rel}: ${p}`);
  });
  if (!lines.some((l) => l.endsWith('\tconfig/mailserver.db'))) problems.push('config/mailserver.db is not in the backup');
  return { manifest, problems: problems.sort() };
}

export interface RestoreOptions {
  /** Move what the target holds aside (to `<target>.replaced-<time>`) instead of refusing. */
  force?: boolean;
  /** Copy message files even where hard links to the backup would do. */
  copy?: boolean;
  onProgress?: (line: string) => void;
}

export interface RestoreReport {
  manifest: BackupManifest;
  target: string;
  movedAside?: string;
  /** Queue messages delivered while the backup ran (their rows dropped). */
  queueDropped: number;
  /** Reindex: messages indexed from files / rows without files removed. */
  added: number;
  removed: number;
  verify: VerifyReport;
  durationMs: number;
}

/** Copies the tree of a backup directory into `target` (every directory, even empty ones: Maildir folders need cur/ new/ tmp/). */
async function copyTree(src: string, target: string, mode: { link: boolean }): Promise<void> {
  const files: Array<[string, boolean]> = [];
  const visit = async (rel: string) => {
    await mkdir(path.join(target, rel), { recursive: true, mode: 0o750 });
    for (const e of await readdir(path.join(src, rel), { withFileTypes: true })) {
      const r = path.join(rel, e.name);
      if (rel === '' && (e.name === MANIFEST || e.name === FILE_LIST)) continue;
      if (e.isDirectory()) await visit(r);
      else if (e.isFile()) files.push([r, /(^|\/)(cur|new)$/.test(rel) || rel.startsWith('queue')]);
    }
  };
  await visit('');
  // Message and queue files never change in place: linking them to the backup is safe.
  // Databases and config are copied: the server writes to them.
  await eachLimit(files, 16, async ([rel, immutable]) => {
    if (immutable) await linkOrCopyFile(path.join(src, rel), path.join(target, rel), mode);
    else {
      await copyFile(path.join(src, rel), path.join(target, rel));
      await fsyncPath(path.join(target, rel));
    }
  });
}

/** Moves the entries of `dir` (except `keep`) into `to`. */
async function moveEntries(dir: string, to: string, keep: Set<string>): Promise<void> {
  await mkdir(to, { recursive: true, mode: 0o700 });
  for (const name of await readdir(dir)) if (!keep.has(name)) await rename(path.join(dir, name), path.join(to, name));
}

async function reconcile(target: string): Promise<{ queueDropped: number; added: number; removed: number }> {
  const db = openDb(dbPath(target));
  let store: import('../store/types.js').MailStore | undefined;
  try {
    let queueDropped = 0;
    db.transaction(() => {
      for (const r of db.prepare('SELECT id, spool_path FROM queue_messages').all() as Array<{ id: number; spool_path: string }>) {
        if (existsSync(path.resolve(target, r.spool_path))) continue;
        db.prepare('DELETE FROM queue_messages WHERE id = ?').run(r.id);
        queueDropped++;
      }
    })();
    store = (await import('../store/index.js')).createStore({ dataRoot: target, log: silentLogger });
    let added = 0;
    let removed = 0;
    for (const address of db.prepare('SELECT address FROM accounts').pluck().all() as string[]) {
      const r = await store.reindex(address);
      added += r.added;
      removed += r.removed;
    }
    return { queueDropped, added, removed };
  } finally {
    await store?.close();
    db.close();
  }
}

/** Restores the backup at `source` (directory or archive) as the data root `target`. */
export async function restoreBackup(source: string, target: string, opts: RestoreOptions = {}): Promise<RestoreReport> {
  const t0 = Date.now();
  const note = opts.onProgress ?? (() => undefined);
  source = path.resolve(source);
  target = path.resolve(target);
  const kind = archiveKind(source);
  if (!existsSync(source)) throw new Error(`${source} does not exist`);
  if (!kind && !(await stat(source)).isDirectory()) throw new Error(`${source} is neither a backup directory nor a .tar.zst/.tar.gz archive`);
  if (existsSync(target)) {
    const holder = lockHolder(target);
    if (holder) throw new DataRootBusyError(holder, target);
  }
  const before = existsSync(target) ? await readdir(target) : [];
  if (before.length > 0 && !opts.force) throw new Error(`${target} is not empty; restore into a new directory, or pass --force to move what it holds aside`);
  await mkdir(target, { recursive: true, mode: 0o750 });
  const lock = lockDataRoot(target, 'restore');
  const staging = path.join(target, `.restore-${stamp()}`);
  let movedAside: string | undefined;
  try {
    let src = source;
    if (kind) {
      await mkdir(staging, { mode: 0o700 });
      note(`unpacking ${path.basename(source)}`);
      await unpackArchive(source, staging);
      src = staging;
    }
    const check = await checkBackup(src);
    if (check.problems.length) throw new Error(`the backup is damaged: ${check.problems.slice(0, 5).join('; ')}${check.problems.length > 5 ? `; and ${check.problems.length - 5} more` : ''}`);
    note(`backup checked: ${check.manifest!.files} files, ${check.manifest!.messages} messages`);
    if (before.length > 0) {
      movedAside = `${target}.replaced-${stamp()}`;
      await moveEntries(target, movedAside, new Set([path.basename(staging), 'mailserver.pid']));
      note(`what ${target} held is now in ${movedAside}`);
    }
    if (kind) {
      await rm(path.join(staging, MANIFEST));
      await rm(path.join(staging, FILE_LIST));
      await moveEntries(staging, target, new Set());
    } else {
      await copyTree(src, target, { link: !opts.copy });
    }
    await mkdir(path.join(target, BACKUPS_DIR), { recursive: true, mode: 0o750 });
    await writeFile(path.join(target, BACKUPS_DIR, `restored-${stamp()}.json`), `${JSON.stringify({ from: source, ...check.manifest }, null, 2)}\n`, { mode: 0o640 });
    await fsyncTree(target);
    const r = await reconcile(target);
    note(`reconciled: ${r.added} message(s) indexed from files, ${r.removed} index row(s) without a file dropped, ${r.queueDropped} queue message(s) delivered during the backup dropped`);
    const verify = await verifyDataRoot(target, { recheckMs: 0 });
    return { manifest: check.manifest!, target, movedAside, ...r, verify, durationMs: Date.now() - t0 };
  } finally {
    await rm(staging, { recursive: true, force: true });
    lock.release();
  }
}
