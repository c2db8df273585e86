/**
 * SupportsSort for the Maildir store: the `sortkeys` table of the account index
 * (index-db.ts, last block of SCHEMA) and the SQL that sorts by it.
 *
 * - Delivery and APPEND write a message's keys in the transaction that inserts its row
 *   (save.ts calls `keysRow` and `insertKeys`), from the header of the bytes accepted.
 * - Rows without keys (COPY, files another tool dropped in, indexes made before the
 *   table) are filled on the first SORT or THREAD that needs them: their headers are
 *   read synchronously READ_CHUNK files per turn of the event loop (the stat chunks of
 *   dates.ts), each batch committed in one transaction. A mailbox whose keys are complete
 *   costs one COUNT over the primary key to know it.
 * - Sorting is ORDER BY over the table (an index per single key; SQLite sorts in C for
 *   the rest), ties by UID; THREAD reads the rows and builds the threads above.
 * - ARRIVAL and SIZE are copied from the message row when the keys are written: the
 *   INTERNALDATE, and RFC822.SIZE as the analysis measured it (bare LF counted as CRLF),
 *   else the file size. Sent date falls back to the INTERNALDATE (RFC 5256 §2.2).
 */
import { settleDates } from './dates.js';
import { closeSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type Database from 'better-sqlite3';
import { setImmediate as yieldLoop } from 'node:timers/promises';
import { headerOf, sortKeysOf, SORT_HEADER_MAX, type SortCriterion, type SortKeyName, type SortKeys, type StoredSortKeys, type ThreadKeys } from '../sortkeys.js';
import type { AccountId, MailboxId, Uid } from '../types.js';
import { msgPath, mustMailboxId, type Acct, type StoreCtx } from './context.js';
import type { IndexDb, MailboxRow } from './index-db.js';

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
      thread: db.prepare('SELECT uid, sent, subject, reply, message_id, refs FROM sortkeys WHERE mailbox_id = ? ORDER BY uid').raw(),
    };
    stmts.set(db, s);
  }
  return s;
}

/**
 * Writes a message's keys with its row's internal date and RFC822.SIZE (the analysis's,
 * else the file's: what ROW_SIZE reads), from the values the caller has, not read back
 * from the row (a delivery's hot path); run it in the transaction that inserted the row.
 */
export function insertKeys(db: IndexDb, mailboxId: number, uid: number, k: SortKeys, row: { date: number; size: number }): void {
  writeKeys(stmtsOf(db), mailboxId, uid, k, row.date, row.size);
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

/** The keys of a message about to be stored, from its bytes or the first bytes of its file. */
export async function keysOfSource(src: { data: Buffer } | { path: string }): Promise<SortKeys> {
  if ('data' in src) return sortKeysOf(headerOf(src.data.subarray(0, SORT_HEADER_MAX)));
  return sortKeysOf(await readHeader(src.path));
}

/** An analysis under way, with the keys of the same source beside it (none if its header cannot be read). */
export async function withSortKeys<T extends object>(analysis: Promise<T>, src: { data: Buffer } | { path: string }): Promise<T & { sortKeys?: SortKeys }> {
  const [meta, sortKeys] = await Promise.all([analysis, keysOfSource(src).catch(() => undefined)]);
  return sortKeys ? { ...meta, sortKeys } : meta;
}

async function readHeader(file: string): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    let buf = Buffer.alloc(HEAD_READ);
    let { bytesRead } = await fh.read(buf, 0, HEAD_READ, 0);
    let head = headerOf(buf.subarray(0, bytesRead));
    if (head.length === bytesRead && bytesRead === HEAD_READ) {
      buf = Buffer.alloc(SORT_HEADER_MAX);
      ({ bytesRead } = await fh.read(buf, 0, SORT_HEADER_MAX, 0));
      head = headerOf(buf.subarray(0, bytesRead));
    }
    return head;
  } finally {
    await fh.close();
  }
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

/** Fills the keys of every row of the mailbox that has none (see the module comment); returns how many. */
async function fillMissing(a: Acct, mb: MailboxRow): Promise<number> {
  const s = stmtsOf(a.ix.db);
  let after = 0;
  let filled = 0;
  for (;;) {
    const rows = s.missing.all(mb.id, after, BATCH) as Array<{ uid: number; filename: string; in_new: number }>;
    if (rows.length === 0 || a.closed) return filled;
    const keys: SortKeys[] = [];
    for (let i = 0; i < rows.length; i += READ_CHUNK) {
      if (i > 0) await yieldLoop();
      for (const r of rows.slice(i, i + READ_CHUNK)) keys.push(keysOfFile(msgPath(a, mb, r)));
    }
    if (a.closed) return filled;
    a.ix.tx(() => insertFilled(a.ix.db, mb.id, rows.map((r) => r.uid), keys));
    filled += rows.length;
    after = rows[rows.length - 1]!.uid;
    await yieldLoop();
  }
}

/**
 * The mailbox with its keys complete, then `fn` run without an await in between. Rows
 * copied in while a fill ran are filled by another round; a round that finds nothing
 * to fill ends the wait (the counters never make it spin).
 */
async function withKeys<T>(ctx: StoreCtx, account: AccountId, mailboxId: MailboxId, fn: (a: Acct) => T): Promise<T> {
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

/** THREAD's keys: six columns read as arrays, six fields per message (most of a THREAD of 100 000 was rows to objects). */
export function threadKeys(ctx: StoreCtx, account: AccountId, mailboxId: MailboxId, uids?: readonly Uid[]): Promise<ThreadKeys[]> {
  return withKeys(ctx, account, mailboxId, (a) => {
    const wanted = uids ? new Set<number>(uids) : undefined;
    const rows = stmtsOf(a.ix.db).thread.all(mailboxId) as Array<[number, number, string, number, string | null, string | null]>;
    const out: ThreadKeys[] = [];
    for (const [uid, sent, subject, reply, messageId, refs] of rows) {
      if (wanted && !wanted.has(uid)) continue;
      out.push({ uid, sent, subject, reply: reply === 1, messageId, refs: refs === null ? NO_REFS : refs.split(' ') });
    }
    return out;
  });
}
