/**
 * Fills the full-text index (fts.ts) in the background, so delivery pays nothing for it
 * (issue 16 item 3): every message added (delivery, APPEND, COPY, MOVE, import, files
 * picked up from the Maildir) queues its mailbox from that UID on, through the change
 * bus. A SEARCH that finds messages without a document indexes them first (indexNow):
 * that is how indexes made before this table, and `reindex`, get filled when nothing
 * queued them. A message that cannot be indexed is answered by reading its file.
 *
 * Implementation notes
 * - One pass at a time for the whole store; BATCH messages per transaction, each batch
 *   only once the store is quiet (context.ts whenQuiet: no store call, no session at
 *   work) and ended early when it is not any more, as the other background passes:
 *   a stream of deliveries is not slowed by indexing it (on port 25 the fill beside the
 *   deliveries cost about a third of the server's CPU per message). A server that is
 *   never quiet leaves the work to the first SEARCH that needs it (indexNow).
 * - A file gone meanwhile (expunged, moved to cur/) is skipped; the next search that
 *   meets it unindexed queues it again. A message the indexer cannot take (too large)
 *   gets an all-NULL document: SEARCH reads it, the fill does not retry it.
 */
import { readFile } from 'node:fs/promises';
import type { InProcessChangeBus } from '../changes.js';
import type { AccountId, TextIndexer } from '../types.js';
import type { AccountCache } from './cache.js';
import { msgPath, type Acct } from './context.js';
import { q } from './fts.js';
import { MailboxPass, type MailboxJob, type PassActivity } from './mailbox-pass.js';
import type { MailboxRow } from './index-db.js';
import type { Logger } from '../../log.js';

const BATCH = 32;
/** Files read at once (each is held in memory while its text is extracted). */
const PARALLEL = 4;
/** Larger messages are not read for the index (SEARCH reads them itself). */
export const MAX_FILL_BYTES = 32 * 1024 * 1024;

type Doc = NonNullable<ReturnType<TextIndexer>>;
type Row = { uid: number; filename: string; in_new: number; size: number; unanalysed: number };

/** A mailbox's messages without a document (parameter: the mailbox id). */
const MISSING = `SELECT uid, filename, in_new, size, envelope IS NULL AS unanalysed FROM messages m WHERE mailbox_id = ? AND NOT EXISTS
  (SELECT 1 FROM fts_docs d WHERE d.mailbox_id = m.mailbox_id AND d.uid = m.uid)`;

interface Job extends MailboxJob {
  /** Only if the mailbox has fewer documents than messages. */
  ifMissing: boolean;
}

export class FtsFill extends MailboxPass<Job> {
  /** indexNow runs under way, per account and mailbox. */
  private readonly now = new Map<string, Promise<void>>();
  /** Messages indexed so far (tests, the bench). */
  done = 0;

  constructor(
    private readonly accounts: AccountCache,
    private readonly indexer: TextIndexer,
    changes: InProcessChangeBus,
    activity: PassActivity,
    private readonly log?: Logger,
  ) {
    super(activity);
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
    let after = job.after;
    // Not in the turn of the command that queued it (a SELECT answers first), nor beside live traffic.
    await this.turn();
    for (;;) {
      // A SEARCH indexing this mailbox now: wait for it rather than read the same files.
      await this.now.get(`${job.account}\0${job.mailboxId}`);
      const next = await this.accounts.use(job.account, async (a) => {
        const mb = a.ix.mailboxById(job.mailboxId);
        if (!mb || a.closed) return undefined;
        if (job.ifMissing && (q(a.ix.db, 'SELECT count(*) FROM fts_docs WHERE mailbox_id = ?').pluck().get(mb.id) as number) >= mb.messages) return undefined;
        job.ifMissing = false; // counted once per job
        if (this.busy()) return after; // a command came meanwhile: after it
        const rows = q(a.ix.db, `${MISSING} AND uid > ? ORDER BY uid LIMIT ?`).all(mb.id, after, BATCH) as Row[];
        if (rows.length === 0) return undefined;
        const through = await this.index(a, mb, rows, this.busy);
        return through === 0 ? undefined : rows[through - 1]!.uid;
      });
      if (next === undefined || this.stopped) return;
      after = next;
      await this.turn();
    }
  }

  /**
   * Indexes every message of the mailbox that has no document, now, yielding between
   * batches but not pausing: a SEARCH waits for it. Reading each file once into the
   * index costs about what reading it for this one search would, and the next search
   * finds it done.
   */
  async indexNow(a: Acct, mb: MailboxRow): Promise<void> {
    // Two searches of one mailbox share one run.
    const key = `${a.id}\0${mb.id}`;
    let run = this.now.get(key);
    if (!run) {
      this.now.set(key, (run = this.indexMissing(a, mb).finally(() => this.now.delete(key))));
    }
    await run;
  }

  private async indexMissing(a: Acct, mb: MailboxRow): Promise<void> {
    const docs = q(a.ix.db, 'SELECT count(*) FROM fts_docs WHERE mailbox_id = ?').pluck().get(mb.id) as number;
    if (docs >= mb.messages) return;
    const rows = q(a.ix.db, `${MISSING} ORDER BY uid`).all(mb.id) as Row[];
    for (let i = 0; i < rows.length && !a.closed && !this.stopped; i += BATCH) {
      await this.index(a, mb, rows.slice(i, i + BATCH));
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  private async docOf(a: Acct, mb: MailboxRow, r: Row): Promise<{ r: Row; doc: Doc | null } | undefined> {
    if (r.size > MAX_FILL_BYTES) return { r, doc: null };
    try {
      return { r, doc: this.indexer(await readFile(msgPath(a, mb, r))) ?? null };
    } catch {
      return undefined; // gone meanwhile, or unreadable: SEARCH reads it
    }
  }

  /**
   * Reads, extracts and stores the documents of `rows`, PARALLEL files at a time; `stop`
   * (asked between groups, after the first) ends the reading early and what was read is
   * stored. Returns how many rows were gone through.
   */
  private async index(a: Acct, mb: MailboxRow, rows: Row[], stop?: () => boolean): Promise<number> {
    const docs: Array<{ r: Row; doc: Doc | null } | undefined> = [];
    for (let i = 0; i < rows.length && !a.closed && !(i > 0 && stop?.()); i += PARALLEL) {
      docs.push(...(await Promise.all(rows.slice(i, i + PARALLEL).map((r) => this.docOf(a, mb, r)))));
    }
    if (a.closed) return 0;
    // A row expunged while its file was read gets no document (the WHERE EXISTS).
    const ins = q(
      a.ix.db,
      `INSERT OR IGNORE INTO fts_docs (mailbox_id, uid, head, addrs, parts, body)
         SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM messages WHERE mailbox_id = ? AND uid = ?)`,
    );
    a.ix.tx(() => {
      for (const d of docs) {
        if (!d) continue;
        const x = d.doc;
        ins.run(mb.id, d.r.uid, x?.head ?? null, x?.addrs ?? null, x?.parts ?? null, x?.body ?? null, mb.id, d.r.uid);
        // The analysis made on the way is cached too: the background analysis (backfill.ts) need not parse it again.
        const an = x?.analysis;
        if (d.r.unanalysed && an?.envelope !== undefined) {
          a.ix.setAnalysis(mb.id, d.r.uid, JSON.stringify(an.envelope), an.bodyStructure === undefined ? null : JSON.stringify(an.bodyStructure));
        }
        this.done++;
      }
    });
    return docs.length;
  }
}
