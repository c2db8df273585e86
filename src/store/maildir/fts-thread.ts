/**
 * The full-text fill's worker thread, seen from the server (issue 16 item 2): batches
 * (fts-batch.ts) are sent to it and answered by promise; it is started at the first
 * batch and told to exit when the fill has no more (`release`), or after `idleMs`
 * without one, so the memory of a large fill (its heap, SQLite's caches on its
 * connections) goes back to the OS when the fill ends instead of staying in the
 * server's heap (issue 16: 34 MB of the 69 MB over idle after the first text search of
 * 100 000 messages).
 *
 * Implementation notes
 * - Started from the same tree this file was loaded from (workerEntry).
 * - A worker that fails or exits rejects the batches it held; the next batch starts a
 *   new one. The fill treats a rejected batch as "not indexed": SEARCH reads the files.
 * - The thread is unref'd while it has no batch, so an idle worker never keeps a CLI
 *   process alive; `stop` (store close) ends every worker started, waiting for each to
 *   close its connections (terminating it after STOP_MS).
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../log.js';
import { workerEntry } from '../../util/worker-entry.js';
import type { BatchRequest, BatchResult } from './fts-batch.js';
import type { FromWorker, IndexerModule, ToWorker } from './fts-worker.js';

export type { IndexerModule } from './fts-worker.js';

/** How long a worker without work stays (ms). */
export const WORKER_IDLE_MS = 3000;
/** How long `stop` waits for a worker to exit by itself before terminating it (ms). */
const STOP_MS = 2000;
/**
 * A batch not answered in this time ends its worker (ms): its batches are rejected and the
 * SEARCH waiting on them reads the files. A batch is 32 messages of at most 32 MB each;
 * one stuck (a read that never completed was seen once in the 100 000-message bench,
 * cause not found) must not hold a client's command for ever.
 */
export const BATCH_MS = 120_000;
/**
 * The worker's young generation (MB; V8 sizes it as three semi-spaces). Left to V8 it
 * grows to 48 MB during a 100 000-message fill (its garbage is short-lived text), all of
 * it resident until the worker exits: the server's RSS stood 30-40 MB higher while the
 * worker lived (issue 16). A 4 MB semi-space costs the fill no measurable time.
 */
export const WORKER_YOUNG_MB = 12;

interface Running {
  worker: Worker;
  pending: Map<number, { resolve: (r: BatchResult) => void; reject: (e: Error) => void }>;
  exited: Promise<void>;
}

export class FtsThread {
  private current?: Running;
  /** Every worker not yet exited (one current, others told to exit). */
  private readonly live = new Set<Running>();
  private nextId = 1;
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly indexer: IndexerModule,
    private readonly idleMs = WORKER_IDLE_MS,
    private readonly log?: Logger,
    private readonly batchMs = BATCH_MS,
  ) {}

  /** Workers not yet exited (tests: none after close, none after the idle time). */
  get threads(): number {
    return this.live.size;
  }

  /** Runs one batch on the index database `db` in the worker. */
  batch(db: string, req: BatchRequest): Promise<BatchResult> {
    if (this.stopped) return Promise.reject(new Error('full-text worker stopped'));
    const w = this.current ?? this.start();
    clearTimeout(this.timer);
    w.worker.ref();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const late = setTimeout(() => {
        this.log?.warn({ db, mailboxId: req.mailboxId, ms: this.batchMs }, 'full-text worker did not answer a batch; ended');
        this.ended(w, new Error('full-text worker did not answer'));
        void w.worker.terminate();
      }, this.batchMs);
      const settled = () => clearTimeout(late);
      w.pending.set(id, { resolve: (r) => (settled(), resolve(r)), reject: (e) => (settled(), reject(e)) });
      this.post(w, { t: 'batch', id, db, req });
    });
  }

  /**
   * No more batches are coming for now: the worker exits at once rather than after idleMs.
   * Resolves once it has exited (its heap and SQLite's memory given back; terminated after
   * STOP_MS), so a SEARCH that ran the fill answers with the server's memory back at its
   * size (issue 16: the 100 000-message fill's worker, still exiting when the next
   * commands ran, stood 30-40 MB over idle).
   */
  release(): Promise<void> {
    const w = this.current;
    if (!w || w.pending.size > 0) return Promise.resolve();
    clearTimeout(this.timer);
    this.current = undefined;
    this.post(w, { t: 'exit' });
    return this.exitOf(w);
  }

  /** The account's index is closed in the server (removed, store closing): the worker closes its connection too. */
  forget(db: string): void {
    if (this.current) this.post(this.current, { t: 'forget', db });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.current = undefined;
    await Promise.all(
      [...this.live].map((w) => {
        this.post(w, { t: 'exit' });
        return this.exitOf(w);
      }),
    );
  }

  /** Resolves when a worker told to exit has, terminating it after STOP_MS. */
  private async exitOf(w: Running): Promise<void> {
    const late = setTimeout(() => void w.worker.terminate(), STOP_MS);
    await w.exited;
    clearTimeout(late);
  }

  private post(w: Running, m: ToWorker): void {
    w.worker.postMessage(m);
  }

  private start(): Running {
    const entry = workerEntry(import.meta.url, 'fts-worker');
    const worker = new Worker(entry.code, { eval: entry.eval, workerData: this.indexer, resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_MB } });
    let exited: () => void = () => undefined;
    const w: Running = { worker, pending: new Map(), exited: new Promise((resolve) => (exited = resolve)) };
    worker.on('message', (m: FromWorker) => {
      const p = w.pending.get(m.id);
      w.pending.delete(m.id);
      if ('error' in m) p?.reject(new Error(m.error));
      else p?.resolve(m.res);
      if (w.pending.size === 0 && this.current === w) this.idle(w);
    });
    worker.on('error', (err) => {
      this.log?.warn({ err }, 'full-text worker failed');
      this.ended(w, err);
    });
    worker.on('exit', (code) => {
      this.ended(w, new Error(`full-text worker exited (${code})`));
      this.live.delete(w);
      exited();
    });
    this.live.add(w);
    this.current = w;
    return w;
  }

  /** No batch left: unref'd, and told to exit if none comes for idleMs. */
  private idle(w: Running): void {
    w.worker.unref();
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      if (this.current !== w || w.pending.size > 0) return;
      this.current = undefined;
      this.post(w, { t: 'exit' });
    }, this.idleMs);
    this.timer.unref();
  }

  /** The worker failed or exited: its batches are rejected, the next batch starts another. */
  private ended(w: Running, err: Error): void {
    if (this.current === w) this.current = undefined;
    for (const p of w.pending.values()) p.reject(err);
    w.pending.clear();
  }
}
