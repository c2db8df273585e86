/**
 * Connection state (RFC 9051 §3) as a discriminated union, and the selected-mailbox
 * view: the only place where sequence numbers exist (mox `uids []store.UID`, go-imap
 * SessionTracker). The store speaks UIDs only.
 *
 * Pending changes: changes published by the store (other sessions, SMTP delivery, our
 * own commands) are queued here and turned into untagged responses at the moments the
 * RFCs allow (dispatch.ts flush): EXISTS and FETCH (FLAGS) after any command, EXPUNGE
 * only after commands that do not use sequence numbers (RFC 9051 §7.5.1, §5.5), and
 * immediately while in IDLE.
 */
import type { AccountId, FlagChange, MailboxId, Uid } from '../store/types.js';
import type { SeqSet } from './wire/parser.js';

export type SeqNum = number & { readonly __brand: 'SeqNum' };

export type ConnState =
  | { name: 'notAuthenticated' }
  | { name: 'authenticated'; account: AccountId }
  | { name: 'selected'; account: AccountId; view: SelectedView }
  | { name: 'logout' };

export type ConnStateName = ConnState['name'];

export type PendingChange =
  | { kind: 'added'; uids: Uid[] }
  | { kind: 'expunged'; uids: Uid[] }
  | { kind: 'flags'; changes: FlagChange[] };

export class SelectedView {
  /** Ascending UIDs; index + 1 is the sequence number. */
  uids: Uid[];
  /**
   * Flag changes this session made itself (UID → modseq): their change events are not
   * echoed back as untagged FETCH (the client saw the result in the command's response).
   */
  readonly own = new Map<Uid, number>();
  readonly pending: PendingChange[] = [];
  /** Keywords seen in this mailbox (for the FLAGS response). */
  readonly keywords = new Set<string>();
  highestModseq: number;

  constructor(
    readonly mailboxId: MailboxId,
    public name: string,
    readonly readOnly: boolean,
    readonly uidValidity: number,
    public uidNext: number,
    uids: Uid[],
    highestModseq: number,
  ) {
    this.uids = uids;
    this.highestModseq = highestModseq;
  }

  get exists(): number {
    return this.uids.length;
  }

  /** Sequence number of a UID, or 0 when not in the view (binary search). */
  seqOf(uid: Uid): number {
    let lo = 0;
    let hi = this.uids.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = this.uids[mid]!;
      if (v === uid) return mid + 1;
      if (v < uid) lo = mid + 1;
      else hi = mid - 1;
    }
    return 0;
  }

  uidAt(seq: number): Uid | undefined {
    return this.uids[seq - 1];
  }

  /** Resolves a message sequence set to UIDs in ascending order (RFC 9051 §9 seq-number, "*" = last). */
  uidsForSeqSet(set: SeqSet): Uid[] {
    const n = this.uids.length;
    const ranges = set
      .map(([a0, b0]) => {
        const a = a0 === Infinity ? n : a0;
        const b = b0 === Infinity ? n : b0;
        return [Math.min(a, b), Math.min(Math.max(a, b), n)] as [number, number];
      })
      .filter(([lo, hi]) => lo <= hi)
      .sort((x, y) => x[0] - y[0]);
    const out: Uid[] = [];
    let next = 1;
    for (const [lo, hi] of ranges) {
      for (let i = Math.max(lo, next); i <= hi; i++) out.push(this.uids[i - 1]!);
      next = Math.max(next, hi + 1);
    }
    return out;
  }

  /** Resolves a UID set to the UIDs present in the view; "*" is the largest UID (RFC 9051 §6.4.9). */
  uidsForUidSet(set: SeqSet): Uid[] {
    const max = this.uids.length ? this.uids[this.uids.length - 1]! : 0;
    const out: Uid[] = [];
    const ranges = set.map(([a, b]) => {
      const x = a === Infinity ? max : a;
      const y = b === Infinity ? max : b;
      return [Math.min(x, y), Math.max(x, y)] as const;
    });
    // Walk the view once for large views; ranges are few.
    for (const u of this.uids) {
      for (const [lo, hi] of ranges) {
        if (u >= lo && u <= hi) {
          out.push(u);
          break;
        }
      }
    }
    return out;
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
      this.uids.splice(seq - 1, 1);
      this.own.delete(uid);
    }
    return seq;
  }

  addUids(uids: Uid[]): number {
    let added = 0;
    for (const u of [...uids].sort((a, b) => a - b)) {
      const last = this.uids[this.uids.length - 1];
      if (last === undefined || u > last) {
        this.uids.push(u);
        added++;
      } else if (this.seqOf(u) === 0) {
        // Out of order (should not happen: UIDs grow); keep sorted.
        const i = this.uids.findIndex((x) => x > u);
        this.uids.splice(i, 0, u);
        added++;
      }
      if (u >= this.uidNext) this.uidNext = u + 1;
    }
    return added;
  }

  /** Records a flag change this session made (and any new keywords). */
  noteOwnChange(uid: Uid, modseq: number, flags: readonly string[]): void {
    this.own.set(uid, modseq);
    this.noteKeywords(flags);
  }

  noteKeywords(flags: readonly string[]): void {
    for (const f of flags) if (f.charCodeAt(0) !== 92 /* \ */) this.keywords.add(f);
  }
}
