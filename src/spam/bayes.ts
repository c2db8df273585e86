/**
 * The classifier's arithmetic: Gary Robinson's token probabilities combined with
 * Fisher's chi-squared method, as SpamBayes does it (classifier.py, chi2_spamprob).
 *
 * For a token seen in `ham` of `nham` trained ham and `spam` of `nspam` trained spam:
 *   p(w) = (spam/nspam) / (ham/nham + spam/nspam)              the class-balanced ratio
 *   f(w) = (s·x + n·p(w)) / (s + n),  n = ham + spam          Robinson's smoothing
 * with x = 0.5 (the probability of a token never seen) and s = 0.45 (its weight). Only
 * the `maxClues` tokens farthest from 0.5, and at least `minStrength` away from it, are
 * used. Then, for those n clues,
 *   S = 1 − C⁻¹(−2 Σ ln(1 − f), 2n)    H = 1 − C⁻¹(−2 Σ ln f, 2n)    score = (1 + S − H) / 2
 * where C⁻¹ is the inverse chi-squared distribution (chi2Q). Near 0 is ham, near 1 spam,
 * and around 0.5 the classifier is unsure (both or neither hypotheses fit).
 */

export interface Counts {
  ham: number;
  spam: number;
}

export interface Totals {
  /** Messages trained as ham. */
  nham: number;
  /** Messages trained as spam. */
  nspam: number;
}

export interface Clue {
  token: string;
  /** Robinson's f(w). */
  p: number;
  ham: number;
  spam: number;
}

export interface Classification {
  /** 0 (ham) … 1 (spam); 0.5 with no clues. */
  score: number;
  /** The clues used, strongest first. */
  clues: Clue[];
}

export const PARAMS = {
  unknownProb: 0.5,
  strength: 0.45,
  minStrength: 0.1,
  maxClues: 150,
};

/** Robinson's f(w) of one token. */
export function tokenProb(c: Counts, t: Totals): number {
  const hamRatio = t.nham > 0 ? Math.min(1, c.ham / t.nham) : 0;
  const spamRatio = t.nspam > 0 ? Math.min(1, c.spam / t.nspam) : 0;
  const n = c.ham + c.spam;
  const p = hamRatio + spamRatio > 0 ? spamRatio / (hamRatio + spamRatio) : PARAMS.unknownProb;
  return (PARAMS.strength * PARAMS.unknownProb + n * p) / (PARAMS.strength + n);
}

/** Scores a message from the counts of its tokens (tokens never seen may be left out). */
export function classify(tokens: Iterable<[string, Counts]>, totals: Totals, maxClues = PARAMS.maxClues): Classification {
  const list = [...tokens];
  return classifyCounts(
    { size: list.length, token: (i) => list[i]![0], compare: (i, j) => compare(list[i]![0], list[j]![0]) },
    Float64Array.from(list, ([, c]) => c.ham),
    Float64Array.from(list, ([, c]) => c.spam),
    totals,
    maxClues,
  );
}

/** Tokens by index; a token's string is asked for only to name the clues (and compared to break ties). */
export interface TokenList {
  readonly size: number;
  token(i: number): string;
  /** Token i's string against token j's, as `<` orders them. */
  compare(i: number, j: number): number;
}

/**
 * The scoring on parallel arrays (token i seen in ham[i] ham and spam[i] spam), without a
 * [token, Counts] pair per token (port 25's path); classify() is this on pairs.
 */
export function classifyCounts(tokens: TokenList, ham: ArrayLike<number>, spam: ArrayLike<number>, totals: Totals, maxClues = PARAMS.maxClues): Classification {
  // The clues' indices, strongest first, ties broken by the token so a score never depends
  // on the order tokens were seen in: kept sorted as they come (binary insertion, at most
  // maxClues), |f(w) − 0.5| computed once per token.
  const order: number[] = [];
  const { prob, dist } = scratchFor(tokens.size);
  const c: Counts = { ham: 0, spam: 0 };
  // Whether token i goes before token j.
  const before = (i: number, j: number) => dist[i]! > dist[j]! || (dist[i] === dist[j] && tokens.compare(i, j) < 0);
  for (let i = 0; i < tokens.size; i++) {
    c.ham = ham[i]!;
    c.spam = spam[i]!;
    if (c.ham + c.spam === 0) continue;
    const p = tokenProb(c, totals);
    const d = Math.abs(p - 0.5);
    if (d < PARAMS.minStrength) continue;
    prob[i] = p;
    dist[i] = d;
    const n = order.length;
    if (n === maxClues && !before(i, order[n - 1]!)) continue;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (before(i, order[mid]!)) hi = mid;
      else lo = mid + 1;
    }
    // In at lo, the last one out when full (splice would allocate an array per call).
    if (n < maxClues) order.push(i);
    for (let k = Math.min(n, maxClues - 1); k > lo; k--) order[k] = order[k - 1]!;
    order[lo] = i;
  }
  const clues: Clue[] = new Array<Clue>(order.length);
  const ps: number[] = new Array<number>(order.length);
  for (let k = 0; k < order.length; k++) {
    const i = order[k]!;
    clues[k] = new LazyClue(tokens, i, prob[i]!, ham[i]!, spam[i]!);
    ps[k] = prob[i]!;
  }
  return { score: combine(ps), clues };
}

/**
 * classifyCounts' per-token probabilities and distances from 0.5, reused from message to
 * message (only the entries of this call's clues are read): two arrays of ~200 numbers
 * per scored message were a tenth of what port 25's scoring allocated.
 */
let scratch = { prob: new Float64Array(1024), dist: new Float64Array(1024) };

function scratchFor(n: number): { prob: Float64Array; dist: Float64Array } {
  if (scratch.prob.length < n) {
    const size = Math.max(n, scratch.prob.length * 2);
    scratch = { prob: new Float64Array(size), dist: new Float64Array(size) };
  }
  return scratch;
}

/** A clue whose token's string is made when asked for (a verdict names a few of its 150). */
class LazyClue implements Clue {
  constructor(
    private readonly tokens: TokenList,
    private readonly index: number,
    readonly p: number,
    readonly ham: number,
    readonly spam: number,
  ) {}

  get token(): string {
    return this.tokens.token(this.index);
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Fisher/Robinson chi-squared combining of token probabilities. */
export function combine(ps: number[]): number {
  const n = ps.length;
  if (n === 0) return 0.5;
  let lnH = 0;
  let lnS = 0;
  for (const p of ps) {
    lnH += Math.log(p);
    lnS += Math.log(1 - p);
  }
  const S = 1 - chi2Q(-2 * lnS, 2 * n);
  const H = 1 - chi2Q(-2 * lnH, 2 * n);
  return (S - H + 1) / 2;
}

/** P(chisq ≥ x2) with v (even) degrees of freedom. */
export function chi2Q(x2: number, v: number): number {
  const m = x2 / 2;
  let term = Math.exp(-m);
  let sum = term;
  for (let i = 1; i < v / 2; i++) {
    term *= m / i;
    sum += term;
  }
  return Math.min(sum, 1);
}
