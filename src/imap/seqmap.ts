/**
 * A selected session's sequence map (RFC 9051 §2.3.1.2): the UIDs the client knows, in
 * ascending order, index + 1 being the message sequence number. Four bytes per message
 * in one Uint32Array (UIDs are 32-bit, RFC 9051 §2.3.1.1) instead of a JS array of
 * numbers, so a session on a 100 000-message mailbox holds 400 KB, not a per-message
 * object graph (issue 16 item 2). Grows by doubling; removal shifts in place.
 */
import type { Uid } from '../store/types.js';

export class SeqMap {
  private a: Uint32Array;
  private n: number;

  constructor(uids: ArrayLike<number> = []) {
    this.n = uids.length;
    this.a = new Uint32Array(Math.max(16, this.n));
    this.a.set(uids);
  }

  get length(): number {
    return this.n;
  }

  /** The UID at sequence number `seq` (1-based), undefined outside 1..length. */
  at(seq: number): Uid | undefined {
    return seq >= 1 && seq <= this.n ? (this.a[seq - 1] as Uid) : undefined;
  }

  /** The largest UID, or 0 when empty. */
  get last(): number {
    return this.n > 0 ? this.a[this.n - 1]! : 0;
  }

  /** Index of the first UID >= uid (binary search). */
  lowerBound(uid: number): number {
    let lo = 0;
    let hi = this.n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.a[mid]! < uid) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** No gap in the UIDs (nothing expunged below the last: the usual mailbox), so a UID's place is its distance from the first. */
  private gapless(): boolean {
    const n = this.n;
    return n > 0 && this.a[n - 1]! - this.a[0]! + 1 === n;
  }

  /** Sequence number of a UID, 0 when absent. */
  seqOf(uid: number): number {
    if (this.gapless()) {
      const d = uid - this.a[0]!; // the distance from the first UID
      return d >= 0 && d < this.n ? d + 1 : 0;
    }
    const i = this.lowerBound(uid);
    return i < this.n && this.a[i] === uid ? i + 1 : 0;
  }

  /**
   * Sequence numbers of many UIDs at once, 0 for those not in the map. For ascending
   * UIDs (a search's answer) one walk over both lists: each UID is looked for from
   * where the last one was found, by galloping (steps 1, 2, 4, ... then a binary search
   * in the last step), so 25 000 UIDs of a 100 000-message map cost about one pass
   * instead of 25 000 binary searches from scratch, and a handful of UIDs a handful of
   * short searches. UIDs out of order are still answered (the walk restarts).
   */
  seqsOf(uids: ArrayLike<number>): Uint32Array {
    const out = new Uint32Array(uids.length);
    const a = this.a;
    const n = this.n;
    if (this.gapless()) {
      // The sequence number is the distance from the first UID, no search at all.
      const first = a[0]!;
      for (let k = 0; k < uids.length; k++) {
        const d = uids[k]! - first;
        out[k] = d >= 0 && d < n ? d + 1 : 0;
      }
      return out;
    }
    let at = 0; // every UID before index `at` is smaller than the last UID looked for
    let prev = -1;
    for (let k = 0; k < uids.length; k++) {
      const uid = uids[k]!;
      if (uid < prev) at = 0;
      prev = uid;
      // Gallop: find hi with a[hi] >= uid (or hi = n), lo the step before.
      let lo = at;
      let step = 1;
      let hi = at;
      while (hi < n && a[hi]! < uid) {
        lo = hi + 1;
        hi += step;
        step *= 2;
      }
      if (hi > n) hi = n;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (a[mid]! < uid) lo = mid + 1;
        else hi = mid;
      }
      at = lo;
      out[k] = lo < n && a[lo] === uid ? lo + 1 : 0;
    }
    return out;
  }

  /** Inserts a UID not yet present, keeping the order (appends when it is the largest). */
  insert(uid: number): void {
    if (this.n === this.a.length) {
      const bigger = new Uint32Array(this.a.length * 2);
      bigger.set(this.a.subarray(0, this.n));
      this.a = bigger;
    }
    const i = uid > this.last ? this.n : this.lowerBound(uid);
    if (i < this.n) this.a.copyWithin(i + 1, i, this.n);
    this.a[i] = uid;
    this.n++;
  }

  /** Removes the message at sequence number `seq`. */
  removeAt(seq: number): void {
    this.a.copyWithin(seq - 1, seq, this.n);
    this.n--;
  }

  /** UIDs of sequence numbers lo..hi (1-based, inclusive, within 1..length). */
  slice(lo: number, hi: number): Uint32Array {
    return this.a.subarray(lo - 1, hi);
  }

  /** UIDs in [lo, hi], ascending. */
  between(lo: number, hi: number): Uint32Array {
    return this.a.subarray(this.lowerBound(lo), this.lowerBound(hi + 1));
  }
}
