/**
 * The full-text fill's worker thread, seen from the server (issue 16 item 2): batches
 * (fts-batch.ts) are sent to it and answered by promise; it is started at the first
 * batch and told to exit when the fill has no more (`release`), or after `idleMs`
 * without one, so the memory of a large fill (its heap, SQLite's caches on its
 * connections) goes back to the OS when the fill ends instead of staying in the
 * server's heap (issue 16: 34 MB of the 69 MB over idle after the first text search of
 * 100 000 messages).
 *
 * The thread's life (start, deadline, idle exit, stop) is ../../util/worker-client.ts. A
 * worker that fails, exits or misses the deadline rejects the batches it held; the fill
 * treats a rejected batch as "not indexed": SEARCH reads the files.
 */
import type { Logger } from '../../log.js';
import { WorkerClient } from '../../util/worker-client.js';
import type { BatchRequest, BatchResult } from './fts-batch.js';
import type { IndexerModule, ToWorker } from './fts-worker.js';

export type { IndexerModule } from './fts-worker.js';

/** How long a worker without work stays (ms). */
export const WORKER_IDLE_MS = 3000;
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

export class FtsThread {
  private readonly client: WorkerClient<BatchResult>;

  constructor(
    indexer: IndexerModule,
    idleMs = WORKER_IDLE_MS,
    private readonly log?: Logger,
    batchMs = BATCH_MS,
  ) {
    this.client = new WorkerClient({
      name: 'full-text worker',
      callerUrl: import.meta.url,
      module: 'fts-worker',
      workerData: indexer,
      youngMb: WORKER_YOUNG_MB,
      idleMs,
      deadlineMs: () => batchMs,
      onError: (err) => log?.warn({ err }, 'full-text worker failed'),
    });
  }

  /** Workers not yet exited (tests: none after close, none after the idle time). */
  get threads(): number {
    return this.client.threads;
  }

  /** Runs one batch on the index database `db` in the worker. */
  batch(db: string, req: BatchRequest): Promise<BatchResult> {
    return this.client.request({ t: 'batch', db, req } satisfies Omit<ToWorker & { t: 'batch' }, 'id'>, (ms) => {
      this.log?.warn({ db, mailboxId: req.mailboxId, ms }, 'full-text worker did not answer a batch; ended');
      return new Error('full-text worker did not answer');
    });
  }

  /**
   * No more batches are coming for now: the worker exits at once rather than after idleMs.
   * Resolves once it has exited (its heap and SQLite's memory given back; terminated after
   * 2 s), so a SEARCH that ran the fill answers with the server's memory back at its
   * size (issue 16: the 100 000-message fill's worker, still exiting when the next
   * commands ran, stood 30-40 MB over idle).
   */
  release(): Promise<void> {
    return this.client.release();
  }

  /** The account's index is closed in the server (removed, store closing): the worker closes its connection too. */
  forget(db: string): void {
    this.client.post({ t: 'forget', db } satisfies ToWorker);
  }

  stop(): Promise<void> {
    return this.client.stop();
  }
}
