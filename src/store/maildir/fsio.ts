/**
 * Concurrency helpers of the Maildir store: the group-committed directory fsync, a
 * small async mutex and a bounded parallel map. The durable file steps themselves
 * (fsync, write-and-fsync, link-or-copy) are the server's one set in src/util/fs.ts.
 *
 * Group commit: a new directory entry (link/rename into new/ or cur/) is durable only
 * once its directory is fsynced. Concurrent deliveries into one directory share one
 * fsync: requests that arrive while no fsync of that directory is running start one on
 * the next turn of the event loop (so everything linked in the same tick joins); requests
 * that arrive while one is running wait for the next, which starts right after it. A
 * request is resolved only by an fsync that started after the request was made, so the
 * caller's entry is always covered.
 */
import { opendir } from 'node:fs/promises';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { fsyncPath } from '../../util/fs.js';

/** Directory entries read per call of a listing (listNames). */
const DIR_BATCH = 1024;

/**
 * The names in a directory, without those starting with "." (Maildir's own files),
 * read DIR_BATCH entries at a time. One readdir of cur/ with 100 000 files had the
 * thread pool's scandir() hold every entry at once in a malloc arena of that thread,
 * which kept the ~10 MB after they were freed (issue 16 item 2, bench/imap-large).
 */
export async function listNames(dir: string): Promise<string[]> {
  const out: string[] = [];
  await eachNameBatch(dir, (names) => {
    for (const n of names) out.push(n);
  });
  return out;
}

/**
 * Calls fn with the names of a directory (without those starting with "."), DIR_BATCH
 * at a time, with a turn of the event loop between batches. The entries are read with
 * Dir.readSync (a getdents of DIR_BATCH entries now and then): the async iteration of
 * a Dir makes a promise per entry, and on 100 000 entries that garbage alone grew V8's
 * young generation to 8 MB.
 */
export async function eachNameBatch(dir: string, fn: (names: string[]) => void): Promise<void> {
  const d = await opendir(dir, { bufferSize: DIR_BATCH });
  try {
    for (;;) {
      const names: string[] = [];
      let e;
      while (names.length < DIR_BATCH && (e = d.readSync()) !== null) if (e.name.charCodeAt(0) !== 46) names.push(e.name);
      if (names.length > 0) fn(names);
      if (e === null) return;
      await nextTurn();
    }
  } finally {
    d.closeSync();
  }
}

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
