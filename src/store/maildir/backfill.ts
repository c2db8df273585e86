/**
 * The background pass that caches the envelope and body structure of messages indexed
 * by name only (issue 16 item 1). Files another tool dropped into a Maildir are indexed
 * at once from their names and file times (sync.ts pickup), so opening a mailbox of
 * 100 000 new files takes a second, not minutes of parsing; this pass then reads and
 * analyses them a few at a time, pausing between batches so live sessions come first.
 * Until a message is done, readers compute what they need from the file on demand
 * (src/imap/mime-adapter.ts), so the pass changes speed, never answers.
 *
 * Implementation notes
 * - One pass at a time for the whole store, mailboxes in the order they were queued.
 * - A batch starts only when no store call has run and no session has been at work
 *   for a moment (context.ts whenQuiet), and ends early when one starts: commands are
 *   never queued behind the pass.
 * - The cursor walks UIDs in windows, so a mailbox whose rows are all done costs a few
 *   cheap index range reads, never one long scan on the event loop.
 * - A file that vanished or fails to parse is skipped (its row keeps NULL; readers
 *   handle it as before). An account or store closing ends the pass quietly.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { AccountId } from '../types.js';
import { analyze, busy, msgPath, whenQuiet, type Acct, type StoreCtx } from './context.js';
import type { MailboxRow, MessageRow } from './index-db.js';

/** Messages analysed between pauses, and how many at once. */
const BATCH = 64;
const PARALLEL = 4;
/** Pause between batches (ms): the share of the event loop left to live traffic. */
const PAUSE_MS = 5;
/** UIDs looked at per index read. */
const WINDOW = 4096;

export class Backfill {
  private readonly queue = new Map<string, { account: AccountId; mailboxId: number }>();
  private running: Promise<void> | undefined;
  private stopped = false;
  /** Messages analysed so far (tests, the bench). */
  done = 0;

  constructor(private readonly ctx: StoreCtx) {}

  /** Queues a mailbox whose new rows have no analysis yet. */
  schedule(account: AccountId, mailboxId: number): void {
    if (this.stopped || !this.ctx.analyzer) return;
    this.queue.set(`${account}\0${mailboxId}`, { account, mailboxId });
    this.running ??= this.run().finally(() => (this.running = undefined));
  }

  /** Resolves when nothing is queued (tests). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Ends the pass after the message under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  private async run(): Promise<void> {
    while (!this.stopped && this.queue.size > 0) {
      const [key, job] = this.queue.entries().next().value!;
      this.queue.delete(key);
      try {
        await this.fill(job.account, job.mailboxId);
      } catch (err) {
        // The account was removed or the store closed meanwhile: readers still compute on demand.
        this.ctx.log?.debug({ err, account: job.account }, 'background analysis stopped');
      }
    }
  }

  private async fill(account: AccountId, mailboxId: number): Promise<void> {
    let after = 0;
    for (;;) {
      const more = await this.ctx.accounts.use(account, async (a) => {
        let analysed = 0;
        const yieldTo = (): boolean => busy(this.ctx.activity);
        // busy() again here: a command may have come between whenQuiet and now.
        while (analysed < BATCH && !this.stopped && !a.closed && !yieldTo()) {
          const mb = a.ix.mailboxById(mailboxId);
          if (!mb || after >= mb.uidnext) return false;
          const rows = a.ix.unanalyzed(mailboxId, after, WINDOW, BATCH - analysed);
          if (rows.length === 0) {
            after += WINDOW;
            continue;
          }
          const n = await analyseRows(this.ctx, a, mb, rows, yieldTo);
          if (n.through === 0) break; // the account closed
          this.done += n.analysed;
          after = rows[n.through - 1]!.uid;
          analysed += n.through;
        }
        return !this.stopped && !a.closed;
      });
      if (!more) return;
      await sleep(PAUSE_MS);
      await whenQuiet(this.ctx);
    }
  }
}

/**
 * Analyses rows that have none yet, a few files at a time (reading is mostly waiting for
 * the thread pool), caches the results in the index and in the rows given. Returns how
 * many were analysed, and how many rows were gone through: all of them, or fewer when
 * `stop` said so between groups (the background pass yields to a command; at least one
 * group is done). Also used on first need (fetchMeta of envelopes: SEARCH, FETCH).
 */
export async function analyseRows(
  ctx: StoreCtx,
  a: Acct,
  mb: MailboxRow,
  rows: Array<Pick<MessageRow, 'uid' | 'filename' | 'in_new'> & { envelope?: string | null; body_structure?: string | null }>,
  stop?: () => boolean,
): Promise<{ analysed: number; through: number }> {
  let done = 0;
  let i = 0;
  for (; i < rows.length && !a.closed && !(i > 0 && stop?.()); i += PARALLEL) {
    const group = rows.slice(i, i + PARALLEL);
    const metas = await Promise.all(group.map((r) => analyze(ctx, { path: msgPath(a, mb, r) })));
    if (a.closed) break;
    // One commit for the group, not one per message.
    a.ix.tx(() =>
      group.forEach((r, j) => {
        const meta = metas[j]!;
        if (meta.envelope === undefined) return;
        r.envelope = meta.envelope;
        r.body_structure = meta.bodyStructure ?? null;
        a.ix.setAnalysis(mb.id, r.uid, meta.envelope, r.body_structure);
        done++;
      }),
    );
  }
  return { analysed: done, through: Math.min(i, rows.length) };
}
