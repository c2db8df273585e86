/**
 * The distinct tokens of a message, by their hash (./db.ts tokenHash, cyrb53, 53 bits:
 * what the word tables are keyed by), without a string per token.
 *
 * Most tokens are body words, a slice of the decoded text: the tokeniser hashes the word's
 * code units where they are (lower-cased on the way) and adds the hash with where the
 * word lies (text, start, end, prefix). Its string is made only when asked for (the
 * clues that explain a verdict, ties between clues, tests): port 25 scores a message
 * from the hashes alone. Other tokens (header features, URLs, words that lower-case to
 * another length) are added as strings and hashed.
 *
 * Distinct by hash: two strings of one hash (~1 in 10¹² per message pair, see db.ts)
 * count once, as the word table, which stores only the hash, counts them anyway.
 */

const K1 = 2654435761;
const K2 = 1597334677;
/** cyrb53's seeds (db.ts tokenHash). */
export const SEED1 = 0xdeadbeef;
export const SEED2 = 0x41c6ce57;

/** cyrb53's state after the code units of `s`, from (h1, h2): [h1, h2]. */
export function hashState(s: string, h1 = SEED1, h2 = SEED2): [number, number] {
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, K1);
    h2 = Math.imul(h2 ^ ch, K2);
  }
  return [h1, h2];
}

/** cyrb53's final mix of a state: the 53-bit hash. */
export function hashFinal(h1: number, h2: number): number {
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/** A prefix of words ('' for the body, 'subject:' …) and cyrb53's state after it. */
export interface Prefix {
  text: string;
  h1: number;
  h2: number;
}

export function prefixOf(text: string): Prefix {
  const [h1, h2] = hashState(text);
  return { text, h1, h2 };
}

/**
 * The table that finds a hash's token while a set is being filled (open addressing,
 * linear probing): shared by all sets, a slot in use when its stamp is the generation of
 * the set that last claimed it (so it is never cleared). Typed arrays per message would
 * be allocated outside the heap and freed by the GC, for each of the messages port 25 scores.
 */
const scratch = { stamp: new Uint32Array(1 << 14), index: new Int32Array(1 << 14), generation: 1 };

/** A–Z lower-cased, other code units kept (what addSpan hashes). */
function lowerAscii(s: string): string {
  return s.replace(/[A-Z]+/g, (x) => x.toLowerCase());
}

function claim(slots: number): number {
  if (slots > scratch.stamp.length) {
    scratch.stamp = new Uint32Array(slots);
    scratch.index = new Int32Array(slots);
  }
  if (++scratch.generation > 0xfffffff0) {
    scratch.stamp.fill(0);
    scratch.generation = 1;
  }
  return scratch.generation;
}

/** A span's text and prefix indexes and its start, packed into two SMIs (text · 2⁸ + prefix, start · 2⁴ + length). */
const PREFIXES = 256;
const SPAN_LEN = 16;
const SPAN_START = 1 << 26;

export class TokenSet {
  private count = 0;
  private readonly hashList: number[] = [];
  /**
   * Two numbers per token. A token added as a string: −1 − its index in `strs`, 0. One added
   * as a span: text index · 2⁸ + prefix index, start · 2⁴ + length (a word of at most 15
   * code units, a text under 2²⁶). Two numbers rather than five per token: the arrays of a
   * message's ~200 tokens, grown as they fill, were a fifth of what scoring allocated.
   */
  private readonly refs: number[] = [];
  /** The strings of tokens added as strings. */
  private readonly strs: string[] = [];
  /** Strings made for span tokens (token(), tests; clue names), by token index. */
  private made?: Map<number, string>;
  private readonly texts: string[] = [];
  private readonly prefixes: string[] = [];
  /** This set's generation of the shared table (0: none yet), and its size there − 1. */
  private generation = 0;
  private mask = 511;

  constructor(readonly max = Infinity) {}

  /** A set of the given token strings. */
  static of(tokens: Iterable<string>): TokenSet {
    const t = new TokenSet();
    for (const s of tokens) t.add(s);
    return t;
  }

  get size(): number {
    return this.count;
  }

  get full(): boolean {
    return this.count >= this.max;
  }

  /** The hashes, token i's at i. */
  hashes(): readonly number[] {
    return this.hashList;
  }

  hash(i: number): number {
    return this.hashList[i]!;
  }

  /** Token i's string. */
  token(i: number): string {
    let s = this.stringOf(i);
    if (s === undefined) {
      const r = this.refs[i * 2]!;
      const at = this.refs[i * 2 + 1]!;
      const start = at >>> 4;
      const w = this.texts[r >>> 8]!.slice(start, start + (at & (SPAN_LEN - 1)));
      s = this.prefixes[r & (PREFIXES - 1)]! + w.toLowerCase();
      (this.made ??= new Map()).set(i, s);
    }
    return s;
  }

  /** Token i's string if it has one (added as a string, or made since). */
  private stringOf(i: number): string | undefined {
    const r = this.refs[i * 2]!;
    return r < 0 ? this.strs[-1 - r] : this.made?.get(i);
  }

  /**
   * Token i's string against token j's (−1, 0, 1: as `<` orders strings, by UTF-16 code
   * units), without making either string.
   */
  compare(i: number, j: number): number {
    const a = this.stringOf(i);
    const b = this.stringOf(j);
    if (a !== undefined && b !== undefined) return a < b ? -1 : a > b ? 1 : 0;
    const n = this.length(i);
    const m = this.length(j);
    for (let k = 0; k < n && k < m; k++) {
      const x = this.unit(i, k);
      const y = this.unit(j, k);
      if (x !== y) return x < y ? -1 : 1;
    }
    return n < m ? -1 : n > m ? 1 : 0;
  }

  /** The length of token i's string. */
  private length(i: number): number {
    const r = this.refs[i * 2]!;
    if (r < 0) return this.strs[-1 - r]!.length;
    return this.prefixes[r & (PREFIXES - 1)]!.length + (this.refs[i * 2 + 1]! & (SPAN_LEN - 1));
  }

  /** Code unit k of token i's string. */
  private unit(i: number, k: number): number {
    const r = this.refs[i * 2]!;
    if (r < 0) return this.strs[-1 - r]!.charCodeAt(k);
    const prefix = this.prefixes[r & (PREFIXES - 1)]!;
    if (k < prefix.length) return prefix.charCodeAt(k);
    const c = this.texts[r >>> 8]!.charCodeAt((this.refs[i * 2 + 1]! >>> 4) + k - prefix.length);
    return c >= 65 && c <= 90 ? c + 32 : c;
  }

  add(s: string): void {
    if (this.count >= this.max) return;
    const [h1, h2] = hashState(s);
    if (this.insert(hashFinal(h1, h2))) {
      this.ref(-1 - this.strs.length, 0);
      this.strs.push(s);
    }
  }

  /**
   * Adds the word text[a, b) (ASCII) with a prefix, lower-cased (A–Z: what toLowerCase
   * does to ASCII), hashed from the prefix's state without making its string.
   */
  addSpan(text: string, a: number, b: number, prefix: Prefix): void {
    if (this.count >= this.max) return;
    let h1 = prefix.h1;
    let h2 = prefix.h2;
    for (let k = a; k < b; k++) {
      let ch = text.charCodeAt(k);
      if (ch >= 65 && ch <= 90) ch += 32;
      h1 = Math.imul(h1 ^ ch, K1);
      h2 = Math.imul(h2 ^ ch, K2);
    }
    if (!this.insert(hashFinal(h1, h2))) return;
    // The texts and prefixes of one message are few: the last one is usually it.
    let ti = this.texts.length - 1;
    if (this.texts[ti] !== text) ti = this.texts.push(text) - 1;
    let pi = this.prefixes.lastIndexOf(prefix.text);
    if (pi < 0) pi = this.prefixes.push(prefix.text) - 1;
    if (pi < PREFIXES && b - a < SPAN_LEN && a < SPAN_START && ti < 1 << 22) this.ref(ti * PREFIXES + pi, a * SPAN_LEN + (b - a));
    else {
      // Beyond what two SMIs hold (never from tokenize(): words of 3–12 units): its string.
      this.ref(-1 - this.strs.length, 0);
      this.strs.push(prefix.text + lowerAscii(text.slice(a, b)));
    }
  }

  /** Appends a token's two numbers (one push each: V8 inlines a push of one value, and calls a builtin for two). */
  private ref(x: number, y: number): void {
    this.refs.push(x);
    this.refs.push(y);
  }

  has(s: string): boolean {
    const [h1, h2] = hashState(s);
    const i = this.hashList.indexOf(hashFinal(h1, h2));
    return i >= 0 && this.token(i) === s;
  }

  *[Symbol.iterator](): IterableIterator<string> {
    for (let i = 0; i < this.count; i++) yield this.token(i);
  }

  /** Adds a hash (the caller then adds its string or span); false if present. */
  private insert(h: number): boolean {
    // Another set claimed the shared table since, or this one outgrew its share: put this set's hashes in again.
    if (this.generation !== scratch.generation || this.count * 2 >= this.mask + 1) this.rehash();
    const { stamp, index } = scratch;
    const gen = this.generation;
    const mask = this.mask;
    let k = h & mask;
    for (; stamp[k] === gen; k = (k + 1) & mask) if (this.hashList[index[k]!] === h) return false;
    stamp[k] = gen;
    index[k] = this.count++;
    this.hashList.push(h);
    return true;
  }

  private rehash(): void {
    while (this.count * 2 >= this.mask + 1) this.mask = this.mask * 2 + 1;
    const gen = (this.generation = claim(this.mask + 1));
    const { stamp, index } = scratch;
    for (let i = 0; i < this.count; i++) {
      let k = this.hashList[i]! & this.mask;
      while (stamp[k] === gen) k = (k + 1) & this.mask;
      stamp[k] = gen;
      index[k] = i;
    }
  }
}
