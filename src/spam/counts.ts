/**
 * Token counts in memory, by token hash (./db.ts tokenHash, 53 bits): an open-addressing
 * hash table (linear probing) in one Uint32Array, four words a slot: the hash's low 32
 * bits, its high 21 bits plus one (0: an empty slot), the ham count, the spam count.
 *
 * Why not a Map<number, Counts>: a hash over 2³¹ is a heap number, so each entry of such
 * a Map is a key object and a counts object besides its slot; at the ~75 000 tokens of an
 * account trained on 3 000 messages a lookup missed the CPU caches three or four times
 * (bench/spam: 0.08 ms of a message's ~200 lookups), and every major GC marked the 150 000
 * objects again. Here a lookup touches one slot (16 bytes), there is nothing for the GC to
 * mark, and an entry costs 16–45 bytes instead of ~130.
 */

const EMPTY = 0;
/** Grown (doubled) beyond this share of slots used. */
const MAX_LOAD = 0.7;
const MIN_SLOTS = 1024;

export class CountTable {
  private slots: Uint32Array;
  private mask: number;
  private used = 0;
  /** Where evict() continues. */
  private hand = 0;

  constructor(expected = 0) {
    const n = slotsFor(expected);
    this.slots = new Uint32Array(n * 4);
    this.mask = n - 1;
  }

  get size(): number {
    return this.used;
  }

  /** The slot of a hash, or −1 when absent. */
  find(hash: number): number {
    const lo = hash >>> 0;
    const hi = Math.floor(hash / 4294967296) + 1;
    const s = this.slots;
    for (let i = lo & this.mask; ; i = (i + 1) & this.mask) {
      const k = s[i * 4 + 1]!;
      if (k === EMPTY) return -1;
      if (k === hi && s[i * 4] === lo) return i;
    }
  }

  ham(slot: number): number {
    return this.slots[slot * 4 + 2]!;
  }

  spam(slot: number): number {
    return this.slots[slot * 4 + 3]!;
  }

  /** Sets a hash's counts (adding it when absent). */
  set(hash: number, ham: number, spam: number): void {
    if (this.used + 1 > (this.mask + 1) * MAX_LOAD) this.grow();
    const lo = hash >>> 0;
    const hi = Math.floor(hash / 4294967296) + 1;
    const s = this.slots;
    let i = lo & this.mask;
    for (; ; i = (i + 1) & this.mask) {
      const k = s[i * 4 + 1]!;
      if (k === EMPTY) {
        s[i * 4] = lo;
        s[i * 4 + 1] = hi;
        this.used++;
        break;
      }
      if (k === hi && s[i * 4] === lo) break;
    }
    s[i * 4 + 2] = ham;
    s[i * 4 + 3] = spam;
  }

  delete(hash: number): void {
    const i = this.find(hash);
    if (i >= 0) this.deleteAt(i);
  }

  /** Removes `n` entries (or all there are), in slot order from where the last call stopped: random with respect to age. */
  evict(n: number): void {
    let left = Math.min(n, this.used);
    while (left > 0) {
      const i = this.hand & this.mask;
      // Deleting shifts a later entry of the run into this slot: look at it again.
      if (this.slots[i * 4 + 1] !== EMPTY) {
        this.deleteAt(i);
        left--;
      } else this.hand = i + 1;
    }
  }

  clear(): void {
    this.slots = new Uint32Array((this.mask + 1) * 4);
    this.used = 0;
    this.hand = 0;
  }

  /** Empties slot i, moving later entries of its probe run back so every entry stays reachable (Knuth's algorithm R). */
  private deleteAt(i: number): void {
    const s = this.slots;
    const mask = this.mask;
    let hole = i;
    for (let j = (i + 1) & mask; s[j * 4 + 1] !== EMPTY; j = (j + 1) & mask) {
      const home = s[j * 4]! & mask;
      // The entry at j may move to the hole only if its home is not cyclically in (hole, j].
      const between = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (between) continue;
      s.copyWithin(hole * 4, j * 4, j * 4 + 4);
      hole = j;
    }
    s.fill(0, hole * 4, hole * 4 + 4);
    this.used--;
  }

  private grow(): void {
    const old = this.slots;
    const n = (this.mask + 1) * 2;
    this.slots = new Uint32Array(n * 4);
    this.mask = n - 1;
    this.used = 0;
    this.hand = 0;
    for (let i = 0; i < old.length; i += 4) {
      if (old[i + 1] === EMPTY) continue;
      this.set((old[i + 1]! - 1) * 4294967296 + old[i]!, old[i + 2]!, old[i + 3]!);
    }
  }
}

function slotsFor(entries: number): number {
  let n = MIN_SLOTS;
  while (n * MAX_LOAD < entries) n *= 2;
  return n;
}
