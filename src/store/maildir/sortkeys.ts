/**
 * SupportsSort for the Maildir store: the `sortkeys` table of the account index
 * (index-db.ts, last block of SCHEMA) and the SQL that sorts by it.
 *
 * - Keys are written off the delivery path: a message delivered or appended is queued
 *   (change bus, origin deliver/append) and a background pass (KeysFill) reads its header
 *   from the file and writes its keys once the store is quiet, many rows per
 *   transaction. In the delivery's own transaction the row and its five indexes were
 *   seven more WAL pages per commit (15.7 instead of 8.7), most of what port 25 paid
 *   for SORT. Rows without keys (not filled yet, COPY, files another tool dropped in,
 *   indexes made before the table) are filled on the first SORT or THREAD that needs
 *   them: their headers are read synchronously READ_CHUNK files per turn of the event
 *   loop (the stat chunks of dates.ts), each batch committed in one transaction. A
 *   mailbox whose keys are complete costs one COUNT over the primary key to know it.
 * - Sorting is ORDER BY over the table (an index per single key; SQLite sorts in C for
 *   the rest), ties by UID; THREAD reads the rows and builds the threads above.
 * - ARRIVAL and SIZE are copied from the message row when the keys are written: the
 *   INTERNALDATE, and RFC822.SIZE as the analysis measured it (bare LF counted as CRLF),
 *   else the file size. Sent date falls back to the INTERNALDATE (RFC 5256 §2.2).
 */
import { settleDates } from './dates.js';
import { closeSync, openSync, readSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { setImmediate as yieldLoop } from 'node:timers/promises';
import { headerOf, sortKeysOf, SORT_HEADER_MAX, type SortCriterion, type SortKeyName, type SortKeys, type StoredSortKeys, type ThreadKeys } from '../sortkeys.js';
import type { AccountId, MailboxId, Uid } from '../types.js';
import { busy, msgPath, mustMailboxId, whenQuiet, type Acct, type StoreCtx } from './context.js';
import type { IndexDb, MailboxRow } from './index-db.js';
import { MailboxPass, type MailboxJob } from './mailbox-pass.js';

/** Rows filled per transaction. */
const BATCH = 512;
/** The first read of a file for its header; a longer header is read again, up to SORT_HEADER_MAX. */
const HEAD_READ = 16 * 1024;

const COLUMN: Record<SortKeyName, string> = {
  arrival: 'arrival',
  cc: 'addr_cc',
  date: 'sent',
  from: 'addr_from',
  size: 'size',
  subject: 'subject',
  to: 'addr_to',
  displayfrom: 'display_from',
  displayto: 'display_to',
};

/** RFC822.SIZE as the analysis measured it (bare LF counted as CRLF), else the file size. */
const ROW_SIZE = `coalesce(json_extract(body_structure, '$.headerSize') + json_extract(body_structure, '$.bodySize'), size)`;

type Stmt = Database.Statement<unknown[]>;
interface Stmts {
  insertValues: Stmt;
  rowsIn: Stmt;
  count: Stmt;
  missing: Stmt;
  all: Stmt;
  thread: Stmt;
}
const stmts = new WeakMap<IndexDb, Stmts>();

function stmtsOf(db: IndexDb): Stmts {
  let s = stmts.get(db);
  if (!s) {
    s = {
      insertValues: db.prepare(
        `INSERT OR REPLACE INTO sortkeys (mailbox_id, uid, sent, arrival, size, subject, reply, addr_from, addr_to, addr_cc, display_from, display_to, message_id, refs)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      rowsIn: db.prepare(`SELECT uid, internal_date, ${ROW_SIZE} FROM messages WHERE mailbox_id = ? AND uid BETWEEN ? AND ?`).raw(),
      count: db.prepare('SELECT count(*) FROM sortkeys WHERE mailbox_id = ?').pluck(),
      missing: db.prepare(
        `SELECT m.uid, m.filename, m.in_new FROM messages m WHERE m.mailbox_id = ? AND m.uid > ?
           AND NOT EXISTS (SELECT 1 FROM sortkeys k WHERE k.mailbox_id = m.mailbox_id AND k.uid = m.uid) ORDER BY m.uid LIMIT ?`,
      ),
      all: db.prepare(
        `SELECT uid, sent, arrival, size, subject, reply, addr_from, addr_to, addr_cc, display_from, display_to, message_id, refs
           FROM sortkeys WHERE mailbox_id = ? ORDER BY uid`,
      ),
      // What THREAD reads, as arrays (no object per row from SQLite).
      thread: db.prepare('SELECT uid, sent, subject, reply, message_id, refs FROM sortkeys WHERE mailbox_id = ? AND uid > ? ORDER BY uid LIMIT ?').raw(),
    };
    stmts.set(db, s);
  }
  return s;
}

function writeKeys(s: Stmts, mailboxId: number, uid: number, k: SortKeys, date: number, size: number): void {
  s.insertValues.run(mailboxId, uid, k.sent ?? date, date, size, k.subject, k.reply ? 1 : 0, k.from, k.to, k.cc, k.displayFrom, k.displayTo, k.messageId, k.refs.length > 0 ? k.refs.join(' ') : null);
}

/**
 * Writes the keys a fill read for `uids` (ascending), in one transaction: the rows'
 * dates and sizes in one range read (a per-row INSERT ... SELECT cost three times as
 * much), rows expunged meanwhile skipped.
 */
function insertFilled(db: IndexDb, mailboxId: number, uids: readonly number[], keys: readonly SortKeys[]): void {
  const s = stmtsOf(db);
  const rows = new Map<number, [number, number]>();
  for (const [uid, date, size] of s.rowsIn.all(mailboxId, uids[0], uids[uids.length - 1]) as Array<[number, number, number]>) rows.set(uid, [date, size]);
  uids.forEach((uid, i) => {
    const row = rows.get(uid);
    if (row) writeKeys(s, mailboxId, uid, keys[i]!, row[0], row[1]);
  });
}

/** Files read per turn of the event loop by a fill (a few ms, as dates.ts stats them). */
const READ_CHUNK = 128;
/** The first read of each file goes here (the keys are taken out before the next read). */
const headBuf = Buffer.alloc(HEAD_READ);

/**
 * A file's header, read synchronously: an open, one read and a close cost a few
 * microseconds on a file in the page cache, where the promise API's round trips through
 * the thread pool cost tens (most of a first SORT on 100 000 dropped-in files). The
 * result may point into `headBuf`: use it before the next call.
 */
function readHeaderSync(file: string): Buffer {
  const fd = openSync(file, 'r');
  try {
    const n = readSync(fd, headBuf, 0, HEAD_READ, 0);
    const head = headerOf(headBuf.subarray(0, n));
    if (head.length < n || n < HEAD_READ) return head;
    const big = Buffer.alloc(SORT_HEADER_MAX);
    return headerOf(big.subarray(0, readSync(fd, big, 0, SORT_HEADER_MAX, 0)));
  } finally {
    closeSync(fd);
  }
}

/** A row's keys from its file; a file gone meanwhile (expunged by another tool): empty keys, the next sync drops its row. */
function keysOfFile(file: string): SortKeys {
  let head: Buffer;
  try {
    head = readHeaderSync(file);
  } catch {
    head = Buffer.alloc(0);
  }
  return sortKeysOf(head);
}

/**
 * Fills the keys of up to `limit` rows without keys above UID `after` (`settle`: their
 * pending internal dates first, dates.ts; a SORT settles the whole mailbox itself).
 * Returns the last UID filled and how many, or undefined when none was missing.
 */
async function fillBatch(a: Acct, mb: MailboxRow, after: number, limit: number, settle = false): Promise<{ last: number; n: number } | undefined> {
  const rows = stmtsOf(a.ix.db).missing.all(mb.id, after, limit) as Array<{ uid: number; filename: string; in_new: number }>;
  if (rows.length === 0 || a.closed) return undefined;
  const uids = rows.map((r) => r.uid);
  if (settle) await settleDates(a, mb.id, uids);
  const keys: SortKeys[] = [];
  for (let i = 0; i < rows.length; i += READ_CHUNK) {
    if (i > 0) await yieldLoop();
    for (const r of rows.slice(i, i + READ_CHUNK)) keys.push(keysOfFile(msgPath(a, mb, r)));
  }
  if (a.closed) return undefined;
  a.ix.tx(() => insertFilled(a.ix.db, mb.id, uids, keys));
  return { last: uids[uids.length - 1]!, n: rows.length };
}

/** Fills the keys of every row of the mailbox that has none (see the module comment); returns how many. */
async function fillMissing(a: Acct, mb: MailboxRow): Promise<number> {
  let filled = 0;
  for (let after = 0; ; await yieldLoop()) {
    const done = await fillBatch(a, mb, after, BATCH);
    if (!done) return filled;
    filled += done.n;
    after = done.last;
  }
}

/** Rows a background batch fills before it waits for a quiet store again. */
const QUIET_BATCH = READ_CHUNK;

/**
 * The background pass that writes the keys of delivered and appended messages (see the
 * module comment): one job per mailbox from the lowest UID queued, a batch at a time
 * once the store is quiet (context.ts whenQuiet), as the other background passes. A
 * server that is never quiet leaves them to the first SORT or THREAD, which fills what
 * is missing itself. Files another tool dropped in (a pick-up) are not queued: a SORT
 * fills them, as before.
 */
export class KeysFill extends MailboxPass<MailboxJob> {
  /** Rows filled so far (tests). */
  done = 0;

  constructor(private readonly ctx: StoreCtx) {
    super({ quiet: () => whenQuiet(ctx), busy: () => busy(ctx.activity) });
    this.unsubscribe = ctx.changes.subscribeAll((c) => {
      if (c.kind !== 'added' || c.uids.length === 0 || (c.origin?.via !== 'deliver' && c.origin?.via !== 'append')) return;
      this.enqueue({ account: c.account, mailboxId: c.mailboxId, after: c.uids.reduce((m, u) => Math.min(m, u), Infinity) - 1 });
    });
  }

  // The account was removed or the store closed meanwhile: a SORT fills what is missing.
  protected failed(job: MailboxJob, err: unknown): void {
    this.ctx.log?.debug({ err, account: job.account }, 'background sort keys stopped');
  }

  protected async fill(job: MailboxJob): Promise<void> {
    for (let after = job.after; !this.stopped; ) {
      await this.turn();
      if (this.stopped) return;
      const done = await this.ctx.accounts.use(job.account, async (a) => {
        const mb = a.ix.mailboxById(job.mailboxId);
        if (!mb || a.closed) return undefined;
        // A command that came while this waited for the account goes first.
        return this.busy() ? { last: after, n: 0 } : fillBatch(a, mb, after, QUIET_BATCH, true);
      });
      if (!done) return;
      this.done += done.n;
      after = done.last;
    }
  }
}

/**
 * The mailbox with its keys complete, then `fn` started without an await in between. Rows
 * copied in while a fill ran are filled by another round; a round that finds nothing
 * to fill ends the wait (the counters never make it spin).
 */
async function withKeys<T>(ctx: StoreCtx, account: AccountId, mailboxId: MailboxId, fn: (a: Acct) => T | Promise<T>): Promise<T> {
  return ctx.accounts.use(account, async (a) => {
    // ARRIVAL and a missing Date header's sent date are copied from internal_date: the
    // dates a pick-up took from file names get their mtimes first (dates.ts).
    await settleDates(a, mailboxId);
    for (;;) {
      const mb = mustMailboxId(a, mailboxId);
      if ((stmtsOf(a.ix.db).count.get(mb.id) as number) >= mb.messages || a.closed) return fn(a);
      if ((await fillMissing(a, mb)) === 0) return fn(a);
    }
  });
}

export function sortUids(ctx: StoreCtx, account: AccountId, mailboxId: MailboxId, by: readonly SortCriterion[], uids?: readonly Uid[]): Promise<Uid[]> {
  return withKeys(ctx, account, mailboxId, (a) => {
    const order = by.map((c) => `${COLUMN[c.key]}${c.reverse ? ' DESC' : ''}`).concat('uid');
    const all = a.ix.db.prepare(`SELECT uid FROM sortkeys WHERE mailbox_id = ? ORDER BY ${order.join(', ')}`).pluck().all(mailboxId) as Uid[];
    if (!uids) return all;
    const wanted = new Set<number>(uids);
    return all.filter((u) => wanted.has(u));
  });
}

interface KeyRow {
  uid: number;
  sent: number;
  arrival: number;
  size: number;
  subject: string;
  reply: number;
  addr_from: string;
  addr_to: string;
  addr_cc: string;
  display_from: string;
  display_to: string;
  message_id: string | null;
  refs: string | null;
}

export function sortKeys(ctx: StoreCtx, account: AccountId, mailboxId: MailboxId, uids?: readonly Uid[]): Promise<StoredSortKeys[]> {
  return withKeys(ctx, account, mailboxId, (a) => {
    const wanted = uids ? new Set<number>(uids) : undefined;
    const out: StoredSortKeys[] = [];
    for (const r of stmtsOf(a.ix.db).all.iterate(mailboxId) as IterableIterator<KeyRow>) {
      if (wanted && !wanted.has(r.uid)) continue;
      out.push({
        uid: r.uid,
        sent: r.sent,
        arrival: r.arrival,
        size: r.size,
        subject: r.subject,
        reply: r.reply === 1,
        from: r.addr_from,
        to: r.addr_to,
        cc: r.addr_cc,
        displayFrom: r.display_from,
        displayTo: r.display_to,
        messageId: r.message_id,
        refs: r.refs === null ? [] : r.refs.split(' '),
      });
    }
    return out;
  });
}

const NO_REFS: string[] = [];

/** Rows per read of THREAD's keys, with a turn of the event loop between reads. */
const THREAD_PAGE = 8192;

/**
 * THREAD's keys: six columns read as arrays, six fields per message (most of a THREAD of
 * 100 000 was rows to objects), THREAD_PAGE rows at a time with a turn of the event loop
 * between (all at once held every session ~115 ms). A message expunged or moved by another
 * session meanwhile may be missing; one added meanwhile is not in the session's view.
 */
export function threadKeys(ctx: StoreCtx, account: AccountId, mailboxId: MailboxId, uids?: readonly Uid[]): Promise<ThreadKeys[]> {
  return withKeys(ctx, account, mailboxId, async (a) => {
    const wanted = uids ? new Set<number>(uids) : undefined;
    const out: ThreadKeys[] = [];
    for (let after = 0; ; ) {
      const rows = stmtsOf(a.ix.db).thread.all(mailboxId, after, THREAD_PAGE) as Array<[number, number, string, number, string | null, string | null]>;
      for (const [uid, sent, subject, reply, messageId, refs] of rows) {
        if (wanted && !wanted.has(uid)) continue;
        out.push({ uid, sent, subject, reply: reply === 1, messageId, refs: refs === null ? NO_REFS : refs.split(' ') });
      }
      if (rows.length < THREAD_PAGE || a.closed) return out;
      after = rows[rows.length - 1]![0];
      await yieldLoop();
    }
  });
}
