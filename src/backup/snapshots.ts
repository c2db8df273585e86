/**
 * Snapshots of the server database and config under `<data>/backups/`, taken before
 * every schema upgrade (`pre-migrate-<version>-<time>/`) and before a rollback
 * (`pre-rollback-<time>/`), and the marker of an upgrade under way.
 *
 * A snapshot directory holds `config/mailserver.db` (a consistent copy made with
 * `VACUUM INTO`: one read transaction, so a writer in another process cannot tear it),
 * the other files of `config/` (mailserver.toml and what sits beside it), and
 * `snapshot.json` saying what it is. Mailbox indexes are not in it: migrations never
 * touch them, and putting an old index back beside newer Maildir files would only make
 * the store reconcile them again.
 *
 * The marker `<data>/backups/migrating.json` is written (and fsynced) before the first
 * migration of an upgrade and removed after the last one. Found at start with
 * migrations of that upgrade still pending, it means the upgrade stopped halfway (a
 * crash, or a failure whose automatic rollback failed too): the server refuses to start
 * and `mailserver rollback` puts the snapshot back.
 */
import { closeSync, copyFileSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type Database from 'better-sqlite3';

export const BACKUPS_DIR = 'backups';
const MARKER = 'migrating.json';
const INFO = 'snapshot.json';
const DB_NAME = 'mailserver.db';

export type SnapshotKind = 'pre-migrate' | 'pre-rollback';

export interface SnapshotInfo {
  kind: SnapshotKind;
  created: string;
  /** Schema versions applied in the database the snapshot holds. */
  applied: number[];
  /** pre-migrate: the versions the upgrade was about to apply. */
  pending?: number[];
  /** The program version that took it. */
  program: string;
}

export interface Snapshot extends SnapshotInfo {
  name: string;
  dir: string;
}

export interface UpgradeMarker {
  pid: number;
  start?: string;
  snapshot: string;
  pending: number[];
  since: string;
}

export function backupsDir(dataRoot: string): string {
  return path.join(dataRoot, BACKUPS_DIR);
}

let programVersion: string | undefined;
/** This program's version (package.json, one level above src/ or dist/). */
export function version(): string {
  if (programVersion === undefined) {
    try {
      programVersion = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
    } catch {
      programVersion = 'unknown';
    }
  }
  return programVersion;
}

/** 2024-05-01T10:20:30.123Z → 20240501T102030123Z (sorts by time, safe in file names). */
export function stamp(d = new Date()): string {
  return d.toISOString().replace(/[-:.]/g, '');
}

function fsyncFile(p: string): void {
  const fd = openSync(p, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes a small file durably: temp name, fsync, rename, fsync of the directory. */
export function writeDurably(file: string, text: string, mode = 0o640): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode });
  fsyncFile(tmp);
  renameSync(tmp, file);
  fsyncFile(path.dirname(file));
}

/** Copies the regular files of `config/` except the database and its journals. */
function copyConfigFiles(fromConfig: string, toConfig: string): void {
  if (!existsSync(fromConfig)) return;
  for (const name of readdirSync(fromConfig)) {
    if (name.startsWith(DB_NAME) || name.startsWith('.')) continue;
    const src = path.join(fromConfig, name);
    if (!statSync(src).isFile()) continue;
    copyFileSync(src, path.join(toConfig, name));
    fsyncFile(path.join(toConfig, name));
  }
}

/** Takes a snapshot of the open database `db` and the config files; returns it. */
export function takeSnapshot(db: Database.Database, dataRoot: string, kind: SnapshotKind, info: Omit<SnapshotInfo, 'kind' | 'created' | 'program'>): Snapshot {
  const created = new Date();
  const top = info.pending?.length ? Math.max(...info.pending) : undefined;
  const name = kind === 'pre-migrate' ? `pre-migrate-${top}-${stamp(created)}` : `${kind}-${stamp(created)}`;
  const dir = path.join(backupsDir(dataRoot), name);
  const partial = `${dir}.partial`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(path.join(partial, 'config'), { recursive: true, mode: 0o750 });
  const dbCopy = path.join(partial, 'config', DB_NAME);
  // One read transaction from start to end: consistent even while another process writes.
  db.prepare('VACUUM INTO ?').run(dbCopy);
  fsyncFile(dbCopy);
  copyConfigFiles(path.join(dataRoot, 'config'), path.join(partial, 'config'));
  const full: SnapshotInfo = { kind, created: created.toISOString(), program: version(), ...info };
  writeDurably(path.join(partial, INFO), `${JSON.stringify(full, null, 2)}\n`);
  fsyncFile(path.join(partial, 'config'));
  renameSync(partial, dir);
  fsyncFile(backupsDir(dataRoot));
  return { ...full, name, dir };
}

/** Snapshots of one kind (or all), newest first; unreadable ones are skipped. */
export function listSnapshots(dataRoot: string, kind?: SnapshotKind): Snapshot[] {
  const root = backupsDir(dataRoot);
  if (!existsSync(root)) return [];
  const out: Snapshot[] = [];
  for (const name of readdirSync(root)) {
    if (name.endsWith('.partial')) continue;
    const dir = path.join(root, name);
    try {
      const info = JSON.parse(readFileSync(path.join(dir, INFO), 'utf8')) as SnapshotInfo;
      if (!existsSync(path.join(dir, 'config', DB_NAME))) continue;
      if (!kind || info.kind === kind) out.push({ ...info, name, dir });
    } catch {
      // not a snapshot (a backup someone put here, or a half-written one)
    }
  }
  return out.sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : a.name < b.name ? 1 : -1));
}

/** Keeps the newest `keep` snapshots of a kind; removes the rest. Returns the names removed. */
export function pruneSnapshots(dataRoot: string, kind: SnapshotKind, keep: number): string[] {
  const removed: string[] = [];
  for (const s of listSnapshots(dataRoot, kind).slice(Math.max(1, keep))) {
    rmSync(s.dir, { recursive: true, force: true });
    removed.push(s.name);
  }
  return removed;
}

/**
 * Puts a snapshot's database (and with `config`, its config files) in place of the
 * data root's. No connection to the database may be open: the old WAL and shared-memory
 * files are removed, since frames of the newer database must never be replayed over
 * the older one.
 */
export function restoreSnapshot(dataRoot: string, snap: Pick<Snapshot, 'dir'>, opts: { config: boolean }): void {
  const configDir = path.join(dataRoot, 'config');
  const live = path.join(configDir, DB_NAME);
  const tmp = `${live}.restoring`;
  copyFileSync(path.join(snap.dir, 'config', DB_NAME), tmp);
  fsyncFile(tmp);
  for (const x of ['-wal', '-shm', '-journal']) rmSync(live + x, { force: true });
  renameSync(tmp, live);
  if (opts.config) copyConfigFiles(path.join(snap.dir, 'config'), configDir);
  fsyncFile(configDir);
}

function markerPath(dataRoot: string): string {
  return path.join(backupsDir(dataRoot), MARKER);
}

export function readMarker(dataRoot: string): UpgradeMarker | undefined {
  try {
    return JSON.parse(readFileSync(markerPath(dataRoot), 'utf8')) as UpgradeMarker;
  } catch {
    return undefined;
  }
}

export function writeMarker(dataRoot: string, marker: UpgradeMarker): void {
  mkdirSync(backupsDir(dataRoot), { recursive: true, mode: 0o750 });
  writeDurably(markerPath(dataRoot), `${JSON.stringify(marker)}\n`);
}

export function clearMarker(dataRoot: string): void {
  rmSync(markerPath(dataRoot), { force: true });
}
