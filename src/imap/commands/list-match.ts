/**
 * LIST/LSUB pattern matching (RFC 9051 §6.3.9, RFC 3501 §6.3.8): "*" matches zero or
 * more characters, "%" zero or more characters other than the hierarchy delimiter "/".
 *
 * A two-index glob walk (the shells' fnmatch idea), never a regular expression: the
 * walk remembers the last "*" and the last "%" after it; on a mismatch it lets the "%"
 * take one more character (unless that character is "/"), else the "*", and retries
 * from there. No other choice needs revisiting: what an earlier wildcard could take, a
 * later "*" can take too, and a "%" never crosses a "/" that the pattern must meet.
 * The cost is at most (name length + 1) × (pattern length + 1) steps, and runs of
 * wildcards are collapsed first ("%%%" → "%", "**" / "%*" / "*%" → "*"), so
 * `LIST "" "<70 stars>Z"` costs what `LIST "" "*Z"` costs. Each LIST also carries a
 * step budget (ListBudget) so that no pattern can hold the event loop (DESIGN.md "One
 * event loop serves everyone").
 */

/** A pattern ready to match: wildcards collapsed, INBOX's case folded. */
export interface ListPattern {
  readonly text: string;
}

/** Collapses runs of wildcards; a run with any "*" becomes "*", else "%". */
export function compilePattern(pattern: string): ListPattern {
  let out = '';
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c !== '*' && c !== '%') {
      out += c;
      i++;
      continue;
    }
    let star = false;
    for (; i < pattern.length && (pattern[i] === '*' || pattern[i] === '%'); i++) if (pattern[i] === '*') star = true;
    out += star ? '*' : '%';
  }
  return { text: inboxFolded(out) };
}

/**
 * INBOX is case-insensitive (RFC 9051 §5.1, §6.3.9): a leading "inbox", or a leading
 * run of letters that could begin it ("in%", "Inb*"), is compared in upper case.
 */
function inboxFolded(p: string): string {
  let i = 0;
  while (i < 5 && i < p.length && p[i]!.toUpperCase() === 'INBOX'[i]) i++;
  if (i === 0) return p;
  const rest = p.slice(i);
  // Only when what follows cannot make it another name: end, "/", or a wildcard.
  if (i === 5 ? rest === '' || rest[0] === '/' || rest[0] === '*' || rest[0] === '%' : rest === '' || rest[0] === '*' || rest[0] === '%') {
    return 'INBOX'.slice(0, i) + rest;
  }
  return p;
}

/** Counts matching work across the names of one LIST command. */
export class ListBudget {
  used = 0;
  constructor(readonly limit: number) {}
  get exhausted(): boolean {
    return this.used > this.limit;
  }
}

/**
 * Whether `name` matches. Returns false once the budget is spent (the caller checks
 * `budget.exhausted` and refuses the command).
 */
export function matchPattern(pat: ListPattern, name: string, budget: ListBudget): boolean {
  const p = pat.text;
  let pi = 0;
  let ni = 0;
  let starP = -1;
  let starN = 0;
  let pctP = -1;
  let pctN = 0;
  let steps = 0;
  while (ni < name.length) {
    if (++steps > 4096) {
      budget.used += steps;
      steps = 0;
      if (budget.exhausted) return false;
    }
    const pc = p[pi];
    if (pc === '*') {
      starP = pi++;
      starN = ni;
      pctP = -1; // a later "%" is tried before this "*"
      continue;
    }
    if (pc === '%') {
      pctP = pi++;
      pctN = ni;
      continue;
    }
    if (pc !== undefined && pc === name[ni]) {
      pi++;
      ni++;
      continue;
    }
    // Mismatch (or pattern ended early): widen the latest wildcard by one character.
    if (pctP >= 0 && name[pctN] !== '/') {
      pi = pctP + 1;
      ni = ++pctN;
      continue;
    }
    if (starP >= 0) {
      pctP = -1;
      pi = starP + 1;
      ni = ++starN;
      continue;
    }
    budget.used += steps;
    return false;
  }
  budget.used += steps;
  // The name is used up: only wildcards may remain.
  while (pi < p.length && (p[pi] === '*' || p[pi] === '%')) pi++;
  return pi === p.length;
}
