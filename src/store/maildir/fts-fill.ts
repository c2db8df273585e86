/**
 * Fills the full-text index (fts.ts) in the background, so delivery pays nothing for it
 * (issue 16 item 3): every message added (delivery, APPEND, COPY, MOVE, import, files
 * picked up from the Maildir) queues its mailbox from that UID on, through the change
 * bus. A SEARCH that finds messages without a document indexes them first (indexNow):
 * that is how indexes made before this table, and `reindex`, get filled when nothing
 * queued them. A message that cannot be indexed is answered by reading its file.
 *
 * Implementation notes
 * - The batches (fts-batch.ts: files read, text extracted, documents written) run in a
 *   worker thread with its own connection (fts-thread.ts, fts-worker.ts) when the
 *   indexer says where a worker can load it (TextIndexer.module): the event loop stays
 *   free for other clients during a fill of 100 000 messages, and the fill's memory
 *   goes with the worker when it ends (issue 16 item 2). Otherwise on the account's
 *   connection, yielding between batches.
 * - One pass at a time for the whole store; BATCH messages per transaction, each batch
 *   only once the store is quiet (context.ts whenQuiet: no store call, no session at
 *   work) and, on the account's connection, ended early when it is not any more, as
 *   the other background passes: a stream of deliveries is not slowed by indexing it
 *   (on port 25 the fill beside the deliveries cost about a third of the server's CPU
 *   per message). A server that is never quiet leaves the work to the first SEARCH
 *   that needs it (indexNow).
 * - A batch that fails (the worker crashed, the account closed) ends that job or that
 *   indexNow: the messages stay without a document and SEARCH reads their files.
 */
import { setImmediate as yieldLoop } from 'node:timers/promises';
import type { InProcessChangeBus } from '../changes.js';
import type { AccountId, TextIndexer } from '../types.js';
import type { AccountCache } from './cache.js';
import { dirOf, type Acct } from './context.js';
import { fillBatch, type BatchResult } from './fts-batch.js';
import { q } from './fts.js';
import { FtsThread } from './fts-thread.js';
import { MailboxPass, type MailboxJob, type PassActivity } from './mailbox-pass.js';
import type { MailboxRow } from './index-db.js';
import type { Logger } from '../../log.js';

export { MAX_FILL_BYTES } from './fts-batch.js';

const BATCH = 32;

/** Messages missing from the index from which a job runs in the worker (fewer: a delivery's few, here). */
export const WORKER_MIN = 256;

interface Job extends MailboxJob {
  /** Only if the mailbox has fewer documents than messages. */
  ifMissing: boolean;
  /** Whether its batches run in the worker (decided at its first batch). */
  inWorker?: boolean;
}

export class FtsFill extends MailboxPass<Job> {
  /** indexNow runs under way, per account and mailbox. */
  private readonly now = new Map<string, Promise<void>>();
  /** Messages indexed so far (tests, the bench). */
  done = 0;
  /** The worker thread, when the indexer can be loaded in one. */
  private readonly thread?: FtsThread;
  private readonly workerMin: number;
  /** Runs (jobs, indexNow) in the worker now. */
  private inWorker = 0;

  constructor(
    private readonly accounts: AccountCache,
    private readonly indexer: TextIndexer,
    changes: InProcessChangeBus,
    activity: PassActivity,
    private readonly log?: Logger,
    worker: { idleMs?: number; min?: number; batchMs?: number } = {},
  ) {
    super(activity);
    if (indexer.module) this.thread = new FtsThread(indexer.module, worker.idleMs, log, worker.batchMs);
    this.workerMin = worker.min ?? WORKER_MIN;
    this.unsubscribe = changes.subscribeAll((c) => {
      if (c.kind === 'added' && c.uids.length > 0) this.schedule(c.account, c.mailboxId, c.uids.reduce((m, u) => Math.min(m, u), Infinity) - 1);
    });
  }

  /**
   * Queues the mailbox's messages above `after` that have no document. `ifMissing`: only
   * when the mailbox has fewer documents than messages (a cheap count first; a mailbox
   * opened is checked so, not scanned).
   */
  schedule(account: AccountId, mailboxId: number, after = 0, ifMissing = false): void {
    this.enqueue({ account, mailboxId, after, ifMissing }, (queued) => (queued.ifMissing &&= ifMissing));
  }

  // The account was removed or the store closed meanwhile: SEARCH reads the files.
  protected failed(job: Job, err: unknown): void {
    this.log?.debug({ err, account: job.account }, 'full-text indexing stopped');
  }

  protected async fill(job: Job): Promise<void> {
    try {
      await this.fillJob(job);
    } finally {
      if (job.inWorker) await this.workerDone();
    }
  }

  private async fillJob(job: Job): Promise<void> {
    let after = job.after;
    // Not in the turn of the command that queued it (a SELECT answers first), nor beside live traffic.
    await this.turn();
    for (;;) {
      // A SEARCH indexing this mailbox now: wait for it rather than read the same files.
      await this.now.get(`${job.account}\0${job.mailboxId}`);
      const next = await this.accounts.use(job.account, async (a) => {
        const mb = a.ix.mailboxById(job.mailboxId);
        if (!mb || a.closed) return undefined;
        if (job.inWorker === undefined) {
          // Counted once per job; a delivery's job (few UIDs above `after`) needs no count.
          const above = mb.uidnext - 1 - after;
          const missing = job.ifMissing || above >= this.workerMin ? this.missing(a, mb) : above;
          if (job.ifMissing && missing <= 0) return undefined;
          job.inWorker = this.workerFor(missing);
        }
        if (this.busy()) return after; // a command came meanwhile: after it
        const r = await this.batch(a, mb, after, job.inWorker, this.busy);
        return r.last === 0 ? undefined : r.last;
      });
      if (next === undefined || this.stopped) return;
      after = next;
      await this.turn();
    }
  }

  /**
   * Indexes every message of the mailbox that has no document, now, batch after batch
   * but not pausing: a SEARCH waits for it. Reading each file once into the index costs
   * about what reading it for this one search would, and the next search finds it done.
   * A failure is logged, not thrown: the search reads what is left.
   */
  async indexNow(a: Acct, mb: MailboxRow): Promise<void> {
    // Two searches of one mailbox share one run.
    const key = `${a.id}\0${mb.id}`;
    let run = this.now.get(key);
    if (!run) {
      run = this.indexMissing(a, mb)
        .catch((err: unknown) => this.log?.warn({ err, account: a.id }, 'full-text indexing failed; the search reads the files'))
        .finally(() => this.now.delete(key));
      this.now.set(key, run);
    }
    await run;
  }

  /** The account's index is closed (removed, evicted): the worker's connection to it goes too. */
  forget(a: Acct): void {
    this.thread?.forget(a.ix.db.name);
  }

  /** Worker threads not yet exited (tests). */
  get threads(): number {
    return this.thread?.threads ?? 0;
  }

  override async stop(): Promise<void> {
    await super.stop();
    await this.thread?.stop();
  }

  /** Messages of the mailbox without a document (a count of each: no scan). */
  private missing(a: Acct, mb: MailboxRow): number {
    return mb.messages - (q(a.ix.db, 'SELECT count(*) FROM fts_docs WHERE mailbox_id = ?').pluck().get(mb.id) as number);
  }

  private async indexMissing(a: Acct, mb: MailboxRow): Promise<void> {
    const missing = this.missing(a, mb);
    if (missing <= 0) return;
    const inWorker = this.workerFor(missing);
    try {
      for (let after = 0; !a.closed && !this.stopped; ) {
        const r = await this.batch(a, mb, after, inWorker);
        if (r.last === 0) return;
        after = r.last;
        if (!inWorker) await yieldLoop();
      }
    } finally {
      // The SEARCH waiting for this answers once the worker has exited (fts-thread.ts release).
      if (inWorker) await this.workerDone();
    }
  }

  /** Whether a run with `missing` messages to index goes to the worker (counted in `inWorker` until workerDone). */
  private workerFor(missing: number): boolean {
    if (!this.thread || missing < this.workerMin) return false;
    this.inWorker++;
    return true;
  }

  /** A run in the worker ended: with none left, the worker exits now (its memory given back), not after its idle time; resolves when it has. */
  private workerDone(): Promise<void> {
    return --this.inWorker === 0 && this.thread ? this.thread.release() : Promise.resolve();
  }

  /** One batch above `after`: in the worker, or here on the account's connection (`stop`: a background batch ends early when a command comes). */
  private async batch(a: Acct, mb: MailboxRow, after: number, inWorker: boolean, stop?: () => boolean): Promise<BatchResult> {
    const req = { mailboxId: mb.id, dir: dirOf(a, mb.folder), after, limit: BATCH };
    const r = inWorker && this.thread ? await this.thread.batch(a.ix.db.name, req) : await fillBatch(a.ix, this.indexer, req, () => !a.closed, stop);
    this.done += r.indexed;
    return r;
  }
}
