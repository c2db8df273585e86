/**
 * Durable file-system steps of the Maildir store: file fsync, group-committed
 * directory fsync, hard link with copy fallback, a small async mutex and a bounded
 * parallel map.
 *
 * Group commit: a new directory entry (link/rename into new/ or cur/) is durable only
 * once its directory is fsynced. Concurrent deliveries into one directory share one
 * fsync: requests that arrive while no fsync of that directory is running start one on
 * the next turn of the event loop (so everything linked in the same tick joins); requests
 * that arrive while one is running wait for the next, which starts right after it. A
 * request is resolved only by an fsync that started after the request was made, so the
 * caller's entry is always covered.
 */
import { close as closeCb, constants as fsc, fsync as fsyncCb, open as openCb, write as writeCb } from 'node:fs';
import { promisify } from 'node:util';
import { copyFile, link, open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';

interface DirState {
  waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }>;
  running: boolean;
}

export class DirSyncer {
  private readonly dirs = new Map<string, DirState>();
  /** Number of directory fsyncs done (for the bench script). */
  fsyncs = 0;

  constructor(private readonly enabled: boolean) {}

  sync(dir: string): Promise<void> {
    if (!this.enabled) return Promise.resolve();
    return new Promise((resolve, reject) => {
      let s = this.dirs.get(dir);
      if (!s) {
        s = { waiters: [], running: false };
        this.dirs.set(dir, s);
      }
      s.waiters.push({ resolve, reject });
      if (!s.running) {
        s.running = true;
        const st = s;
        setImmediate(() => void this.run(dir, st));
      }
    });
  }

  private async run(dir: string, s: DirState): Promise<void> {
    while (s.waiters.length > 0) {
      const batch = s.waiters;
      s.waiters = [];
      try {
        await fsyncPath(dir);
        this.fsyncs++;
        for (const w of batch) w.resolve();
      } catch (e) {
        for (const w of batch) w.reject(e);
      }
    }
    s.running = false;
    this.dirs.delete(dir);
  }
}

export async function fsyncPath(p: string): Promise<void> {
  const fh = await open(p, fsc.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

const openFd = promisify(openCb);
const writeFd = promisify(writeCb);
const fsyncFd = promisify(fsyncCb);
const closeFd = promisify(closeCb);

/**
 * Writes data to a new file (O_EXCL) and fsyncs it (the caller fsyncs the directory).
 * Plain descriptors rather than a FileHandle: its promise and finalizer machinery was a
 * visible part of the CPU per delivered message.
 */
export async function writeFileSynced(file: string, data: Buffer, doSync: boolean): Promise<void> {
  const fd = await openFd(file, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o640);
  try {
    for (let off = 0; off < data.length; ) {
      const { bytesWritten } = await writeFd(fd, data, off, data.length - off, off);
      off += bytesWritten;
    }
    if (doSync) await fsyncFd(fd);
  } catch (e) {
    await closeFd(fd).catch(() => undefined);
    await unlink(file).catch(() => undefined);
    throw e;
  }
  await closeFd(fd);
}

const NO_LINK = new Set(['EXDEV', 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK']);

/**
 * Hard-links src to dest; when the file system refuses (another device, no hard
 * links, too many links) copies src into tmpDir, fsyncs the copy and renames it to dest.
 */
export async function linkOrCopy(src: string, dest: string, tmpDir: string, doSync: boolean): Promise<void> {
  try {
    await link(src, dest);
    return;
  } catch (e) {
    if (!NO_LINK.has((e as NodeJS.ErrnoException).code ?? '')) throw e;
  }
  const tmp = path.join(tmpDir, path.basename(dest) + '.copy');
  try {
    await copyFile(src, tmp, fsc.COPYFILE_EXCL);
    if (doSync) await fsyncPath(tmp);
    await rename(tmp, dest);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}

export function isEnoent(e: unknown): boolean {
  return (e as NodeJS.ErrnoException)?.code === 'ENOENT';
}

/** A FIFO async mutex. */
export class Mutex {
  private tail: Promise<void> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

/** Maps items with at most `limit` promises in flight; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  });
  await Promise.all(workers);
  return out;
}

/** Like mapLimit but never rejects: each result is a value or the error. */
export async function settleLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<Array<{ ok: true; value: R } | { ok: false; error: unknown }>> {
  return mapLimit(items, limit, async (it) => {
    try {
      return { ok: true as const, value: await fn(it) };
    } catch (error) {
      return { ok: false as const, error };
    }
  });
}
