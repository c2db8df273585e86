/**
 * The message store as every protocol front end sees it: protocol-neutral, speaking
 * UIDs only (sequence numbers live in the IMAP selected view), with typed errors that
 * each front end maps to its own replies (IMAP `NO [CODE]`, POP3 `-ERR`, SMTP 4xx/5xx).
 *
 * Mailbox names are the user-visible hierarchy names with "/" as the separator
 * ("INBOX", "Archive/2024", "Ünïcødé"). The store validates them (no "..", no empty
 * segment, no control characters, bounded length) and maps them to Maildir++ folders.
 *
 * Ordering rule (mox): the index commit happens first, then the change is published on
 * the bus, then front ends write to their sockets.
 */
import type { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import type { SortCriterion, StoredSortKeys, ThreadKeys } from './sortkeys.js';

export type Uid = number & { readonly __brand: 'Uid' };
export type MailboxId = number & { readonly __brand: 'MailboxId' };
/** The canonical account address (`local@domain`). */
export type AccountId = string;

export type SpecialUse = '\\Sent' | '\\Drafts' | '\\Junk' | '\\Trash' | '\\Archive' | '\\All' | '\\Flagged';

/** System flags as IMAP spells them; keywords are any other atom. */
export const SYSTEM_FLAGS = ['\\Seen', '\\Answered', '\\Flagged', '\\Deleted', '\\Draft'] as const;

export interface MailboxInfo {
  id: MailboxId;
  name: string;
  specialUse?: SpecialUse;
  subscribed: boolean;
  uidValidity: number;
  uidNext: number;
  messages: number;
  unseen: number;
  /** Sum of RFC822.SIZE of the messages (STATUS=SIZE). */
  size: number;
  highestModseq: number;
  /** Messages delivered since the last open (Maildir new/): IMAP \Recent, if anyone wants it. */
  recent: number;
}

export interface MessageMeta {
  uid: Uid;
  flags: string[];
  modseq: number;
  size: number;
  internalDate: Date;
  /**
   * When the message was saved into this mailbox (RFC 8514 SAVEDATE: delivery, APPEND,
   * the COPY or MOVE that brought it). Given by fetchMeta without `fields: 'flags'`.
   */
  saveDate?: Date;
  /**
   * EMAILID (RFC 8474 §5.1): the same for the message and every copy COPY or MOVE made
   * of it, in any mailbox. Given by fetchMeta without `fields: 'flags'`.
   */
  emailId?: string;
  /** PREVIEW (RFC 8970) once cachePreview stored it. Given by fetchMeta without `fields: 'flags'`. */
  preview?: string;
  /** Cached at delivery by the analyzer (JSON the IMAP layer understands); absent if not analysed. */
  envelope?: unknown;
  bodyStructure?: unknown;
  /**
   * RFC822.SIZE as analysed (bare LFs counted as CRLF), when fetchMeta was asked for it
   * with `fields: 'flags'` and `rfc822Size: true`; else derive it from bodyStructure/size.
   */
  rfc822Size?: number;
}

/**
 * What SELECT needs of a mailbox, without one object per message: the UIDs, the
 * keywords in use and the first unseen UID (computed in the index).
 */
export interface MailboxView {
  /** As in MailboxSnapshot: `recent` is what this open moved out of new/. */
  mailbox: MailboxInfo;
  /** Ascending. Read-only: a store may hand the same array to every session (Maildir: cached while the mailbox does not change). */
  uids: readonly Uid[];
  /** The messages this open is the first to see (\Recent; Maildir: took out of new/), ascending. */
  recentUids: Uid[];
  /** Keywords set on at least one message (for the FLAGS response). */
  keywords: string[];
  firstUnseen?: Uid;
}

/**
 * fetchMeta options. `fields: 'flags'` is the light form for FETCH of UID/FLAGS/MODSEQ/
 * INTERNALDATE/RFC822.SIZE and flag SEARCH over big mailboxes: no envelope or body
 * structure is loaded, messages without keywords share frozen flag arrays (replace
 * `flags`, never mutate it), and `rfc822Size` fills MessageMeta.rfc822Size.
 */
export interface FetchMetaOptions {
  uids?: Uid[];
  changedSince?: number;
  fields?: 'all' | 'flags';
  rfc822Size?: boolean;
  /**
   * false: the caller reads no internalDate (FETCH FLAGS), so a store may answer before
   * it has settled the dates of files it indexed by name (maildir dates.ts); the
   * internalDate it returns may then be provisional. Default true.
   */
  internalDate?: boolean;
}

export interface MailboxSnapshot {
  /** `recent` here is the number of messages this open moved out of new/ (this session's \Recent). */
  mailbox: MailboxInfo;
  /** Ascending by UID; without envelope/bodyStructure (use fetchMeta for those). */
  messages: MessageMeta[];
}

/** A message to store: a file on the data root's filesystem (hard-linked when possible) or bytes. */
export type MessageSource = { path: string } | { data: Buffer };

export interface AppendOptions {
  flags?: string[];
  internalDate?: Date;
}

export interface DeliveryOptions {
  /** Flags of every copy whose target has none of its own. */
  flags?: string[];
  internalDate?: Date;
  /**
   * Accounts whose quota this one delivery does not check: a delivery the caller decided
   * to make over quota (the SMTP grace and mixed-recipient rules, src/smtp/quota.ts;
   * quota warnings). Other store calls for these accounts are enforced as usual.
   */
  unenforced?: readonly AccountId[];
}

export interface DeliveryTarget {
  account: AccountId;
  /** Mailbox name; defaults to INBOX. A missing non-INBOX mailbox falls back to INBOX. */
  mailbox?: string;
  /** Flags of this copy (Sieve's fileinto :flags); absent: the delivery's `opts.flags`. */
  flags?: string[];
}

export interface DeliveryResult {
  account: AccountId;
  mailbox: string;
  uid: Uid;
}

export type FlagOp = 'add' | 'remove' | 'set';

/**
 * What was expunged from a mailbox after a modseq (QRESYNC, RFC 7162 §3.2.5, §3.2.6).
 * Every expunge (EXPUNGE, MOVE out, a file removed by another tool, RENAME of INBOX)
 * raises HIGHESTMODSEQ and is remembered with that modseq, a bounded number per
 * mailbox (the oldest are forgotten first).
 */
/** Expunges remembered per mailbox by default (Vanished): about 20 bytes each in the index. */
export const EXPUNGED_KEPT = 50_000;

export interface Vanished {
  /** Ascending: the remembered UIDs expunged with a modseq greater than the one asked. */
  uids: Uid[];
  /**
   * False when expunges after that modseq may have been forgotten (the bound): the
   * caller then counts every UID it knew and cannot find as vanished, which RFC 7162
   * §3.2.5.2 allows (a client ignores UIDs it does not know, §3.2.10).
   */
  complete: boolean;
}

/** One METADATA entry (RFC 5464 §3): "/private/comment" and its value. */
export interface MetadataEntry {
  entry: string;
  value: Buffer;
}

export interface FlagChange {
  uid: Uid;
  flags: string[];
  modseq: number;
}

/** updateFlags' options: `unchangedSince` is CONDSTORE's UNCHANGEDSINCE (RFC 7162 §3.1.3). */
export interface FlagUpdateOptions {
  unchangedSince?: number;
}

/** updateFlags' answer: the messages whose flags changed, and the UIDs UNCHANGEDSINCE kept as they were. */
export interface FlagUpdate {
  changed: FlagChange[];
  failed: Uid[];
}

export interface UidMapping {
  uidValidity: number;
  /** Parallel arrays: source UIDs and the UIDs they got in the destination. */
  from: Uid[];
  to: Uid[];
}

export interface Usage {
  bytes: number;
  messages: number;
}

export interface Quota {
  bytes?: number | null;
  messages?: number | null;
}

export type StoreErrorKind =
  | 'nonexistent'
  | 'exists'
  | 'hasChildren'
  | 'overQuota'
  | 'readOnly'
  | 'invalidName'
  | 'noPermission'
  | 'tooBig'
  | 'modified'
  /** The mailbox has given its last UID (2^32 - 1, RFC 9051 §2.3.1.1): it takes no more messages. */
  | 'uidsExhausted'
  /** The store was closed (server stopping): try again later. */
  | 'closed';

export class StoreError extends Error {
  constructor(
    readonly kind: StoreErrorKind,
    message: string,
    /** The account concerned, when one of several (deliver: which recipient is over quota). */
    readonly account?: AccountId,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}

/**
 * Where the messages of an 'added' change came from (for listeners that care, such as the
 * spam trainer): a delivery (SMTP), an APPEND, a COPY or MOVE from `from`, files another
 * tool dropped into the Maildir ('scan'), or INBOX's messages moved by a RENAME.
 */
export interface AddedOrigin {
  via: 'deliver' | 'append' | 'copy' | 'move' | 'scan' | 'rename';
  from?: MailboxId;
}

export type StoreChange =
  | { kind: 'added'; account: AccountId; mailboxId: MailboxId; uids: Uid[]; origin?: AddedOrigin }
  /** `modseq`: the mailbox's modseq the expunge was recorded with (QRESYNC sessions tell it, RFC 7162 §3.2.7). */
  | { kind: 'expunged'; account: AccountId; mailboxId: MailboxId; uids: Uid[]; modseq?: number }
  | { kind: 'flags'; account: AccountId; mailboxId: MailboxId; changes: FlagChange[] }
  | { kind: 'mailboxAdded'; account: AccountId; name: string }
  | { kind: 'mailboxRemoved'; account: AccountId; name: string }
  | { kind: 'mailboxRenamed'; account: AccountId; from: string; to: string };

/**
 * The change bus: sessions subscribe per account (`on(account, fn)`) and get every
 * change after it is committed. Implemented in changes.ts.
 */
export interface ChangeBus extends Pick<EventEmitter, 'setMaxListeners'> {
  subscribe(account: AccountId, fn: (c: StoreChange) => void): () => void;
  /** Every account's changes (server-wide listeners: the spam trainer). */
  subscribeAll(fn: (c: StoreChange) => void): () => void;
  publish(change: StoreChange): void;
}

/** Parses a message once at delivery (envelope, body structure); supplied by the IMAP layer. */
/** Gets a message held in memory as the Buffer itself (no stream around it), others as a stream. */
export type MessageAnalyzer = (source: Readable | Buffer) => Promise<{ envelope?: unknown; bodyStructure?: unknown }>;

export interface ReindexReport {
  mailboxes: number;
  messages: number;
  added: number;
  removed: number;
}

/**
 * The store as every front end sees it (IMAP, POP3, SMTP delivery, quota, the CLI): the
 * narrow, protocol-neutral boundary every implementation passes the contract suite
 * (test/store/contract.ts) over. What only some callers need, or what only makes an
 * implementation faster, is in the optional interfaces below, each with a type guard
 * (go-imap's SessionMove style): SupportsImport (UIDs kept from another server),
 * SupportsSnapshot (a mailbox's metadata in one call) and SupportsRangeRead (a byte
 * range of a message without reading what comes before it).
 *
 * After close() every call fails with StoreError('closed').
 */
export interface MailStore {
  readonly changes: ChangeBus;

  /** Creates the account's storage with INBOX and the special-use mailboxes; idempotent. */
  ensureAccount(account: AccountId): Promise<void>;
  /** Removes the account's mailboxes and messages. */
  removeAccount(account: AccountId): Promise<void>;

  listMailboxes(account: AccountId): Promise<MailboxInfo[]>;
  /** Current counters of one mailbox (STATUS). */
  getMailbox(account: AccountId, name: string): Promise<MailboxInfo>;
  createMailbox(account: AccountId, name: string, opts?: { specialUse?: SpecialUse }): Promise<MailboxInfo>;
  deleteMailbox(account: AccountId, name: string): Promise<void>;
  /** RENAME; renaming INBOX moves its messages to the new mailbox and leaves INBOX empty (RFC 9051 §6.3.6). */
  renameMailbox(account: AccountId, from: string, to: string): Promise<void>;
  /**
   * SUBSCRIBE needs an existing mailbox (StoreError 'nonexistent' otherwise);
   * unsubscribing works for any valid name, subscribed or not, existing or not.
   * A subscription outlives its mailbox (RFC 3501 §6.3.6) and follows a RENAME.
   */
  setSubscribed(account: AccountId, name: string, subscribed: boolean): Promise<void>;
  /** Every subscribed name, including those whose mailbox no longer exists (RFC 5258 §3.1). */
  listSubscriptions(account: AccountId): Promise<string[]>;

  /**
   * Opens a mailbox for a session (SELECT, a POP3 maildrop): picks up messages other
   * tools dropped in, and returns what SELECT needs (cheap on 100 000 messages):
   * `mailbox.recent` is the number of messages this open saw first (\Recent).
   */
  selectMailbox(account: AccountId, name: string): Promise<MailboxView>;
  /** Metadata of some or all messages, optionally only those changed since a modseq (CONDSTORE). */
  fetchMeta(account: AccountId, mailboxId: MailboxId, opts?: FetchMetaOptions): Promise<MessageMeta[]>;
  /**
   * METADATA (RFC 5464): every entry of a mailbox, or of the server when `mailboxId` is
   * null, by entry name. A mailbox's entries follow it through RENAME and go with DELETE.
   */
  getMetadata(account: AccountId, mailboxId: MailboxId | null): Promise<MetadataEntry[]>;
  /**
   * Sets (value) or removes (null) entries, all together; a mailbox's HIGHESTMODSEQ is
   * raised (RFC 7162 §3.2: METADATA changes are mailbox changes for QRESYNC).
   */
  setMetadata(account: AccountId, mailboxId: MailboxId | null, changes: ReadonlyArray<{ entry: string; value: Buffer | null }>): Promise<void>;
  /** Keeps a message's PREVIEW text (RFC 8970) for later fetchMeta; a message gone meanwhile is ignored. */
  cachePreview(account: AccountId, mailboxId: MailboxId, uid: Uid, text: string): Promise<void>;
  /** The raw message as stored (RFC 5322 bytes). Streams; never buffers the whole file. */
  readMessage(account: AccountId, mailboxId: MailboxId, uid: Uid): Promise<{ stream: Readable; size: number }>;

  /**
   * Durable append: the reply may be sent once this resolves. Enforces quota →
   * StoreError('overQuota'); a mailbox whose UIDs are used up → 'uidsExhausted'.
   */
  append(account: AccountId, mailbox: string, source: MessageSource, opts?: AppendOptions): Promise<{ uid: Uid; uidValidity: number; mailboxId: MailboxId }>;
  /**
   * Durable delivery of one message to several mailboxes (SMTP), stored once per
   * mailbox with hard links where possible. Every target is written and fsynced before
   * this resolves; on failure nothing partial is left in any mailbox. Results come in
   * target order after de-duplication (same account + mailbox once; a missing mailbox
   * counts as INBOX). Quota is checked for every account first, except those in
   * `opts.unenforced`: StoreError('overQuota') with `account` set names the first one
   * over quota, and nothing is stored for anyone (the caller may retry without that
   * recipient). A {path} source stays the caller's (it is hard-linked, never moved or
   * removed).
   */
  deliver(targets: DeliveryTarget[], source: MessageSource, opts?: DeliveryOptions): Promise<DeliveryResult[]>;

  updateFlags(account: AccountId, mailboxId: MailboxId, uids: Uid[], op: FlagOp, flags: string[], opts?: FlagUpdateOptions): Promise<FlagUpdate>;
  /**
   * Removes the given UIDs whatever their flags (POP3 DELE; IMAP UID EXPUNGE filters on
   * \Deleted itself), or all \Deleted ones when uids is omitted; returns the removed UIDs.
   */
  expunge(account: AccountId, mailboxId: MailboxId, uids?: Uid[]): Promise<Uid[]>;
  /**
   * COPY and MOVE, all or nothing: when one of `uids` is no longer in `from` (expunged
   * meanwhile), nothing is done and the mapping is empty; a COPY cut off by a crash is
   * undone at the next start (RFC 9051 §6.4.7).
   */
  copy(account: AccountId, from: MailboxId, uids: Uid[], to: string): Promise<UidMapping>;
  move(account: AccountId, from: MailboxId, uids: Uid[], to: string): Promise<UidMapping>;
  /** The UIDs expunged from a mailbox after modseq `since` (Vanished). */
  vanished(account: AccountId, mailboxId: MailboxId, since: number): Promise<Vanished>;

  usage(account: AccountId): Promise<Usage>;
  /** Rebuilds the index from the stored messages, keeping the UIDs it already knew. */
  reindex(account: AccountId): Promise<ReindexReport>;
  /**
   * A protocol session starts working for its client (a command running, its response
   * being written; not while it waits for the client): work the store does in the
   * background (Maildir: analysis, dates and full-text fill of files indexed by name)
   * waits until no session is at work, as it waits for store calls, so a command is not
   * slowed by a batch of it. Returns the end of it (calling it again does nothing). Takes
   * no lock and never waits: a store without background work may do nothing.
   */
  beginWork(): () => void;
  /**
   * Lets the operations under way finish (at most `graceMs`, default 10 s), then
   * releases everything; calls made meanwhile or later fail with StoreError('closed').
   */
  close(graceMs?: number): Promise<void>;
}

/** Bytes [start, end) of a stored message. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * Reading part of a message without reading what comes before it: FETCH of one MIME
 * part (BODY[2], BINARY[1.3], BODY[]<partial>) reads only that part's bytes, at the
 * offsets the analyzer cached at delivery. A store without it is read from byte 0.
 */
export interface SupportsRangeRead {
  /** Bytes [start, end) of the message as stored (fewer when the message is shorter), by positioned reads. */
  readMessageRange(account: AccountId, mailboxId: MailboxId, uid: Uid, range: ByteRange): Promise<Readable>;
}

export function supportsRangeRead(s: MailStore): s is MailStore & SupportsRangeRead {
  return typeof (s as Partial<SupportsRangeRead>).readMessageRange === 'function';
}

/** Options of an import's append: the origin's UID kept (it must be >= UIDNEXT). */
export interface ImportAppendOptions extends AppendOptions {
  uid?: number;
}

/**
 * Imports from another server (`mailserver import maildir`), keeping its UIDs and
 * UIDVALIDITY so clients keep their caches (RFC 9051 §2.3.1.1).
 */
export interface SupportsImport {
  /**
   * Gives a mailbox that has never held a message the UIDVALIDITY of its origin
   * (StoreError 'exists' otherwise), and raises UIDNEXT (never lowers it).
   */
  setUidState(account: AccountId, name: string, state: { uidValidity?: number; uidNext?: number }): Promise<MailboxInfo>;
  /** append with the origin's UID (StoreError 'exists' when it is below UIDNEXT). */
  importMessage(account: AccountId, mailbox: string, source: MessageSource, opts: ImportAppendOptions): Promise<{ uid: Uid; uidValidity: number; mailboxId: MailboxId }>;
}

export function supportsImport(s: MailStore): s is MailStore & SupportsImport {
  const x = s as Partial<SupportsImport>;
  return typeof x.setUidState === 'function' && typeof x.importMessage === 'function';
}

/**
 * A search over what the index holds (issue 16 item 3), protocol-neutral: the IMAP layer
 * turns sequence numbers and \Recent into UID ranges before asking. Dates are UTC
 * midnights in ms (`on` = that day); `uids` ranges are inclusive.
 */
export type SearchQuery =
  | { k: 'all' }
  | { k: 'none' }
  | { k: 'flag'; flag: string; set: boolean }
  | { k: 'uids'; ranges: Array<[number, number]> }
  | { k: 'size'; op: 'larger' | 'smaller'; n: number }
  | { k: 'date'; op: 'before' | 'on' | 'since'; day: number }
  | { k: 'modseq'; n: number }
  /** Any number of UIDs, ascending (a full-text search's hits). */
  | { k: 'uidset'; uids: readonly Uid[] }
  | { k: 'not'; q: SearchQuery }
  | { k: 'and'; qs: SearchQuery[] }
  | { k: 'or'; a: SearchQuery; b: SearchQuery };

/** Searches answered by the index without one object per message. */
export interface SupportsSearch {
  /** UIDs of the messages matching `q`, ascending. */
  searchUids(account: AccountId, mailboxId: MailboxId, q: SearchQuery): Promise<Uid[]>;
  /**
   * The UIDs matching `q` from `range.lo` to `range.hi`, ascending, each less
   * `range.less`, as decimal numbers each after a space (" 1 5 9"; "" for none), and
   * how many. For a session whose messages are the UIDs lo..hi without a gap (less =
   * lo - 1) these are their sequence numbers, a SEARCH response's (RFC 9051 §7.3.4),
   * built without a value per message (issue 16: SEARCH UNSEEN of 100 000 messages).
   */
  searchNumbers?(account: AccountId, mailboxId: MailboxId, q: SearchQuery, range: NumbersRange): Promise<{ count: number; text: string }>;
}

/** The UIDs searchNumbers looks at (lo..hi, inclusive) and what it takes off each. */
export interface NumbersRange {
  lo: number;
  hi: number;
  less: number;
}

export function supportsSearch(s: MailStore): s is MailStore & SupportsSearch {
  return typeof (s as Partial<SupportsSearch>).searchUids === 'function';
}

/**
 * The decoded, case-folded text IMAP SEARCH looks at in one message (RFC 9051 §6.4.4),
 * as the full-text index keeps it (issue 16 item 3). Segments (a header block, a text
 * part's body) are joined by SEARCH_DOC_SEP, so no substring spans two of them.
 */
export interface SearchDoc {
  /** The message header, one "name: value" line per field, values unfolded and RFC 2047 decoded. */
  head: string;
  /** FROM/TO/CC/BCC/SUBJECT as the cached envelope gives them, one "name: value" line each. */
  addrs: string;
  /** The header blocks of MIME parts and encapsulated messages (TEXT). */
  parts: string;
  /** The decoded bodies of the text/* and message/* leaf parts (BODY). */
  body: string;
}

/** Between two segments of a SearchDoc: a noncharacter no needle may hold (a needle that does is not answered from the index). */
export const SEARCH_DOC_SEP = '\uffff';

/**
 * Makes the SearchDoc of a message in memory; undefined when it cannot (too large). The
 * analysis it made on the way (as MessageAnalyzer's) comes along, so a store caching it
 * does not parse the message twice.
 */
export type TextIndexer = ((data: Buffer) => (SearchDoc & { analysis?: { envelope?: unknown; bodyStructure?: unknown } }) | undefined) & {
  /** Where a worker thread loads this same function (its module's URL, the export's name): the Maildir store then fills its index off the event loop. */
  module?: { url: string; name: string };
};

/** A content key of IMAP SEARCH: BODY, TEXT, or HEADER field (FROM, SUBJECT, ... included). */
export type TextTerm = { where: 'body' | 'text'; value: string } | { where: 'header'; field: string; value: string };

/** What the index says of one TextTerm: exact hits, and the messages it cannot decide (not yet indexed). */
export interface TextAnswer {
  hits: Uid[];
  unsure: Uid[];
}

/** Content searches answered by a full-text index (or a scan), UIDs ascending. */
export interface SupportsTextSearch {
  searchText(account: AccountId, mailboxId: MailboxId, term: TextTerm): Promise<TextAnswer>;
}

export function supportsTextSearch(s: MailStore): s is MailStore & SupportsTextSearch {
  return typeof (s as Partial<SupportsTextSearch>).searchText === 'function';
}

/** A faster openMailbox: the pick-up of selectMailbox and every message's metadata in one call. */
export interface SupportsSnapshot {
  openMailbox(account: AccountId, name: string): Promise<MailboxSnapshot>;
}

export function supportsSnapshot(s: MailStore): s is MailStore & SupportsSnapshot {
  return typeof (s as Partial<SupportsSnapshot>).openMailbox === 'function';
}

/**
 * Opens a mailbox and returns the metadata of every message (POP3's maildrop): one call
 * where the store supports it, else selectMailbox then fetchMeta of the UIDs it listed.
 */
export async function openSnapshot(store: MailStore, account: AccountId, name: string): Promise<MailboxSnapshot> {
  if (supportsSnapshot(store)) return store.openMailbox(account, name);
  const view = await store.selectMailbox(account, name);
  const listed = new Set<number>(view.uids);
  const metas = view.uids.length === 0 ? [] : await store.fetchMeta(account, view.mailbox.id, { fields: 'flags' });
  return { mailbox: view.mailbox, messages: metas.filter((m) => listed.has(m.uid)) };
}

/**
 * SORT and THREAD from the index (RFC 5256; keys: src/store/sortkeys.ts). Keys are
 * computed at delivery/APPEND and, for messages stored before or by other paths (COPY,
 * files another tool dropped in), on the first call that needs them, a batch at a time.
 */
export interface SupportsSort {
  /**
   * UIDs of the mailbox's messages in the order of `by` (compareKeys: each criterion in
   * turn, ties by UID ascending); only those in `uids` (ascending) when given.
   */
  sortUids(account: AccountId, mailboxId: MailboxId, by: readonly SortCriterion[], uids?: readonly Uid[]): Promise<Uid[]>;
  /** The stored keys of the given messages (all when omitted), ascending by UID. */
  sortKeys(account: AccountId, mailboxId: MailboxId, uids?: readonly Uid[]): Promise<StoredSortKeys[]>;
  /** What THREAD reads of the same keys (no addresses, ARRIVAL or SIZE), ascending by UID. */
  threadKeys(account: AccountId, mailboxId: MailboxId, uids?: readonly Uid[]): Promise<ThreadKeys[]>;
}

export function supportsSort(s: MailStore): s is MailStore & SupportsSort {
  const x = s as Partial<SupportsSort>;
  return typeof x.sortUids === 'function' && typeof x.sortKeys === 'function' && typeof x.threadKeys === 'function';
}
