/**
 * Comparators (RFC 4790: i;octet, i;ascii-casemap, i;ascii-numeric) and match types
 * (RFC 5228 §2.7.1 :is :contains :matches; RFC 5231 :count :value) with the match
 * variables of RFC 5229 §3.2.
 *
 * Implementation notes:
 * - `:matches` is a two-index glob walk that remembers the last `*` (as shells'
 *   fnmatch): O(n·m) at worst, never exponential, no regular expression built from a
 *   script's pattern. Earlier wildcards match as little as possible and the last `*`
 *   whatever is left, which gives RFC 5229's example captures ("[*] *" on
 *   "[acme-users] [fwd] …" → "acme-users", "[fwd] …").
 * - Every match charges its work (characters visited) to a budget, so a script that
 *   matches long headers against many patterns ends with a runtime error instead of
 *   holding the event loop (DESIGN.md: bound the work).
 * - `?` matches one Unicode character (a code point), as RFC 5228 says "one character".
 */
import { SieveRuntimeError } from './errors.js';

export type ComparatorName = 'i;octet' | 'i;ascii-casemap' | 'i;ascii-numeric';
export type MatchType = 'is' | 'contains' | 'matches' | 'count' | 'value';
export type RelOp = 'gt' | 'ge' | 'lt' | 'le' | 'eq' | 'ne';

export const COMPARATORS: readonly ComparatorName[] = ['i;octet', 'i;ascii-casemap', 'i;ascii-numeric'];
export const REL_OPS: readonly RelOp[] = ['gt', 'ge', 'lt', 'le', 'eq', 'ne'];

/**
 * Work left to a script run, in characters visited; exhausting it is a runtime error.
 * `check` (the run's CPU-time limit) is called every CHECK_EVERY units of work.
 */
export class Budget {
  private nextCheck: number;
  constructor(
    public left: number,
    private readonly check?: () => void,
  ) {
    this.nextCheck = left - CHECK_EVERY;
  }
  charge(n: number): void {
    this.left -= n;
    if (this.left < 0) throw new SieveRuntimeError('script exceeded its CPU limit');
    if (this.left < this.nextCheck) {
      this.nextCheck = this.left - CHECK_EVERY;
      this.check?.();
    }
  }
}

const CHECK_EVERY = 100_000;

export interface MatchSpec {
  comparator: ComparatorName;
  type: MatchType;
  relop?: RelOp;
}

/** ASCII-only lower-casing (i;ascii-casemap folds a-z only). */
export function asciiLower(s: string): string {
  return /[A-Z]/.test(s) ? s.replace(/[A-Z]+/g, (m) => m.toLowerCase()) : s;
}

function fold(cmp: ComparatorName, s: string): string {
  return cmp === 'i;ascii-casemap' ? asciiLower(s) : s;
}

/** Folding costs a pass over the string too. */
function folded(cmp: ComparatorName, s: string, budget: Budget): string {
  if (cmp !== 'i;ascii-casemap') return s;
  budget.charge(s.length);
  return asciiLower(s);
}

/** RFC 4790 §9.1.1: the leading digits as a number; none → positive infinity. */
function numericValue(s: string): number {
  const m = /^\d+/.exec(s);
  if (!m) return Infinity;
  const digits = m[0].replace(/^0+(?=\d)/, '');
  // Long digit strings compare by length then lexically; beyond 15 digits a double
  // would round, which only matters for absurd inputs: cap them.
  return digits.length > 15 ? Number.MAX_SAFE_INTEGER : Number(digits);
}

/** Equality under a comparator (the :is match). */
export function equal(cmp: ComparatorName, a: string, b: string): boolean {
  if (cmp === 'i;ascii-numeric') return numericValue(a) === numericValue(b);
  return fold(cmp, a) === fold(cmp, b);
}

/** Ordering of two values under a comparator: <0, 0, >0. */
export function compare(cmp: ComparatorName, a: string, b: string): number {
  if (cmp === 'i;ascii-numeric') {
    const x = numericValue(a);
    const y = numericValue(b);
    return x === y ? 0 : x < y ? -1 : 1;
  }
  const x = fold(cmp, a);
  const y = fold(cmp, b);
  if (x === y) return 0;
  // Code point order is UTF-8 byte order (RFC 3629 §1); UTF-16 order differs from it only
  // where surrogates meet U+E000…U+FFFF.
  if (!/[\ud800-\udfff]/.test(x) && !/[\ud800-\udfff]/.test(y)) return x < y ? -1 : 1;
  return Buffer.compare(Buffer.from(x, 'utf8'), Buffer.from(y, 'utf8'));
}

function relation(op: RelOp, c: number): boolean {
  switch (op) {
    case 'gt':
      return c > 0;
    case 'ge':
      return c >= 0;
    case 'lt':
      return c < 0;
    case 'le':
      return c <= 0;
    case 'eq':
      return c === 0;
    case 'ne':
      return c !== 0;
  }
}

type PatTok = string | 0 | 1; // a literal character, 0 = "*", 1 = "?"

const patternCache = new Map<string, PatTok[]>();

/** RFC 5228 §2.7.1: "*" and "?" are wildcards, "\" escapes the next character. */
function compilePattern(key: string): PatTok[] {
  let p = patternCache.get(key);
  if (p) return p;
  p = [];
  const chars = Array.from(key);
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === '\\' && i + 1 < chars.length) p.push(chars[++i]!);
    else if (c === '*') p.push(0);
    else if (c === '?') p.push(1);
    else p.push(c);
  }
  if (patternCache.size > 2000) patternCache.clear();
  patternCache.set(key, p);
  return p;
}

/**
 * Glob match of `value` against `key` (already case-folded as the comparator wants);
 * `orig` is the unfolded value the captures are cut from. Returns the captures (whole
 * match first) or undefined.
 */
export function globMatch(orig: string, value: string, key: string, budget: Budget): string[] | undefined {
  const pat = compilePattern(key);
  const s = /[\ud800-\udfff]/.test(value) ? Array.from(value) : value;
  const o = typeof s === 'string' ? orig : Array.from(orig);
  const n = s.length;
  const m = pat.length;
  // Wildcard k's capture: [start, end) in s; wildcards are numbered in pattern order.
  const wildIndex: number[] = [];
  for (let k = 0, w = 0; k < m; k++) if (pat[k] === 0 || pat[k] === 1) wildIndex[k] = w++;
  const capStart: number[] = [];
  const capEnd: number[] = [];
  let p = 0;
  let i = 0;
  let starP = -1;
  let starI = -1;
  let steps = 0;
  while (i < n) {
    steps++;
    const t = pat[p];
    if (p < m && (t === 1 || (typeof t === 'string' && t === s[i]))) {
      if (t === 1) {
        capStart[wildIndex[p]!] = i;
        capEnd[wildIndex[p]!] = i + 1;
      }
      p++;
      i++;
    } else if (p < m && t === 0) {
      starP = p;
      starI = i;
      capStart[wildIndex[p]!] = i;
      capEnd[wildIndex[p]!] = i;
      p++;
    } else if (starP >= 0) {
      starI++;
      capEnd[wildIndex[starP]!] = starI;
      p = starP + 1;
      i = starI;
    } else {
      budget.charge(steps);
      return undefined;
    }
  }
  while (p < m && pat[p] === 0) {
    capStart[wildIndex[p]!] = n;
    capEnd[wildIndex[p]!] = n;
    p++;
  }
  budget.charge(steps + m);
  if (p !== m) return undefined;
  const slice = (a: number, b: number) => (typeof o === 'string' ? o.slice(a, b) : o.slice(a, b).join(''));
  const caps = [orig];
  for (let w = 0; w < capStart.length; w++) caps.push(slice(capStart[w]!, capEnd[w]!));
  return caps;
}

/** Whether `value` matches `key` (is/contains/matches/value); captures for :matches. */
export function matchOne(spec: MatchSpec, value: string, key: string, budget: Budget): { ok: boolean; captures?: string[] } {
  const cmp = spec.comparator;
  switch (spec.type) {
    case 'is':
      budget.charge(value.length + key.length + 1);
      return { ok: equal(cmp, value, key) };
    case 'contains': {
      budget.charge(value.length + key.length + 1);
      return { ok: folded(cmp, value, budget).includes(fold(cmp, key)) };
    }
    case 'matches': {
      const caps = globMatch(value, folded(cmp, value, budget), fold(cmp, key), budget);
      return caps ? { ok: true, captures: caps } : { ok: false };
    }
    case 'value':
      budget.charge(value.length + key.length + 1);
      return { ok: relation(spec.relop!, compare(cmp, value, key)) };
    case 'count':
      throw new Error('count is matched over the whole value list');
  }
}

/**
 * The match of a test: any value against any key (RFC 5228 §2.7.1). `:count` compares
 * the number of values with each key (RFC 5231 §4.2). Returns the captures of the first
 * successful :matches pair (RFC 5229 §3.2) in `captures`.
 */
export function matchAny(spec: MatchSpec, values: string[], keys: string[], budget: Budget): { ok: boolean; captures?: string[] } {
  if (spec.type === 'count') {
    const n = String(values.length);
    for (const k of keys) {
      budget.charge(k.length + 1);
      if (relation(spec.relop!, compare(spec.comparator, n, k))) return { ok: true };
    }
    return { ok: false };
  }
  for (const v of values) {
    for (const k of keys) {
      const r = matchOne(spec, v, k, budget);
      if (r.ok) return r;
    }
  }
  return { ok: false };
}
