/**
 * Reading mailboxes and messages (the job of Dovecot's maildir-mail.c): opening a
 * mailbox (the pick-up of new/ and \Recent), the message metadata the index caches, and
 * a message's bytes from its file.
 *
 * Implementation notes
 * - Large mailboxes (100 000 messages): the snapshot and the light fetch read raw rows
 *   and share one frozen flags array per flag combination between messages without
 *   keywords; cached envelopes and body structures are parsed only when a caller reads
 *   them (lazyJson).
 * - readMessage takes no lock: a file renamed by a concurrent flag change or open is
 *   looked up again after the lock holder is done, and a file renamed or removed by
 *   another tool after a rescan.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Readable } from 'node:stream';
import { StoreError, type AccountId, type ByteRange, type FetchMetaOptions, type MailboxId, type MailboxInfo, type MailboxSnapshot, type MailboxView, type MessageMeta, type NumbersRange, type SearchQuery, type Uid } from '../types.js';
import { isEnoent } from '../../util/fs.js';
import { msgPath, mustMailbox, mustMailboxId, type Acct, type StoreCtx } from './context.js';
import { flagList } from '../flags.js';
import { sharedFlags } from './flags.js';
import type { MessageRow } from './index-db.js';
import { mailboxInfo } from './mailboxes.js';
import { canonicalName } from '../names.js';
import { syncMailbox } from './sync.js';
import { analyseRows } from './backfill.js';
import { newEmailId } from '../emailid.js';
import { settleDates, settleLocked } from './dates.js';

/** The pick-up part of an open (under the lock); the mailbox info with this open's \Recent. */
async function openLocked(ctx: StoreCtx, a: Acct, canon: string): Promise<{ info: MailboxInfo; recentUids: Uid[] }> {
  const mb = mustMailbox(a, canon);
  const { recent } = await syncMailbox(ctx, a, mb.id, false);
  const info = mailboxInfo(mustMailboxId(a, mb.id));
  // \Recent (RFC 3501 §2.3.2): the messages this open moved out of new/.
  info.recent = recent.length;
  return { info, recentUids: recent as Uid[] };
}

export async function openMailbox(ctx: StoreCtx, account: AccountId, name: string): Promise<MailboxSnapshot> {
  const canon = canonicalName(name);
  return ctx.accounts.locked(account, async (a) => {
    const { info } = await openLocked(ctx, a, canon);
    await settleLocked(a, info.id);
    // 100 000 messages: raw rows, and one frozen flags array per flag combination
    // for messages without keywords (the common case), shared between messages.
    const shared = new Map<number, string[]>();
    const messages = a.ix.snapshot(info.id).map(([uid, bits, kw, modseq, size, date]): MessageMeta => ({ uid: uid as Uid, flags: sharedFlags(shared, bits, kw), modseq, size, internalDate: new Date(date) }));
    return { mailbox: info, messages };
  });
}

export async function selectMailbox(ctx: StoreCtx, account: AccountId, name: string): Promise<MailboxView> {
  const canon = canonicalName(name);
  return ctx.accounts.locked(account, async (a) => {
    const { info, recentUids } = await openLocked(ctx, a, canon);
    // From the (mailbox_id, uid) index alone: no row is read for the UID list.
    const uids = a.ix.uids(info.id) as readonly Uid[];
    const keywords = new Set<string>();
    for (const k of a.ix.keywordSets(info.id)) for (const w of JSON.parse(k) as string[]) keywords.add(w);
    const firstUnseen = a.ix.firstUnseen(info.id);
    return { mailbox: info, uids, recentUids, keywords: [...keywords], ...(firstUnseen !== null ? { firstUnseen: firstUnseen as Uid } : {}) };
  });
}

export async function searchUids(ctx: StoreCtx, account: AccountId, mailboxId: MailboxId, q: SearchQuery): Promise<Uid[]> {
  return ctx.accounts.use(account, async (a) => {
    mustMailboxId(a, mailboxId);
    if (datesIn(q)) await settleDates(a, mailboxId);
    return a.ix.search(mailboxId, q) as Uid[];
  });
}

/** SupportsSearch.searchNumbers (queries.ts). */
export async function searchNumbers(ctx: StoreCtx, account: AccountId, mailboxId: MailboxId, q: SearchQuery, range: NumbersRange): Promise<{ count: number; text: string }> {
  return ctx.accounts.use(account, async (a) => {
    mustMailboxId(a, mailboxId);
    if (datesIn(q)) await settleDates(a, mailboxId);
    return a.ix.searchNumbers(mailboxId, q, range);
  });
}

export async function cachePreview(ctx: StoreCtx, account: AccountId, mailboxId: MailboxId, uid: Uid, text: string): Promise<void> {
  await ctx.accounts.use(account, async (a) => {
    mustMailboxId(a, mailboxId);
    a.ix.setPreview(mailboxId, uid, text);
  });
}

function ascending(uids: readonly number[]): number[] {
  return Array.from(Uint32Array.from(uids).sort());
}

/** Whether a search compares internal dates (their pending ones are settled first, dates.ts). */
function datesIn(q: SearchQuery): boolean {
  if (q.k === 'date') return true;
  if (q.k === 'not') return datesIn(q.q);
  if (q.k === 'and') return q.qs.some(datesIn);
  if (q.k === 'or') return datesIn(q.a) || datesIn(q.b);
  return false;
}

export async function fetchMeta(ctx: StoreCtx, account: AccountId, mailboxId: MailboxId, opts: FetchMetaOptions): Promise<MessageMeta[]> {
  return ctx.accounts.use(account, async (a) => {
    mustMailboxId(a, mailboxId);
    if (opts.internalDate !== false) await settleDates(a, mailboxId, opts.uids && ascending(opts.uids));
    const scope = { uids: opts.uids, changedSince: opts.changedSince };
    // The light form reads no cached envelope/body structure (their JSON is most of a row).
    if (opts.fields !== 'flags') {
      const rows = a.ix.fetchFull(mailboxId, scope);
      // Messages indexed by name only (sync.ts pickup) are analysed on this first need.
      const missing = ctx.analyzer ? rows.filter((r) => r.envelope === null) : [];
      if (missing.length > 0) await analyseRows(ctx, a, mustMailboxId(a, mailboxId), missing);
      giveEmailIds(a, mailboxId, rows);
      return rows.map((r) => metaOf(r, true));
    }
    const shared = new Map<number, string[]>();
    return a.ix.fetchLight(mailboxId, scope, opts.rfc822Size === true).map(([uid, bits, kw, modseq, size, date, rfc822]): MessageMeta => {
      const m: MessageMeta = { uid: uid as Uid, flags: sharedFlags(shared, bits, kw), modseq, size, internalDate: new Date(date) };
      if (opts.rfc822Size) m.rfc822Size = typeof rfc822 === 'number' ? rfc822 : size;
      return m;
    });
  });
}

/**
 * Files up to this size (by the index) are read whole with blocking calls: open, read,
 * close straight from the page cache take microseconds, where the same three steps on
 * the thread pool cost three hand-overs to a pool thread and back, each a wake-up and,
 * on a small machine, a context switch (POP3 RETR and IMAP FETCH BODY[] of ordinary
 * mail, bench/imap-large). A file not in the page cache holds the event loop for one
 * read of at most this many bytes.
 */
export const SYNC_READ_MAX = 64 * 1024;

/**
 * Blocking reads allowed per turn of the event loop: a loop over many messages (SEARCH,
 * FETCH 1:* BODY[]) lets the other sessions' input be read after this many, as the
 * reads on the thread pool did after each.
 */
const SYNC_READS_PER_TURN = 8;
let readsThisTurn = 0;

/** Counts a blocking read in this turn; when the turn had its share, first waits until the event loop has polled for I/O. */
async function turnForSyncRead(): Promise<void> {
  if (readsThisTurn >= SYNC_READS_PER_TURN) {
    // From the poll phase the first immediate runs before the next poll; the second after it.
    await nextTurn();
    await nextTurn();
  }
  if (readsThisTurn++ === 0) setImmediate(() => (readsThisTurn = 0));
}

/** A whole small file (it may have grown or shrunk since it was indexed: read to its end). */
function readSmall(file: string, size: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (let want = size + 1; ; want = SYNC_READ_MAX) {
      const buf = Buffer.allocUnsafe(want);
      const n = readSync(fd, buf, 0, want, total);
      if (n === 0) break;
      chunks.push(n === want ? buf : buf.subarray(0, n));
      total += n;
      if (n < want) break;
    }
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
  } finally {
    closeSync(fd);
  }
}

/**
 * The message file as a stream: whole, or bytes [range.start, range.end) read with
 * positioned reads (FETCH of one MIME part seeks to its offsets, never reads from 0).
 */
export async function readMessage(ctx: StoreCtx, account: AccountId, mailboxId: MailboxId, uid: Uid, range?: ByteRange): Promise<{ stream: Readable; size: number }> {
  return ctx.accounts.use(account, async (a) => {
    const tryOpen = async (): Promise<{ stream: Readable; size: number } | undefined> => {
      const mb = mustMailboxId(a, mailboxId);
      const r = a.ix.fileOf(mailboxId, uid);
      if (!r) throw new StoreError('nonexistent', 'no such message');
      try {
        const file = msgPath(a, mb, r);
        if (!range && r.size <= SYNC_READ_MAX) {
          await turnForSyncRead();
          return { stream: Readable.from([readSmall(file, r.size)]), size: r.size };
        }
        const fh = await open(file, 'r');
        if (!range) return { stream: fh.createReadStream(), size: r.size };
        if (range.end <= range.start) {
          await fh.close();
          return { stream: Readable.from([]), size: r.size };
        }
        return { stream: fh.createReadStream({ start: range.start, end: range.end - 1 }), size: r.size };
      } catch (e) {
        if (isEnoent(e)) return undefined;
        throw e;
      }
    };
    let r = await tryOpen();
    if (r) return r;
    // Renamed by a concurrent flag change or open: wait for it to commit, look again.
    await a.lock.run(async () => undefined);
    r = await tryOpen();
    if (r) return r;
    // Renamed or removed by another tool: rescan, then one last look.
    await a.lock.run(() => syncMailbox(ctx, a, mailboxId, true));
    r = await tryOpen();
    if (r) return r;
    throw new StoreError('nonexistent', 'message file missing');
  });
}

/** Rows picked up by name have no EMAILID yet: one is given now and kept (RFC 8474 §5.1). */
function giveEmailIds(a: Acct, mailboxId: MailboxId, rows: MessageRow[]): void {
  const missing = rows.filter((r) => r.email_id === null);
  if (missing.length === 0) return;
  a.ix.tx(() => {
    for (const r of missing) {
      const id = newEmailId();
      r.email_id = id;
      a.ix.setEmailId(mailboxId, r.uid, id);
    }
  });
}

function metaOf(r: Pick<MessageRow, 'uid' | 'flags' | 'keywords' | 'modseq' | 'size' | 'internal_date'> & Partial<MessageRow>, withStructure = false): MessageMeta {
  const m: MessageMeta = {
    uid: r.uid as Uid,
    flags: flagList(r.flags, r.keywords ? (JSON.parse(r.keywords) as string[]) : []),
    modseq: r.modseq,
    size: r.size,
    internalDate: new Date(r.internal_date),
  };
  // SAVEDATE (RFC 8514): unknown for files picked up by name and rows older than the column; INTERNALDATE stands in.
  if (r.save_date !== undefined) m.saveDate = new Date(r.save_date ?? r.internal_date);
  if (r.email_id) m.emailId = r.email_id;
  if (typeof r.preview === 'string') m.preview = r.preview;
  // Parsed on first use: FETCH FLAGS or SEARCH on flags over 100 000 messages should
  // not pay for JSON.parse of every cached envelope.
  if (withStructure) {
    if (r.envelope) lazyJson(m, 'envelope', r.envelope);
    if (r.body_structure) lazyJson(m, 'bodyStructure', r.body_structure);
  }
  return m;
}

function lazyJson(m: MessageMeta, key: 'envelope' | 'bodyStructure', json: string): void {
  let value: unknown;
  let parsed = false;
  Object.defineProperty(m, key, {
    enumerable: true,
    configurable: true,
    get() {
      if (!parsed) {
        value = JSON.parse(json);
        parsed = true;
      }
      return value;
    },
    set(v: unknown) {
      value = v;
      parsed = true;
    },
  });
}
