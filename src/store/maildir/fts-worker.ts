/**
 * The full-text fill's worker thread (fts-thread.ts starts it; issue 16 item 2): it runs
 * the fill's batches (fts-batch.ts) on its own connection to each account's index, so
 * the files read, the text extracted and SQLite's memory for them (page cache, FTS5's
 * pending terms) live in this thread's heap, given back when it exits after a while
 * without work; the server's event loop meanwhile serves its clients.
 *
 * Messages in: `batch` (answered by id), `forget` (an account removed: its connection
 * is closed), `exit`. The indexer is loaded from the module named in workerData.
 */
import { readFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { TextIndexer } from '../types.js';
import { fillBatch, type BatchRequest, type BatchResult } from './fts-batch.js';
import { IndexQueries } from './queries.js';
import type { WorkerReply } from '../../util/worker-client.js';

/** Where the worker finds the indexer: a module's URL and the name of its export (TextIndexer.module). */
export type IndexerModule = NonNullable<TextIndexer['module']>;

export type ToWorker = { t: 'batch'; id: number; db: string; req: BatchRequest } | { t: 'forget'; db: string } | { t: 'exit' };
export type FromWorker = WorkerReply<BatchResult>;

/** Page cache of the worker's connections, KiB (the account connection's, index-db.ts). */
const CACHE_KIB = 2048;
/** The worker waits this long for the write lock (its own thread: the server's event loop does not). */
const BUSY_MS = 30_000;

const conns = new Map<string, IndexQueries>();

function connect(file: string): IndexQueries {
  let ix = conns.get(file);
  if (!ix) {
    // The index exists (the account is open in the server); its schema and WAL mode were set there.
    const db = new Database(file, { fileMustExist: true });
    db.pragma(`busy_timeout = ${BUSY_MS}`);
    db.pragma('synchronous = NORMAL');
    db.pragma(`cache_size = -${CACHE_KIB}`);
    conns.set(file, (ix = new IndexQueries(db)));
  }
  return ix;
}

function forget(file: string): void {
  conns.get(file)?.close();
  conns.delete(file);
}

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('fts-worker.ts runs as a worker thread');
  const mod = workerData as IndexerModule;
  const indexer = ((await import(mod.url)) as Record<string, unknown>)[mod.name] as TextIndexer;
  if (typeof indexer !== 'function') throw new Error(`${mod.url} has no export ${mod.name}`);
  port.on('message', (m: ToWorker) => {
    if (m.t === 'forget') return forget(m.db);
    if (m.t === 'exit') {
      for (const file of [...conns.keys()]) forget(file);
      port.close();
      return;
    }
    void (async () => {
      try {
        const ix = connect(m.db);
        port.postMessage({ id: m.id, res: await fillBatch(ix, indexer, m.req, () => conns.get(m.db) === ix && ix.db.open, undefined, readFileSync) } satisfies FromWorker);
      } catch (err) {
        port.postMessage({ id: m.id, error: err instanceof Error ? err.message : String(err) } satisfies FromWorker);
      }
    })();
  });
}

await main();
