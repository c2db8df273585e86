/**
 * Connection state (RFC 9051 §3) as a discriminated union, and the selected-mailbox
 * view: the one place that decides what a session has been told and may be told now
 * (go-imap v2 SessionTracker, mox applyChanges). Sequence numbers exist only here
 * (mox `uids []store.UID`); the store speaks UIDs only.
 *
 * What the view keeps per session: the UIDs the client knows (index + 1 = sequence
 * number), the keywords announced in FLAGS, this session's \Recent messages, the flag
 * changes it made itself (not echoed back), and a queue of store changes not yet told.
 *
 * The rules, applied by `flush` (at the end of every command and during IDLE) and by
 * the helpers every command uses to write flags:
 * - EXISTS before any response that names a new message: a new message gets its
 *   sequence number only when `* n EXISTS` is written (RFC 3501 §7.3.1, §7.4.1;
 *   RFC 9051 §7.4.1, §5.2).
 * - No EXPUNGE after FETCH, STORE or SEARCH without UID: those expunges stay queued
 *   until a command that allows them, or IDLE (RFC 3501 §7.4.1, RFC 9051 §7.5.1, §5.5).
 *   A message added and expunged between two points where expunges may be sent is
 *   never announced at all (Dovecot does the same).
 * - FLAGS (and PERMANENTFLAGS) before a keyword the client has not been told of is
 *   used in any FETCH (RFC 3501 §7.2.6, RFC 9051 §7.3.5); the announced set only grows.
 * - QRESYNC sessions get `* VANISHED uid-set` instead of EXPUNGE (RFC 7162 §3.2.10),
 *   and while an expunge waits, the changes after it wait too: a FETCH MODSEQ above
 *   the expunge's modseq would let a client that disconnects resync past it without
 *   ever learning of it (RFC 5162 erratum 1810, kept in RFC 7162 §3.2.10). After a
 *   VANISHED the flush ends with `* OK [HIGHESTMODSEQ n]`: VANISHED carries no modseq,
 *   and without it a client that resyncs later is told the same UIDs again (RFC 7162
 *   §3.2.7; n is the highest modseq of what this session has been told, §3.2).
 * - \Recent in FLAGS and `* n RECENT` only in IMAP4rev1 sessions (RFC 3501 §2.3.2,
 *   §7.3.2; RFC 9051 appendix E); which session gets a message as recent: recent.ts.
 */
import type { AccountId, FlagChange, MailboxId, StoreChange, Uid } from '../store/types.js';
import { compactSet } from './commands/helpers.js';
import type { RecentRegistry } from './recent.js';
import { SeqMap } from './seqmap.js';
import type { Encoder } from './wire/encoder.js';
import { SAVED_SET, type SeqSet } from './wire/parser.js';

export type SeqNum = number & { readonly __brand: 'SeqNum' };

export type ConnState =
  | { name: 'notAuthenticated' }
  | { name: 'authenticated'; account: AccountId }
  | { name: 'selected'; account: AccountId; view: SelectedView }
  | { name: 'logout' };

export type ConnStateName = ConnState['name'];

export type PendingChange =
  | { kind: 'added'; uids: Uid[] }
  | { kind: 'expunged'; uids: Uid[]; modseq?: number }
  | { kind: 'flags'; changes: FlagChange[] };

const SYSTEM_FLAGS = ['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft'];

export interface ViewOptions {
  account: AccountId;
  mailboxId: MailboxId;
  name: string;
  readOnly: boolean;
  uidValidity: number;
  uidNext: number;
  /** Ascending. */
  uids: readonly Uid[];
  highestModseq: number;
  /** Keywords in use in the mailbox (the first FLAGS response). */
  keywords: readonly string[];
  /** IMAP4rev1 session that claims and shows \Recent. */
  recent?: { registry: RecentRegistry; claimed: readonly Uid[] };
}

/** When a flush happens: which queued changes may go out (RFC 9051 §7.5.1). */
export interface FlushPoint {
  expunge: boolean;
  condstore: boolean;
  /** ENABLE QRESYNC was given: VANISHED instead of EXPUNGE (RFC 7162 §3.2.10). */
  qresync?: boolean;
}

export class SelectedView {
  readonly account: AccountId;
  readonly mailboxId: MailboxId;
  name: string;
  readonly readOnly: boolean;
  readonly uidValidity: number;
  uidNext: number;
  /** Ascending UIDs; index + 1 is the sequence number (a Uint32Array, seqmap.ts). */
  readonly uids: SeqMap;
  highestModseq: number;
  /**
   * Flag changes this session made itself (UID → modseq): their change events are not
   * echoed back as untagged FETCH (the client saw the result in the command's response).
   */
  readonly own = new Map<Uid, number>();
  readonly pending: PendingChange[] = [];
  /**
   * The search result saved by SEARCH RETURN (SAVE), as UIDs so expunges drop out
   * (RFC 5182 §2.1); empty at SELECT. "$" resolves to those still in the view.
   */
  saved: readonly Uid[] = [];
  /** Keywords told to the client in FLAGS (RFC 3501 §7.2.6). */
  private readonly announced = new Set<string>();
  private readonly recentRegistry: RecentRegistry | undefined;
  private readonly recent = new Set<Uid>();
  private recentTold: number;

  constructor(o: ViewOptions) {
    this.account = o.account;
    this.mailboxId = o.mailboxId;
    this.name = o.name;
    this.readOnly = o.readOnly;
    this.uidValidity = o.uidValidity;
    this.uidNext = o.uidNext;
    this.uids = new SeqMap(o.uids);
    this.highestModseq = o.highestModseq;
    for (const k of o.keywords) this.announced.add(k);
    this.recentRegistry = o.recent?.registry;
    for (const u of o.recent?.claimed ?? []) this.recent.add(u);
    this.recentTold = this.recent.size;
  }

  get exists(): number {
    return this.uids.length;
  }

  /** Whether this session shows \Recent (IMAP4rev1 sessions that selected read-write). */
  get showsRecent(): boolean {
    return this.recentRegistry !== undefined && !this.stopRecent;
  }
  private stopRecent = false;

  /** ENABLE IMAP4rev2 after SELECT: no \Recent from now on (RFC 9051 appendix E). */
  hideRecent(): void {
    this.stopRecent = true;
  }

  isRecent(uid: Uid): boolean {
    return this.recent.has(uid);
  }

  /** This session's \Recent messages as it shows them (none when it does not), ascending. */
  recentUids(): Uid[] {
    return this.showsRecent ? [...this.recent].sort((a, b) => a - b) : [];
  }

  get recentCount(): number {
    return this.showsRecent ? this.recent.size : 0;
  }

  // ------------------------------------------------------------ sequence numbers

  /** Sequence number of a UID, or 0 when not in the view (binary search). */
  seqOf(uid: Uid): number {
    return this.uids.seqOf(uid);
  }

  uidAt(seq: number): Uid | undefined {
    return this.uids.at(seq);
  }

  /** The largest UID in the view, 0 when empty ("*" of a UID set, RFC 9051 §6.4.9). */
  get maxUid(): number {
    return this.uids.last;
  }

  /** Resolves a message sequence set to UIDs in ascending order (RFC 9051 §9 seq-number, "*" = last). */
  uidsForSeqSet(set: SeqSet): Uid[] {
    if (set === SAVED_SET) return this.savedUids();
    const n = this.uids.length;
    const ranges = set.map(([a0, b0]) => {
      const a = a0 === Infinity ? n : a0;
      const b = b0 === Infinity ? n : b0;
      return [Math.max(1, Math.min(a, b)), Math.min(Math.max(a, b), n)] as [number, number];
    });
    return collect(ranges, (lo, hi) => this.uids.slice(lo, hi));
  }

  /** "$": the saved UIDs still in the view, ascending. */
  savedUids(): Uid[] {
    return this.saved.filter((u) => this.seqOf(u) > 0);
  }

  /** Resolves a UID set to the UIDs present in the view; "*" is the largest UID (RFC 9051 §6.4.9). */
  uidsForUidSet(set: SeqSet): Uid[] {
    if (set === SAVED_SET) return this.savedUids();
    const max = this.uids.last;
    const ranges = set.map(([a, b]) => {
      const x = a === Infinity ? max : a;
      const y = b === Infinity ? max : b;
      return [Math.min(x, y), Math.max(x, y)] as [number, number];
    });
    return collect(ranges, (lo, hi) => this.uids.between(lo, hi));
  }

  /** Whether a set contains a UID (for SEARCH UID, with "*" as max UID). */
  static inSet(set: SeqSet, n: number, star: number): boolean {
    for (const [a, b] of set) {
      const x = a === Infinity ? star : a;
      const y = b === Infinity ? star : b;
      if (n >= Math.min(x, y) && n <= Math.max(x, y)) return true;
    }
    return false;
  }

  /** Removes a UID and returns the sequence number it had (0 if absent). */
  remove(uid: Uid): number {
    const seq = this.seqOf(uid);
    if (seq > 0) {
      this.uids.removeAt(seq);
      this.own.delete(uid);
      this.recent.delete(uid);
    }
    return seq;
  }

  private addUids(uids: Uid[]): Uid[] {
    const added: Uid[] = [];
    for (const u of [...uids].sort((a, b) => a - b)) {
      // Out of order should not happen (UIDs grow); insert keeps the order anyway.
      if (this.seqOf(u) === 0) {
        this.uids.insert(u);
        added.push(u);
      }
      if (u >= this.uidNext) this.uidNext = u + 1;
    }
    if (added.length > 0 && this.showsRecent) for (const u of this.recentRegistry!.claimNew(this.account, this.mailboxId, added)) this.recent.add(u);
    return added;
  }

  // ------------------------------------------------------------ flags

  /** The FLAGS list of a message as this session shows it (\Recent added for IMAP4rev1). */
  flagList(uid: Uid, flags: readonly string[]): string {
    const shown = this.showsRecent && this.recent.has(uid) ? [...flags, '\\Recent'] : flags;
    return `(${shown.join(' ')})`;
  }

  /**
   * `* FLAGS (...)` and `* OK [PERMANENTFLAGS (...)]` with every keyword announced so
   * far (RFC 9051 §7.3.5, §7.1): at SELECT and whenever a new keyword is about to show.
   */
  writeFlags(enc: Encoder): void {
    const flags = [...SYSTEM_FLAGS, ...this.announced].join(' ');
    enc.raw(`* FLAGS (${flags})\r\n`);
    // Read-only: nothing can be changed permanently (RFC 9051 §7.1 PERMANENTFLAGS).
    enc.raw(`* OK [PERMANENTFLAGS (${this.readOnly ? '' : flags + ' \\*'})] Flags permitted\r\n`);
  }

  /** Announces the keywords of `flags` the client has not been told of (RFC 3501 §7.2.6). */
  announce(enc: Encoder, flags: readonly string[]): void {
    let fresh = false;
    for (const f of flags) {
      if (f.charCodeAt(0) === 92 /* \ */ || this.announced.has(f)) continue;
      this.announced.add(f);
      fresh = true;
    }
    if (fresh) this.writeFlags(enc);
  }

  /**
   * `* seq FETCH (FLAGS (...) [UID u] [MODSEQ (m)])` for a message the client knows,
   * preceded by FLAGS when it shows a new keyword. Returns false (writes nothing) for a
   * message not in the view.
   */
  writeFlagsFetch(enc: Encoder, uid: Uid, flags: readonly string[], o: { uid?: boolean; modseq?: number }): boolean {
    const seq = this.seqOf(uid);
    if (seq === 0) return false;
    this.announce(enc, flags);
    // * 3 FETCH (FLAGS (\Seen) UID 7 MODSEQ (12))   (RFC 9051 §7.5.2, RFC 7162 §3.2)
    enc.raw(`* ${seq} FETCH (FLAGS ${this.flagList(uid, flags)}${o.uid ? ` UID ${uid}` : ''}${o.modseq !== undefined ? ` MODSEQ (${o.modseq})` : ''})\r\n`);
    return true;
  }

  /** Records a flag change this session made (its event is not echoed back). */
  noteOwnChange(uid: Uid, modseq: number): void {
    this.own.set(uid, modseq);
    if (modseq > this.highestModseq) this.highestModseq = modseq;
  }

  /** `* n RECENT` when the count changed since last told (RFC 3501 §7.3.2; IMAP4rev1 only). */
  writeRecent(enc: Encoder): void {
    if (!this.showsRecent || this.recent.size === this.recentTold) return;
    this.recentTold = this.recent.size;
    enc.raw(`* ${this.recent.size} RECENT\r\n`);
  }

  // ------------------------------------------------------------ queued changes

  /** A committed store change of this account (connection.ts); queued until a flush. */
  enqueue(c: StoreChange): boolean {
    if (!('mailboxId' in c) || c.mailboxId !== this.mailboxId) return false;
    if (c.kind === 'added') this.pending.push({ kind: 'added', uids: c.uids });
    else if (c.kind === 'expunged') this.pending.push({ kind: 'expunged', uids: c.uids, ...(c.modseq !== undefined ? { modseq: c.modseq } : {}) });
    else this.pending.push({ kind: 'flags', changes: c.changes });
    return true;
  }

  /**
   * Writes what may be told now of the queued changes, in the order they happened
   * (module comment for the rules); keeps the expunges that may not go out yet.
   */
  flush(enc: Encoder, at: FlushPoint): void {
    if (this.pending.length === 0) return;
    const queue = this.pending.splice(0);
    let vanished = false;
    // Messages both added and expunged since the last point: never announced.
    const gone = new Set<Uid>();
    if (at.expunge) for (const ch of queue) if (ch.kind === 'expunged') for (const u of ch.uids) gone.add(u);
    // How many messages the client knows of: new ones count once EXISTS is written.
    let told = this.exists;
    const tellExists = (): void => {
      if (this.exists === told) return;
      told = this.exists;
      enc.raw(`* ${this.exists} EXISTS\r\n`); // RFC 9051 §7.4.1
      this.writeRecent(enc);
    };
    for (let i = 0; i < queue.length; i++) {
      const ch = queue[i]!;
      if (ch.kind === 'added') {
        this.addUids(ch.uids.filter((u) => !gone.has(u)));
      } else if (ch.kind === 'expunged') {
        if (!at.expunge) {
          // RFC 9051 §7.5.1: waits for a command that allows it; with QRESYNC all that
          // follows waits too (module comment).
          if (at.qresync) {
            this.pending.push(...queue.slice(i));
            break;
          }
          this.pending.push(ch);
          continue;
        }
        tellExists();
        if (ch.modseq !== undefined && ch.modseq > this.highestModseq) this.highestModseq = ch.modseq;
        if (at.qresync) {
          const n = this.writeVanished(enc, ch.uids);
          told -= n;
          if (n > 0 && ch.modseq !== undefined) vanished = true;
          continue;
        }
        for (const uid of ch.uids) {
          // "* n EXPUNGE": sequence numbers shift after each one.
          const seq = this.remove(uid);
          if (seq === 0) continue;
          enc.raw(`* ${seq} EXPUNGE\r\n`);
          told--;
        }
      } else {
        tellExists(); // a FETCH may name a message new in this flush
        this.flagChanges(enc, ch.changes, at.condstore);
      }
    }
    tellExists();
    this.writeRecent(enc);
    if (vanished) this.writeHighestModseq(enc);
    if (this.own.size > 100_000) this.own.clear(); // bound memory; worst case an echoed FETCH
  }

  /**
   * `* VANISHED 405,407,410:425` for the UIDs still in the view, which leave it
   * (RFC 7162 §3.2.10); returns how many left.
   */
  writeVanished(enc: Encoder, uids: readonly Uid[]): number {
    const removed = uids.filter((u) => this.remove(u) > 0).sort((a, b) => a - b);
    if (removed.length > 0) enc.raw(`* VANISHED ${compactSet(removed)}\r\n`);
    return removed.length;
  }

  /** `* OK [HIGHESTMODSEQ n]` (RFC 7162 §3.1.2.1): what this session has been told up to. */
  writeHighestModseq(enc: Encoder): void {
    enc.raw(`* OK [HIGHESTMODSEQ ${this.highestModseq}] Highest\r\n`);
  }

  private flagChanges(enc: Encoder, changes: FlagChange[], condstore: boolean): void {
    for (const fc of changes) {
      if (fc.modseq > this.highestModseq) this.highestModseq = fc.modseq;
      const own = this.own.get(fc.uid);
      if (own !== undefined && own >= fc.modseq) {
        if (own === fc.modseq) this.own.delete(fc.uid);
        continue;
      }
      this.writeFlagsFetch(enc, fc.uid, fc.flags, { uid: true, ...(condstore ? { modseq: fc.modseq } : {}) });
    }
  }
}

/**
 * The UIDs of ranges (lo..hi inclusive, in the units `part` takes) merged and in
 * ascending order: overlapping or repeated ranges give each UID once.
 */
function collect(ranges: Array<[number, number]>, part: (lo: number, hi: number) => Uint32Array): Uid[] {
  const sorted = ranges.filter(([lo, hi]) => lo <= hi).sort((x, y) => x[0] - y[0]);
  const out: Uid[] = [];
  let next = -Infinity;
  for (const [lo, hi] of sorted) {
    if (hi < next) continue;
    for (const u of part(Math.max(lo, next), hi)) out.push(u as Uid);
    next = hi + 1;
  }
  return out;
}
