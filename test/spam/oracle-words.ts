// The tokeniser's word splitting as it was before tokens were hashed where they lie
// (src/spam/tokenize.ts words() up to commit eee3c4b): every word made into a lower-case
// string and added as one. Kept here, not in src, as the oracle the hashing words() is
// checked against (tokens.test.ts): same strings, in the same order.
import { BIGRAM_SCRIPT, isBigramScript, isSplit, mixed, word } from '../../src/spam/tokenize.js';

const LEAD = new Set([...'"\'(<[{*`|~'].map((c) => c.charCodeAt(0)));
const TRAIL = new Set([...'"\')>]}.,;:*`|~'].map((c) => c.charCodeAt(0)));

/** Words of a text with a prefix, as strings, in the order first seen. */
export function oracleWords(text: string, prefix: string): string[] {
  const out = new Set<string>();
  const anyBigrams = BIGRAM_SCRIPT.test(text);
  const n = text.length;
  for (let i = 0; i < n; ) {
    if (isSplit(text.charCodeAt(i))) {
      i++;
      continue;
    }
    const start = i;
    let at = false;
    let url = false;
    let bigrams = false;
    while (i < n && !isSplit(text.charCodeAt(i))) {
      const c = text.charCodeAt(i);
      if (c === 64) at = true;
      else if (c === 58 && text.startsWith('//', i + 1)) url = true;
      else if (anyBigrams && isBigramScript(c)) bigrams = true;
      i++;
    }
    const len = i - start;
    if ((len < 3 && !bigrams) || url || (at && len > 5)) continue;
    let a = start;
    let b = i;
    while (a < b && LEAD.has(text.charCodeAt(a))) a++;
    while (b > a && TRAIL.has(text.charCodeAt(b - 1))) b--;
    if (a === b) continue;
    const w = text.slice(a, b).toLowerCase();
    if (bigrams) mixed(w, prefix, out);
    else word(w, prefix, out);
  }
  return [...out];
}
