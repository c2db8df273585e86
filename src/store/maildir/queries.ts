/**
 * Every SQL statement of the Maildir store's index, as typed methods over cached
 * better-sqlite3 prepared statements: one IndexQueries per open account index. The
 * schema, the counters kept by triggers and the durability argument are in
 * ./index-db.ts; the rest of the store speaks to the index only through this class.
 *
 * Notes
 * - A statement is prepared once per account and kept (keyed by its SQL text). A
 *   statement read with `.pluck()` or `.raw()` keeps that mode, so each SQL text here
 *   is read in one mode only.
 * - Methods do not open transactions unless their name says so (removeMailbox) or they
 *   are `tx`; callers group writes with `tx` (better-sqlite3 transactions are
 *   synchronous and cannot span an await).
 * - `flags & 1` is \Seen (FLAG_SEEN), spelled as in the messages_unseen_uid partial index so
 *   the planner uses it.
 */
import type Database from 'better-sqlite3';
import { StatementCache } from '../../db/statements.js';
import type { NumbersRange, SearchQuery, Usage } from '../types.js';
import { searchSql } from './queries-search.js';
import { newEmailId } from '../emailid.js';
import { uidsOfText } from './uid-text.js';
import { FLAG_DELETED, FLAG_SEEN } from '../flags.js';
import type { IndexDb, MailboxRow, MessageRow } from './index-db.js';

/** The columns that locate a message's file and give its system flags. */
export type MsgKey = Pick<MessageRow, 'uid' | 'filename' | 'in_new' | 'flags'>;

/** A message row to insert (cached structure optional). */
export type NewMessage = Omit<MessageRow, 'envelope' | 'body_structure'> & { envelope?: string | null; body_structure?: string | null };

/** A row of openMailbox's snapshot: uid, flags, keywords, modseq, size, internal_date. */
export type SnapshotRow = [number, number, string | null, number, number, number];

/** A row of fetchLight: the snapshot columns plus RFC822.SIZE from the cached structure (or null). */
export type LightRow = [number, number, string | null, number, number, number, number | null];

export interface MailboxInsert {
  name: string;
  folder: string;
  uidvalidity: number;
  uidnext: number;
  subscribed: boolean;
  specialUse?: string | null;
}

/** Which messages a fetch reads: all of a mailbox, or the given UIDs; only those with a greater modseq. */
export interface FetchScope {
  uids?: readonly number[];
  changedSince?: number;
}

const SEL_UIDS = 'uid IN (SELECT value FROM json_each(?))';

/** Now in ms since the epoch, in SQL (one value per statement). */
const SQL_NOW_MS = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";

export class IndexQueries {
  private stmts?: StatementCache;
  /** Per mailbox: its UIDs as last read and the data_version they were read at (uids); dropped by touched. */
  private readonly uidLists = new Map<number, { version: number; uids: readonly number[] }>();

  constructor(readonly db: IndexDb) {}

  private q(sql: string): Database.Statement {
    this.stmts ??= new StatementCache(this.db);
    return this.stmts.get(sql);
  }

  /**
   * Runs fn in one transaction (rolled back if it throws). BEGIN IMMEDIATE: the write
   * lock is taken first, waiting in the busy handler while the full-text fill's worker
   * (fts-worker.ts, its own connection) commits a batch; a deferred transaction that
   * read first would instead fail at its first write (SQLITE_BUSY_SNAPSHOT) had the
   * worker committed in between.
   */
  tx<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  /** fn in the transaction under way, or in one of its own. */
  private inTx(fn: () => void): void {
    if (this.db.inTransaction) fn();
    else this.tx(fn);
  }

  close(): void {
    this.db.close();
  }

  // ------------------------------------------------------------ meta and usage

  meta(key: string): string | undefined {
    return (this.q('SELECT value FROM meta WHERE key = ?').pluck().get(key) as string | undefined) ?? undefined;
  }

  setMeta(key: string, value: string): void {
    this.q('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  /** Bytes and messages of the whole account (kept by triggers). */
  usage(): Usage {
    const u = this.q('SELECT bytes, messages FROM usage WHERE id = 1').get() as Usage;
    return { bytes: u.bytes, messages: u.messages };
  }

  // ------------------------------------------------------------ mailboxes

  mailboxByName(name: string): MailboxRow | undefined {
    return this.q('SELECT * FROM mailboxes WHERE name = ?').get(name) as MailboxRow | undefined;
  }

  mailboxById(id: number): MailboxRow | undefined {
    return this.q('SELECT * FROM mailboxes WHERE id = ?').get(id) as MailboxRow | undefined;
  }

  mailboxByFolder(folder: string): MailboxRow | undefined {
    return this.q('SELECT * FROM mailboxes WHERE folder = ?').get(folder) as MailboxRow | undefined;
  }

  mailboxes(): MailboxRow[] {
    return this.q('SELECT * FROM mailboxes').all() as MailboxRow[];
  }

  /** All mailboxes, INBOX first, then by name (LIST order). */
  mailboxesInListOrder(): MailboxRow[] {
    return this.q("SELECT * FROM mailboxes ORDER BY name <> 'INBOX', name").all() as MailboxRow[];
  }

  /** The mailboxes below `name` in the hierarchy ("name/…"), by name. */
  children(name: string): MailboxRow[] {
    return this.q('SELECT * FROM mailboxes WHERE substr(name, 1, ?) = ? ORDER BY name').all(name.length + 1, name + '/') as MailboxRow[];
  }

  hasChildren(name: string): boolean {
    return this.q('SELECT 1 FROM mailboxes WHERE substr(name, 1, ?) = ? LIMIT 1').get(name.length + 1, name + '/') !== undefined;
  }

  insertMailbox(m: MailboxInsert): void {
    this.q('INSERT INTO mailboxes (name, folder, uidvalidity, uidnext, subscribed, special_use) VALUES (?, ?, ?, ?, ?, ?)').run(
      m.name,
      m.folder,
      m.uidvalidity,
      m.uidnext,
      m.subscribed ? 1 : 0,
      m.specialUse ?? null,
    );
  }

  /** Removes a mailbox row and its message rows, in one transaction. */
  removeMailbox(id: number): void {
    this.touched(id);
    this.tx(() => {
      this.q('DELETE FROM messages WHERE mailbox_id = ?').run(id);
      this.q('DELETE FROM mailboxes WHERE id = ?').run(id);
    });
  }

  renameMailbox(id: number, name: string, folder: string): void {
    this.q('UPDATE mailboxes SET name = ?, folder = ? WHERE id = ?').run(name, folder, id);
  }

  /** Marks an existing mailbox (un)subscribed; the subscriptions table follows (index-db.ts triggers). */
  setSubscribed(id: number, subscribed: boolean): void {
    this.q('UPDATE mailboxes SET subscribed = ? WHERE id = ?').run(subscribed ? 1 : 0, id);
  }

  /** Every subscribed name, existing or not, by name. */
  subscriptions(): string[] {
    return this.q('SELECT name FROM subscriptions ORDER BY name').pluck().all() as string[];
  }

  /** Removes a subscription whatever its mailbox (a deleted mailbox's name too). */
  unsubscribeName(name: string): void {
    this.tx(() => {
      this.q('DELETE FROM subscriptions WHERE name = ?').run(name);
      this.q('UPDATE mailboxes SET subscribed = 0 WHERE name = ?').run(name);
    });
  }

  // ------------------------------------------------------------ the COPY journal

  /**
   * Files a COPY is about to link into a mailbox (index-db.ts `pending_copies`),
   * committed with the WAL fsynced (synchronous = FULL for this one commit): the entries
   * must be on disk before the first link is.
   */
  addPendingCopies(mailboxId: number, filenames: readonly string[]): void {
    const ins = this.q('INSERT OR IGNORE INTO pending_copies (mailbox_id, filename) VALUES (?, ?)');
    this.db.pragma('synchronous = FULL');
    try {
      this.tx(() => {
        for (const f of filenames) ins.run(mailboxId, f);
      });
    } finally {
      this.db.pragma('synchronous = NORMAL');
    }
  }

  /** Forgets journal entries (in the caller's transaction, with the rows of the copies). */
  removePendingCopies(mailboxId: number, filenames: readonly string[]): void {
    const del = this.q('DELETE FROM pending_copies WHERE mailbox_id = ? AND filename = ?');
    for (const f of filenames) del.run(mailboxId, f);
  }

  /** Journal entries left by a COPY that never committed (none has a message row). */
  pendingCopies(): Array<{ mailbox_id: number; filename: string; indexed: number }> {
    return this.q(
      'SELECT p.mailbox_id, p.filename, EXISTS (SELECT 1 FROM messages m WHERE m.mailbox_id = p.mailbox_id AND m.filename = p.filename) AS indexed FROM pending_copies p',
    ).all() as Array<{ mailbox_id: number; filename: string; indexed: number }>;
  }

  clearPendingCopies(): void {
    this.q('DELETE FROM pending_copies').run();
  }

  /** Gives a mailbox its special use (RFC 6154) and subscribes it. */
  setSpecialUse(id: number, use: string): void {
    this.q('UPDATE mailboxes SET special_use = ?, subscribed = 1 WHERE id = ?').run(use, id);
  }

  setUidValidity(id: number, uidvalidity: number): void {
    this.q('UPDATE mailboxes SET uidvalidity = ? WHERE id = ?').run(uidvalidity, id);
  }

  /** Sets UIDNEXT as given (the caller checked it does not go backwards). */
  setUidNext(id: number, uidnext: number): void {
    this.q('UPDATE mailboxes SET uidnext = ? WHERE id = ?').run(uidnext, id);
  }

  /** Raises UIDNEXT to at least `next`. */
  raiseUidNext(id: number, next: number): void {
    this.q('UPDATE mailboxes SET uidnext = max(uidnext, ?) WHERE id = ?').run(next, id);
  }

  /** UIDNEXT becomes max(UIDNEXT, floor) + n; returns the new UIDNEXT. */
  reserveUids(id: number, floor: number, n: number): number {
    return this.q('UPDATE mailboxes SET uidnext = max(uidnext, ?) + ? WHERE id = ? RETURNING uidnext').pluck().get(floor, n, id) as number;
  }

  /** HIGHESTMODSEQ + 1; returns it (the modseq of this change). */
  bumpModseq(id: number): number {
    return this.q('UPDATE mailboxes SET highest_modseq = highest_modseq + 1 WHERE id = ? RETURNING highest_modseq').pluck().get(id) as number;
  }

  /** bumpModseq for a delivered message, raising UIDNEXT above its UID in the same statement. */
  bumpModseqForUid(id: number, uid: number): number {
    return this.q('UPDATE mailboxes SET highest_modseq = highest_modseq + 1, uidnext = max(uidnext, ?) WHERE id = ? RETURNING highest_modseq')
      .pluck()
      .get(uid + 1, id) as number;
  }

  /** The cur/ mtime stored after the last full scan (nanoseconds as text), null when not trusted. */
  curMtime(id: number): string | null | undefined {
    return this.q('SELECT cur_mtime FROM mailboxes WHERE id = ?').pluck().get(id) as string | null | undefined;
  }

  setCurMtime(id: number, mtime: string | null): void {
    this.q('UPDATE mailboxes SET cur_mtime = ? WHERE id = ?').run(mtime, id);
  }

  // ------------------------------------------------------------ messages: writes

  /** Messages with UIDs in (afterUid, afterUid + span] still without cached analysis (sync.ts pickup indexes by name only). */
  unanalyzed(mailboxId: number, afterUid: number, span: number, limit: number): Array<Pick<MessageRow, 'uid' | 'filename' | 'in_new'>> {
    return this.q('SELECT uid, filename, in_new FROM messages WHERE mailbox_id = ? AND uid > ? AND uid <= ? AND envelope IS NULL ORDER BY uid LIMIT ?').all(
      mailboxId,
      afterUid,
      afterUid + span,
      limit,
    ) as MessageRow[];
  }

  /** Caches a message's analysis, unless another writer did meanwhile. */
  setAnalysis(mailboxId: number, uid: number, envelope: string | null, bodyStructure: string | null): void {
    this.q('UPDATE messages SET envelope = ?, body_structure = ? WHERE mailbox_id = ? AND uid = ? AND envelope IS NULL').run(envelope, bodyStructure, mailboxId, uid);
  }

  /** Rows inserted by `insert`, which returns their totals: the counters are added once for all of them. */
  bulkInsert(mailboxId: number, insert: () => { count: number; size: number; unseen: number; recent: number }): void {
    this.touched(mailboxId);
    this.tx(() => {
      const t = insert();
      this.addCounts(mailboxId, t.count, t.size, t.unseen, t.recent);
    });
  }

  /** The counters of an insert (there is no INSERT trigger: index-db.ts). */
  private addCounts(mailboxId: number, count: number, size: number, unseen: number, recent: number): void {
    this.q('UPDATE mailboxes SET messages = messages + ?, size = size + ?, unseen = unseen + ?, recent = recent + ? WHERE id = ?').run(count, size, unseen, recent, mailboxId);
    this.q('UPDATE usage SET bytes = bytes + ?, messages = messages + ? WHERE id = 1').run(size, count);
  }

  /** A saved message (delivery, APPEND, COPY/MOVE): its save_date is now (SAVEDATE, RFC 8514). */
  insertMessage(m: NewMessage): void {
    this.touched(m.mailbox_id);
    // Its callers are in a transaction already (no savepoint then); the row and its counts go together.
    this.inTx(() => {
      this.q(
        `INSERT INTO messages (mailbox_id, uid, filename, in_new, flags, keywords, modseq, size, internal_date, envelope, body_structure, save_date, email_id)
         VALUES (@mailbox_id, @uid, @filename, @in_new, @flags, @keywords, @modseq, @size, @internal_date, @envelope, @body_structure, ${SQL_NOW_MS}, @email_id)`,
      ).run({ mailbox_id: m.mailbox_id, uid: m.uid, filename: m.filename, in_new: m.in_new, flags: m.flags, keywords: m.keywords, modseq: m.modseq, size: m.size, internal_date: m.internal_date, envelope: m.envelope ?? null, body_structure: m.body_structure ?? null, email_id: m.email_id ?? newEmailId() });
      this.addCounts(m.mailbox_id, 1, m.size, (m.flags & FLAG_SEEN) === 0 ? 1 : 0, m.in_new ? 1 : 0);
    });
  }

  setPreview(mailboxId: number, uid: number, text: string): void {
    this.q('UPDATE messages SET preview = ? WHERE mailbox_id = ? AND uid = ?').run(text, mailboxId, uid);
  }

  /** EMAILID for a row that has none (picked up by name): kept from then on (RFC 8474 §5.1). */
  setEmailId(mailboxId: number, uid: number, id: string): void {
    this.q('UPDATE messages SET email_id = ? WHERE mailbox_id = ? AND uid = ? AND email_id IS NULL').run(id, mailboxId, uid);
  }

  deleteMessage(mailboxId: number, uid: number): void {
    this.touched(mailboxId);
    this.q('DELETE FROM messages WHERE mailbox_id = ? AND uid = ?').run(mailboxId, uid);
  }

  setFlags(mailboxId: number, uid: number, s: { flags: number; keywords: string | null; filename: string; inNew: number; modseq: number }): void {
    this.q('UPDATE messages SET flags = ?, keywords = ?, filename = ?, in_new = ?, modseq = ? WHERE mailbox_id = ? AND uid = ?').run(
      s.flags,
      s.keywords,
      s.filename,
      s.inNew,
      s.modseq,
      mailboxId,
      uid,
    );
  }

  /** A message moved from new/ to cur/ under `filename`. */
  setMovedToCur(mailboxId: number, uid: number, filename: string): void {
    this.q('UPDATE messages SET in_new = 0, filename = ? WHERE mailbox_id = ? AND uid = ?').run(filename, mailboxId, uid);
  }

  /** A file renamed by another tool: its new name and flags; the modseq changes only if the flags did. */
  setRenamedByOther(mailboxId: number, uid: number, filename: string, flags: number, modseq: number): void {
    this.q('UPDATE messages SET filename = ?, in_new = 0, flags = ?, modseq = CASE WHEN flags <> ? THEN ? ELSE modseq END WHERE mailbox_id = ? AND uid = ?').run(
      filename,
      flags,
      flags,
      modseq,
      mailboxId,
      uid,
    );
  }

  /** Moves a row to another mailbox under the same UID (renaming INBOX). */
  moveMessage(fromId: number, uid: number, toId: number, modseq: number): void {
    this.touched(fromId);
    this.touched(toId);
    this.q('UPDATE messages SET mailbox_id = ?, modseq = ? WHERE mailbox_id = ? AND uid = ?').run(toId, modseq, fromId, uid);
  }

  // ------------------------------------------------------------ internal dates from names (dates.ts)

  /** Marks UID ranges of a mailbox as indexed under their name's time (in the caller's transaction). */
  addDatesPending(mailboxId: number, ranges: ReadonlyArray<readonly [number, number]>): void {
    const ins = this.q('INSERT OR REPLACE INTO dates_pending (mailbox_id, lo, hi) VALUES (?, ?, ?)');
    for (const [lo, hi] of ranges) ins.run(mailboxId, lo, hi);
  }

  hasDatesPending(mailboxId: number): boolean {
    return this.q('SELECT 1 FROM dates_pending WHERE mailbox_id = ? LIMIT 1').get(mailboxId) !== undefined;
  }

  firstDatesPending(mailboxId: number): { lo: number; hi: number } | undefined {
    return this.q('SELECT lo, hi FROM dates_pending WHERE mailbox_id = ? ORDER BY lo LIMIT 1').get(mailboxId) as { lo: number; hi: number } | undefined;
  }

  /** Up to `limit` rows with UIDs in [lo, hi]: where the file is and the date it has now. */
  datedRows(mailboxId: number, lo: number, hi: number, limit: number): Array<Pick<MessageRow, 'uid' | 'filename' | 'in_new' | 'internal_date'>> {
    return this.q('SELECT uid, filename, in_new, internal_date FROM messages WHERE mailbox_id = ? AND uid BETWEEN ? AND ? ORDER BY uid LIMIT ?').all(
      mailboxId,
      lo,
      hi,
      limit,
    ) as MessageRow[];
  }

  /** The pending ranges that overlap [lo, hi]. */
  datesPendingWithin(mailboxId: number, lo: number, hi: number): Array<{ lo: number; hi: number }> {
    return this.q('SELECT lo, hi FROM dates_pending WHERE mailbox_id = ? AND lo <= ? AND hi >= ? ORDER BY lo').all(mailboxId, hi, lo) as Array<{ lo: number; hi: number }>;
  }

  /** Where the files of the given UIDs are and the dates they have now. */
  datedRowsOf(mailboxId: number, uids: readonly number[]): Array<Pick<MessageRow, 'uid' | 'filename' | 'in_new' | 'internal_date'>> {
    return this.q(`SELECT uid, filename, in_new, internal_date FROM messages WHERE mailbox_id = ? AND ${SEL_UIDS}`).all(mailboxId, JSON.stringify(uids)) as MessageRow[];
  }

  setInternalDate(mailboxId: number, uid: number, date: number): void {
    this.q('UPDATE messages SET internal_date = ? WHERE mailbox_id = ? AND uid = ?').run(date, mailboxId, uid);
  }

  /** The range [lo, hi] is settled up to `through`: removed, or kept from through + 1. */
  datesSettledThrough(mailboxId: number, lo: number, hi: number, through: number): void {
    this.q('DELETE FROM dates_pending WHERE mailbox_id = ? AND lo = ?').run(mailboxId, lo);
    if (through < hi) this.q('INSERT OR REPLACE INTO dates_pending (mailbox_id, lo, hi) VALUES (?, ?, ?)').run(mailboxId, through + 1, hi);
  }

  // ------------------------------------------------------------ messages: reads

  /** The file name indexed under a UID, if any. */
  filenameOf(mailboxId: number, uid: number): string | undefined {
    return this.q('SELECT filename FROM messages WHERE mailbox_id = ? AND uid = ?').pluck().get(mailboxId, uid) as string | undefined;
  }

  keywordsOf(mailboxId: number, uid: number): string | null {
    return this.q('SELECT keywords FROM messages WHERE mailbox_id = ? AND uid = ?').pluck().get(mailboxId, uid) as string | null;
  }

  /** Where a message's file is and its size. */
  fileOf(mailboxId: number, uid: number): Pick<MessageRow, 'filename' | 'in_new' | 'size'> | undefined {
    return this.q('SELECT filename, in_new, size FROM messages WHERE mailbox_id = ? AND uid = ?').get(mailboxId, uid) as MessageRow | undefined;
  }

  /**
   * Every UID of a mailbox, ascending (from the (mailbox_id, uid) index alone), read as
   * one comma-separated text built by SQLite (uid-text.ts). Kept between calls while no
   * row of the mailbox was added, removed or moved on this connection (`touched`) and no
   * other connection committed (a `reindex` run beside the server): a later SELECT of
   * 100 000 messages then reads nothing (10 to 50 ms it spent here). The array is shared:
   * callers copy what they change (not frozen: copying a frozen array into a typed one,
   * as the session's sequence map does, takes six times as long).
   */
  uids(mailboxId: number): readonly number[] {
    const version = this.q('PRAGMA data_version').pluck().get() as number;
    const hit = this.uidLists.get(mailboxId);
    if (hit && hit.version === version) return hit.uids;
    const uids: readonly number[] = uidsOfText(this.q('SELECT group_concat(uid) FROM (SELECT uid FROM messages WHERE mailbox_id = ? ORDER BY uid)').pluck().get(mailboxId));
    this.uidLists.set(mailboxId, { version, uids });
    return uids;
  }

  /** A mailbox's rows may have changed (added, removed, moved): its cached UID list goes. */
  private touched(mailboxId: number): void {
    this.uidLists.delete(mailboxId);
  }

  /** Whether the mailbox has no row at all. */
  isEmpty(mailboxId: number): boolean {
    return this.q('SELECT 1 FROM messages WHERE mailbox_id = ? LIMIT 1').get(mailboxId) === undefined;
  }

  keys(mailboxId: number): MsgKey[] {
    return this.q('SELECT uid, filename, in_new, flags FROM messages WHERE mailbox_id = ? ORDER BY uid').all(mailboxId) as MsgKey[];
  }

  /** Up to `limit` keys with UIDs above `afterUid`, in UID order (a scan reads a large mailbox a slice at a time). */
  keysAfter(mailboxId: number, afterUid: number, limit: number): MsgKey[] {
    return this.q('SELECT uid, filename, in_new, flags FROM messages WHERE mailbox_id = ? AND uid > ? ORDER BY uid LIMIT ?').all(mailboxId, afterUid, limit) as MsgKey[];
  }

  /** File names of the rows inserted or changed after `modseq` (messages_modseq). */
  namesChangedSince(mailboxId: number, modseq: number): string[] {
    return this.q('SELECT filename FROM messages WHERE mailbox_id = ? AND modseq > ?').pluck().all(mailboxId, modseq) as string[];
  }

  highestModseq(mailboxId: number): number {
    return this.q('SELECT highest_modseq FROM mailboxes WHERE id = ?').pluck().get(mailboxId) as number;
  }

  /** The rows still in new/. */
  keysInNew(mailboxId: number): MsgKey[] {
    return this.q('SELECT uid, filename, in_new, flags FROM messages WHERE mailbox_id = ? AND in_new = 1').all(mailboxId) as MsgKey[];
  }

  keysOfUids(mailboxId: number, uids: readonly number[]): MsgKey[] {
    return this.q(`SELECT uid, filename, in_new, flags FROM messages WHERE mailbox_id = ? AND ${SEL_UIDS} ORDER BY uid`).all(mailboxId, JSON.stringify(uids)) as MsgKey[];
  }

  /** The messages flagged \Deleted. */
  keysDeleted(mailboxId: number): MsgKey[] {
    return this.q(`SELECT uid, filename, in_new, flags FROM messages WHERE mailbox_id = ? AND (flags & ${FLAG_DELETED}) <> 0 ORDER BY uid`).all(mailboxId) as MsgKey[];
  }

  /** Key, keywords and modseq of the given UIDs (STORE). */
  flagStateOfUids(mailboxId: number, uids: readonly number[]): MessageRow[] {
    return this.q(`SELECT uid, filename, in_new, flags, keywords, modseq FROM messages WHERE mailbox_id = ? AND ${SEL_UIDS} ORDER BY uid`).all(
      mailboxId,
      JSON.stringify(uids),
    ) as MessageRow[];
  }

  /** Whole rows of the given UIDs (COPY, MOVE). */
  rowsOfUids(mailboxId: number, uids: readonly number[]): MessageRow[] {
    return this.q(`SELECT * FROM messages WHERE mailbox_id = ? AND ${SEL_UIDS} ORDER BY uid`).all(mailboxId, JSON.stringify(uids)) as MessageRow[];
  }

  /** Raw rows of every message without the cached structure (openMailbox on 100 000 messages). */
  snapshot(mailboxId: number): SnapshotRow[] {
    return this.q('SELECT uid, flags, keywords, modseq, size, internal_date FROM messages WHERE mailbox_id = ? ORDER BY uid').raw().all(mailboxId) as SnapshotRow[];
  }

  /** UIDs matching a search, ascending (queries-search.ts). */
  search(mailboxId: number, q: SearchQuery): number[] {
    const [sql, args] = searchSql(q);
    return this.q(sql).pluck().all(mailboxId, ...args) as number[];
  }

  /**
   * SupportsSearch.searchNumbers: the search's UIDs in lo..hi, less `less`, as one text
   * built by SQLite. In UID order: the statement reads an index whose key after
   * mailbox_id is uid (queries-search.ts names it), whatever the aggregate does with the
   * subquery's ORDER BY.
   */
  searchNumbers(mailboxId: number, q: SearchQuery, range: NumbersRange): { count: number; text: string } {
    const [sql, args] = searchSql(q);
    const outer = `SELECT count(*), coalesce(' ' || group_concat(uid - CAST(? AS INTEGER), ' '), '') FROM (${sql}) WHERE uid BETWEEN ? AND ?`;
    const [count, text] = this.q(outer).raw().get(range.less, mailboxId, ...args, range.lo, range.hi) as [number, string];
    return { count, text };
  }

  /** The distinct keyword sets in use (JSON arrays), from the messages_kw index. */
  keywordSets(mailboxId: number): string[] {
    return this.q('SELECT DISTINCT keywords FROM messages WHERE mailbox_id = ? AND keywords IS NOT NULL').pluck().all(mailboxId) as string[];
  }

  firstUnseen(mailboxId: number): number | null {
    return this.q('SELECT min(uid) FROM messages WHERE mailbox_id = ? AND (flags & 1) = 0').pluck().get(mailboxId) as number | null;
  }

  /** Whole rows (with cached envelope and body structure) in the scope, by UID. */
  fetchFull(mailboxId: number, scope: FetchScope): MessageRow[] {
    const [where, args] = fetchWhere(mailboxId, scope);
    return this.q(`SELECT uid, flags, keywords, modseq, size, internal_date, envelope, body_structure, filename, in_new, save_date, email_id, preview FROM messages WHERE ${where} ORDER BY uid`).all(
      ...args,
    ) as MessageRow[];
  }

  /**
   * Flags, modseq, size and date in the scope, by UID, from the covering messages_light
   * index (the planner prefers the (mailbox_id, uid) key and reads every row: the index
   * is named). With rfc822Size, the last column is RFC822.SIZE from two fields of the
   * cached structure, read in SQLite; otherwise null.
   */
  /** METADATA entries of a mailbox (0: the server), by name. */
  metadataOf(mailboxId: number): Array<{ entry: string; value: Buffer }> {
    return this.q('SELECT entry, value FROM metadata WHERE mailbox_id = ? ORDER BY entry').all(mailboxId) as Array<{ entry: string; value: Buffer }>;
  }

  setMetadataEntry(mailboxId: number, entry: string, value: Buffer | null): void {
    if (value === null) this.q('DELETE FROM metadata WHERE mailbox_id = ? AND entry = ?').run(mailboxId, entry);
    else this.q('INSERT OR REPLACE INTO metadata (mailbox_id, entry, value) VALUES (?, ?, ?)').run(mailboxId, entry, value);
  }

  fetchLight(mailboxId: number, scope: FetchScope, rfc822Size: boolean): LightRow[] {
    const sizeCol = rfc822Size ? `json_extract(body_structure, '$.headerSize') + json_extract(body_structure, '$.bodySize')` : 'NULL';
    const cols = `SELECT uid, flags, keywords, modseq, size, internal_date, ${sizeCol} FROM messages INDEXED BY messages_light`;
    const run = scope.uids && denseRange(scope.uids);
    if (!run) {
      const [where, args] = fetchWhere(mailboxId, scope);
      return this.q(`${cols} WHERE ${where} ORDER BY uid`).raw().all(...args) as LightRow[];
    }
    // A page of a FETCH 1:* (mostly consecutive UIDs): one range read of the covering
    // index, the UIDs not asked for dropped here; a third cheaper than joining a JSON
    // list of 2 000 UIDs.
    const rows = this.q(`${cols} WHERE mailbox_id = ? AND uid BETWEEN ? AND ? AND modseq > ? ORDER BY uid`)
      .raw()
      .all(mailboxId, run.sorted[0], run.sorted[run.sorted.length - 1], scope.changedSince ?? 0) as LightRow[];
    if (rows.length === run.sorted.length) return rows;
    const out: LightRow[] = [];
    let k = 0;
    for (const r of rows) {
      while (k < run.sorted.length && run.sorted[k]! < r[0]) k++;
      if (k < run.sorted.length && run.sorted[k] === r[0]) out.push(r);
    }
    return out;
  }
}

/** The UIDs ascending, when they fill at least half of the range they span (worth one range read). */
function denseRange(uids: readonly number[]): { sorted: Uint32Array } | undefined {
  if (uids.length < 64) return undefined;
  const sorted = Uint32Array.from(uids).sort();
  const span = sorted[sorted.length - 1]! - sorted[0]! + 1;
  return span <= 2 * sorted.length ? { sorted } : undefined;
}

function fetchWhere(mailboxId: number, scope: FetchScope): [string, unknown[]] {
  const since = scope.changedSince ?? 0;
  return scope.uids ? [`mailbox_id = ? AND ${SEL_UIDS} AND modseq > ?`, [mailboxId, JSON.stringify(scope.uids), since]] : ['mailbox_id = ? AND modseq > ?', [mailboxId, since]];
}
