/**
 * What the in-memory store holds, and the small rules every part of it shares: an
 * account is a map of mailboxes; a mailbox holds its messages by UID, in ascending
 * order (UIDs only ever grow, so insertion order is UID order); a message is its bytes
 * plus what the Maildir index would keep for it.
 *
 * The counters Maildir's index keeps with triggers are computed here when asked
 * (mailboxInfo): the memory store serves tests, where mailboxes are small.
 */
import { FLAG_SEEN, flagList } from '../flags.js';
import { SPECIAL_FOLDERS, canonicalName, parentsOf } from '../names.js';
import { StoreError, type AccountId, type MailboxId, type MailboxInfo, type MessageMeta, type SpecialUse, type Uid } from '../types.js';

/** RFC 9051 §2.3.1.1: UIDs are 32-bit. */
export const MAX_UID = 0xffffffff;

export interface MemMessage {
  uid: number;
  /** System flags and $Forwarded as a bit mask (../flags.ts). */
  bits: number;
  keywords: string[];
  modseq: number;
  data: Buffer;
  internalDate: number;
  /** When it was saved into this mailbox (SAVEDATE, RFC 8514): delivery, APPEND, COPY/MOVE. */
  savedAt: number;
  /** EMAILID (RFC 8474 §5.1): kept by COPY and MOVE. */
  emailId: string;
  /** PREVIEW (RFC 8970) once cached. */
  preview?: string;
  /** As Maildir's new/: delivered without flags and not yet seen by an open (\Recent). */
  inNew: boolean;
  /** The analyzer's results as JSON (as the Maildir index caches them). */
  envelope?: string;
  bodyStructure?: string;
}

export interface MemMailbox {
  id: number;
  name: string;
  uidValidity: number;
  uidNext: number;
  highestModseq: number;
  specialUse?: SpecialUse;
  messages: Map<number, MemMessage>;
  /** QRESYNC: expunged UID → the modseq of its expunge, oldest first, bounded (recordExpunged). */
  expunged?: Map<number, number>;
  /** The highest modseq of a forgotten expunge record. */
  expungedFloor?: number;
  /** METADATA (RFC 5464) entries by name. */
  metadata?: Map<string, Buffer>;
}

export interface MemAccount {
  id: AccountId;
  byName: Map<string, MemMailbox>;
  byId: Map<number, MemMailbox>;
  /**
   * Subscribed names, not mailboxes (RFC 3501 §6.3.6): a subscription outlives its
   * mailbox, and a mailbox made again under a subscribed name is subscribed.
   */
  subscriptions: Set<string>;
  lastUidValidity: number;
  /** Server METADATA entries (RFC 5464) by name. */
  metadata?: Map<string, Buffer>;
}

export function mailboxInfo(acct: MemAccount, mb: MemMailbox): MailboxInfo {
  let unseen = 0;
  let size = 0;
  let recent = 0;
  for (const m of mb.messages.values()) {
    if (!(m.bits & FLAG_SEEN)) unseen++;
    if (m.inNew) recent++;
    size += m.data.length;
  }
  return {
    id: mb.id as MailboxId,
    name: mb.name,
    ...(mb.specialUse ? { specialUse: mb.specialUse } : {}),
    subscribed: acct.subscriptions.has(mb.name),
    uidValidity: mb.uidValidity,
    uidNext: mb.uidNext,
    messages: mb.messages.size,
    unseen,
    size,
    highestModseq: mb.highestModseq,
    recent,
  };
}

export function metaOf(m: MemMessage, full: boolean): MessageMeta {
  const meta: MessageMeta = { uid: m.uid as Uid, flags: flagList(m.bits, m.keywords), modseq: m.modseq, size: m.data.length, internalDate: new Date(m.internalDate) };
  if (full) {
    meta.saveDate = new Date(m.savedAt);
    meta.emailId = m.emailId;
    if (m.preview !== undefined) meta.preview = m.preview;
    if (m.envelope) meta.envelope = JSON.parse(m.envelope);
    if (m.bodyStructure) meta.bodyStructure = JSON.parse(m.bodyStructure);
  }
  return meta;
}

/** The mailbox of a name (validated, canonical), or StoreError 'nonexistent'. */
export function mustMailbox(acct: MemAccount, name: string): MemMailbox {
  const mb = acct.byName.get(canonicalName(name));
  if (!mb) throw new StoreError('nonexistent', 'no such mailbox');
  return mb;
}

export function mustMailboxId(acct: MemAccount, id: number): MemMailbox {
  const mb = acct.byId.get(id);
  if (!mb) throw new StoreError('nonexistent', 'no such mailbox');
  return mb;
}

/** UIDVALIDITY of a new mailbox: `given` (import) or now in seconds, above the last one given in the account. */
export function nextUidValidity(acct: MemAccount, given?: number): number {
  const v = given ?? Math.max(Math.floor(Date.now() / 1000), acct.lastUidValidity + 1);
  acct.lastUidValidity = Math.max(acct.lastUidValidity, v);
  return v;
}

/** StoreError 'uidsExhausted' unless the mailbox has n UIDs left below 2^32. */
export function checkUidsLeft(mb: MemMailbox, n: number): void {
  if (mb.uidNext + n - 1 > MAX_UID) throw new StoreError('uidsExhausted', 'this mailbox has used up its UIDs and cannot take more messages');
}

/** Reserves n UIDs; StoreError 'uidsExhausted' (nothing reserved) past 2^32 - 1. */
export function reserveUids(mb: MemMailbox, n: number): number {
  checkUidsLeft(mb, n);
  const first = mb.uidNext;
  mb.uidNext += n;
  return first;
}

export function bumpModseq(mb: MemMailbox): number {
  return ++mb.highestModseq;
}

/** Mailbox names in LIST order: INBOX first, then by the UTF-8 bytes of the name (as SQLite's BINARY collation). */
export function listOrder(a: MemMailbox, b: MemMailbox): number {
  if (a.name === 'INBOX' || b.name === 'INBOX') return a.name === 'INBOX' ? (b.name === 'INBOX' ? 0 : -1) : 1;
  return Buffer.compare(Buffer.from(a.name), Buffer.from(b.name));
}

export interface Tree {
  nextMailboxId: () => number;
  publishAdded: (acct: MemAccount, name: string) => void;
  /** Expunge records kept per mailbox (recordExpunged). */
  expungedKept: number;
}

/**
 * Remembers UIDs removed from a mailbox with its current HIGHESTMODSEQ (the caller
 * raised it for this change), keeping the `keep` most recent as the Maildir index does
 * (maildir/vanished.ts).
 */
export function recordExpunged(mb: MemMailbox, uids: Iterable<number>, keep: number): void {
  const log = (mb.expunged ??= new Map());
  for (const u of uids) {
    log.delete(u); // re-inserted last: the map stays in modseq order
    log.set(u, mb.highestModseq);
  }
  for (const [u, modseq] of log) {
    if (log.size <= keep) break;
    log.delete(u);
    mb.expungedFloor = Math.max(mb.expungedFloor ?? 0, modseq);
  }
}

/** RFC 7162 §3.2.5: the UIDs expunged after `since` (types.ts Vanished). */
export function vanishedOf(mb: MemMailbox, since: number): { uids: number[]; complete: boolean } {
  const uids = [...(mb.expunged ?? [])].filter(([, m]) => m > since).map(([u]) => u);
  return { uids: uids.sort((a, b) => a - b), complete: since >= (mb.expungedFloor ?? 0) };
}

export function addMailbox(acct: MemAccount, t: Tree, name: string, opts: { specialUse?: SpecialUse; subscribed?: boolean; uidNext?: number } = {}): MemMailbox {
  const mb: MemMailbox = {
    id: t.nextMailboxId(),
    name,
    uidValidity: nextUidValidity(acct),
    uidNext: opts.uidNext ?? 1,
    highestModseq: 1,
    specialUse: opts.specialUse,
    messages: new Map(),
  };
  acct.byName.set(name, mb);
  acct.byId.set(mb.id, mb);
  if (opts.subscribed) acct.subscriptions.add(name);
  t.publishAdded(acct, name);
  return mb;
}

/** RFC 9051 §6.3.4: the superior hierarchical names that are missing are created. */
export function addParents(acct: MemAccount, t: Tree, canon: string): void {
  for (const p of parentsOf(canon)) if (!acct.byName.has(p)) addMailbox(acct, t, p);
}

/** A new account: INBOX and the special-use mailboxes, subscribed. */
export function newAccount(id: AccountId, t: Tree): MemAccount {
  const acct: MemAccount = { id, byName: new Map(), byId: new Map(), subscriptions: new Set(), lastUidValidity: 0 };
  addMailbox(acct, t, 'INBOX', { subscribed: true });
  for (const [name, use] of SPECIAL_FOLDERS) addMailbox(acct, t, name, { specialUse: use, subscribed: true });
  return acct;
}
