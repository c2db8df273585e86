/**
 * Internal dates of files indexed by name (issue 16 item 1). A file another tool
 * dropped into a Maildir has, as its INTERNALDATE, the file's modification time: that is
 * what Dovecot reads and writes (it sets the mtime to the APPEND date, and a COPY or a
 * move into another folder keeps the source's mtime under a new name). A stat per file
 * was most of the first open of 100 000 files, so the pick-up (pickup.ts) indexes a
 * file whose name starts with its delivery time (`<secs>.`) under that time, and
 * records its UID here as pending; the mtime replaces it shortly after:
 *
 * - in the background after the pick-up (`scheduleSettle`), a chunk of files at a time
 *   under the account lock, whenever the store is quiet;
 * - and before anything shows or compares an internal date (fetchMeta of some messages:
 *   theirs, of all: the mailbox's, unless the caller reads no date; openMailbox and a
 *   SEARCH by date: the mailbox's; COPY/MOVE, which copy the date: the messages'),
 *   through `settleDates` / `settleLocked`.
 *
 * So a client never sees the name's time where the file says otherwise. The name's time
 * is right for files written by a delivery agent (same second as the mtime); it is wrong
 * for mail APPENDed with a date or filed into a folder by Dovecot, which is why it is
 * never the final answer. INTERNALDATE has one-second resolution (RFC 3501 §2.3.3, the
 * date-time of §9), so a row is rewritten only when the mtime's second differs.
 *
 * Pending UIDs are kept as ranges per mailbox (`dates_pending`, index-db.ts): one pick-up
 * of 100 000 files usually is one range. A row expunged meanwhile is simply not found;
 * a row moved to another mailbox (RENAME of INBOX) takes its pending mark along (trigger).
 * A file gone or not a regular file at the time of the stat keeps the name's time.
 */
import { statSync } from 'node:fs';
import { setImmediate } from 'node:timers/promises';
import type { AccountId } from '../types.js';
import { busy, msgPath, whenQuiet, type Acct, type StoreCtx } from './context.js';

/** Files stat'ed per chunk (a few ms of the event loop). */
const SETTLE_CHUNK = 512;

/** Newest plausible name time: a day ahead of the clock (skew between hosts). */
const FUTURE_SLACK_MS = 86_400_000;
/** Oldest plausible name time (1995-01-01), before Maildir existed. */
const OLDEST_MS = 788_918_400_000;

/**
 * The delivery time a Maildir name starts with (`<secs>.`, cr.yp.to/proto/maildir.html),
 * in ms; undefined when the name does not start that way or the time is implausible.
 */
export function nameTimeMs(name: string, now = Date.now()): number | undefined {
  let secs = 0;
  let i = 0;
  for (; i < name.length && i < 11; i++) {
    const c = name.charCodeAt(i);
    if (c < 48 || c > 57) break;
    secs = secs * 10 + (c - 48);
  }
  if (i < 9 || name.charCodeAt(i) !== 46) return undefined; // 9 or 10 digits, then '.'
  const ms = secs * 1000;
  return ms >= OLDEST_MS && ms <= now + FUTURE_SLACK_MS ? ms : undefined;
}


/**
 * One chunk: the mtimes of up to SETTLE_CHUNK pending rows of the mailbox replace their
 * provisional dates. Caller holds the account lock. Returns false when none is left.
 */
function settleChunk(a: Acct, mailboxId: number): boolean {
  const range = a.ix.firstDatesPending(mailboxId);
  if (!range) return false;
  const mb = a.ix.mailboxById(mailboxId);
  if (!mb) return false;
  const rows = a.ix.datedRows(mailboxId, range.lo, range.hi, SETTLE_CHUNK);
  const fixes: Array<[number, number]> = [];
  for (const r of rows) {
    const st = statSync(msgPath(a, mb, r), { throwIfNoEntry: false });
    if (!st || !st.isFile()) continue;
    if (Math.floor(st.mtimeMs / 1000) !== Math.floor(r.internal_date / 1000)) fixes.push([r.uid, Math.round(st.mtimeMs)]);
  }
  const done = rows.length < SETTLE_CHUNK ? range.hi : rows[rows.length - 1]!.uid;
  a.ix.tx(() => {
    for (const [uid, date] of fixes) a.ix.setInternalDate(mailboxId, uid, date);
    a.ix.datesSettledThrough(mailboxId, range.lo, range.hi, done);
  });
  return true;
}

/** Settles every pending date of a mailbox; the caller holds the account lock. */
export async function settleLocked(a: Acct, mailboxId: number, uids?: readonly number[]): Promise<void> {
  if (uids) return settleUids(a, mailboxId, uids);
  for (let n = 0; !a.closed && settleChunk(a, mailboxId); n++) if (n % 4 === 3) await setImmediate();
}

/**
 * Settles the pending dates of a mailbox, taking the account lock a chunk at a time: of
 * the given UIDs only (ascending; they stay in their ranges, and the pass that settles
 * the ranges later finds their dates right), or of every message.
 */
export async function settleDates(a: Acct, mailboxId: number, uids?: readonly number[]): Promise<void> {
  if (!a.ix.hasDatesPending(mailboxId)) return;
  if (uids) return a.lock.run(async () => settleUids(a, mailboxId, uids));
  while (!a.closed && (await a.lock.run(async () => !a.closed && settleChunk(a, mailboxId)))) await setImmediate();
}

/** The pending ones among `uids` (ascending) get their file's mtime; the caller holds the lock. */
export function settleUids(a: Acct, mailboxId: number, uids: readonly number[]): void {
  const mb = a.ix.mailboxById(mailboxId);
  if (a.closed || !mb || uids.length === 0) return;
  const fixes: Array<[number, number]> = [];
  for (const { lo, hi } of a.ix.datesPendingWithin(mailboxId, uids[0]!, uids[uids.length - 1]!)) {
    const some = uids.filter((u) => u >= lo && u <= hi);
    for (const r of a.ix.datedRowsOf(mailboxId, some)) {
      const st = statSync(msgPath(a, mb, r), { throwIfNoEntry: false });
      if (st?.isFile() && Math.floor(st.mtimeMs / 1000) !== Math.floor(r.internal_date / 1000)) fixes.push([r.uid, Math.round(st.mtimeMs)]);
    }
  }
  if (fixes.length > 0) a.ix.tx(() => fixes.forEach(([uid, date]) => a.ix.setInternalDate(mailboxId, uid, date)));
}

/**
 * Settles a mailbox's pending dates in the background (after a pick-up), a chunk at a
 * time when the store is quiet (context.ts whenQuiet).
 */
export function scheduleSettle(ctx: StoreCtx, account: AccountId, mailboxId: number): void {
  const run = async (a: Acct): Promise<void> => {
    for (;;) {
      // A turn of the event loop between chunks: whenQuiet and the lock alone resolve as
      // microtasks, and a command waiting on its socket would not be read meanwhile.
      await setImmediate();
      await whenQuiet(ctx);
      // A command that came while this waited for the lock goes first (the chunk is synchronous).
      if (a.closed || !(await a.lock.run(async () => !a.closed && (busy(ctx.activity) || settleChunk(a, mailboxId))))) return;
    }
  };
  void ctx.accounts.use(account, run).catch((err: unknown) => ctx.log?.debug({ err, account }, 'settling internal dates stopped; done on first need'));
}
