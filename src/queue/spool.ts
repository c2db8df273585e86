/**
 * The queue's own spool: `<data>/queue/<name>.eml`, one file per queued message,
 * referenced by `queue_messages.spool_path` (relative to the data root).
 *
 * `adopt()` takes an fsynced file from the SMTP spool (`<data>/spool/tmp/`, same
 * filesystem) and hard-links it here (copying + fsyncing when linking fails), then
 * fsyncs the directory, so the name is durable before the queue row is committed and
 * before any `250`. The caller keeps ownership of the source name and unlinks it.
 *
 * Crash windows: a file linked here whose row was never committed is an orphan;
 * `cleanOrphans()` removes such files at start (the client got no 250 for them).
 */
import { readdirSync } from 'node:fs';
import { mkdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { fsyncPath, linkOrCopy, removeStaleFiles, writeFileSynced } from '../util/fs.js';
import { randomBytes } from 'node:crypto';

export function queueDir(dataRoot: string): string {
  return path.join(dataRoot, 'queue');
}

let counter = 0;
function queueName(): string {
  counter = (counter + 1) % 1_000_000;
  return `${Date.now()}.${process.pid}.${counter}.${randomBytes(4).toString('hex')}.eml`;
}

/** Links (or copies) `src` into the queue spool durably; returns the path relative to the data root and the size. */
export async function adopt(dataRoot: string, src: string): Promise<{ rel: string; abs: string; size: number }> {
  const dir = queueDir(dataRoot);
  await mkdir(dir, { recursive: true, mode: 0o750 });
  const abs = path.join(dir, queueName());
  // Another filesystem (or no hard links): an fsynced copy, renamed in.
  await linkOrCopy(src, abs, dir, true);
  await fsyncPath(dir);
  const { size } = await stat(abs);
  return { rel: path.relative(dataRoot, abs), abs, size };
}

/** Writes bytes as a new durable queue file (DSNs made by the server). */
export async function writeQueueFile(dataRoot: string, data: Buffer): Promise<{ rel: string; abs: string; size: number }> {
  const dir = queueDir(dataRoot);
  await mkdir(dir, { recursive: true, mode: 0o750 });
  const abs = path.join(dir, queueName());
  await writeFileSynced(abs, data, true);
  await fsyncPath(dir);
  return { rel: path.relative(dataRoot, abs), abs, size: data.length };
}

export async function removeQueueFile(dataRoot: string, rel: string): Promise<void> {
  await unlink(path.resolve(dataRoot, rel)).catch(() => undefined);
}

/**
 * Removes the files in the queue spool that no row references (left by a crash between
 * the link and the commit), whatever their age. Call it before anything can enqueue (at
 * start, before the listeners open): the directory is listed at once, synchronously, so
 * a file linked by a later enqueue is never among the names looked at.
 */
export function cleanOrphans(dataRoot: string, referenced: Set<string>): Promise<number> {
  const dir = queueDir(dataRoot);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return Promise.resolve(0);
  }
  return removeStaleFiles(dir, 0, referenced, names);
}
