/**
 * The queue of a background pass over mailboxes (the full-text fill, fts-fill.ts; the
 * sort keys fill, sortkeys.ts): one job per account and mailbox, a job queued again
 * while it waits merged into it (from the lowest UID asked for), one job at a time for
 * the whole store, oldest first. The pass itself (`fill`) waits for its turn before each
 * batch (`turn`: a pause, then a quiet store) and, having got the account, lets a command
 * that came meanwhile go first (`busy`), as the analysis and dates passes do.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { AccountId } from '../types.js';

/** Pause before each batch (ms): not in the turn of the delivery or command that queued it. */
const PAUSE_MS = 5;

/** What a pass waits for (context.ts whenQuiet and busy, over the store's activity). */
export interface PassActivity {
  /** Resolves when no store call has run and no session has been at work for a while. */
  quiet: () => Promise<void>;
  /** Whether a store call runs or a session is at work now: a batch ends early. */
  busy: () => boolean;
}

export interface MailboxJob {
  account: AccountId;
  mailboxId: number;
  /** Messages above this UID are looked at. */
  after: number;
}

export abstract class MailboxPass<J extends MailboxJob> {
  private readonly queue = new Map<string, J>();
  private running: Promise<void> | undefined;
  protected stopped = false;
  /** Ends the pass's subscription to the change bus (set by the subclass). */
  protected unsubscribe: () => void = () => undefined;

  constructor(private readonly activity: PassActivity) {}

  /** Waits for the next batch's turn: a pause, then a quiet store. */
  protected async turn(): Promise<void> {
    await sleep(PAUSE_MS);
    await this.activity.quiet();
  }

  /** Whether a command runs now (asked again once the account is held, and between groups of files). */
  protected readonly busy = (): boolean => this.activity.busy();

  /** Works through one job; a rejection ends that job only. */
  protected abstract fill(job: J): Promise<void>;
  protected abstract failed(job: J, err: unknown): void;

  /** Queues `job`, or merges it into the one already queued for its mailbox (`merge` for the fields other than `after`). */
  protected enqueue(job: J, merge?: (queued: J) => void): void {
    if (this.stopped) return;
    const queued = this.queue.get(`${job.account}\0${job.mailboxId}`);
    if (queued) {
      queued.after = Math.min(queued.after, job.after);
      merge?.(queued);
    } else this.queue.set(`${job.account}\0${job.mailboxId}`, job);
    this.running ??= this.run().finally(() => (this.running = undefined));
  }

  /** Resolves when nothing is queued (tests, reindex, the bench). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe();
    await this.running;
  }

  private async run(): Promise<void> {
    for (let job = this.take(); job && !this.stopped; job = this.take()) {
      const j = job;
      await this.fill(j).catch((err: unknown) => this.failed(j, err));
    }
  }

  /** The oldest queued job, taken off the queue. */
  private take(): J | undefined {
    const first = this.queue.values().next();
    if (first.done) return undefined;
    this.queue.delete(`${first.value.account}\0${first.value.mailboxId}`);
    return first.value;
  }
}
