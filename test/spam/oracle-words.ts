// The tokeniser's word splitting as it was before tokens were hashed where they lie
// (src/spam/tokenize.ts words() up to commit eee3c4b), written the plain way: the text
// split on SPLIT, every word made into a lower-case string and added as one. Kept here,
// not in src, as the oracle the hashing words() is checked against (tokens.test.ts):
// same strings, in the same order.
import { BIGRAM_SCRIPT, mixed, SPLIT, word } from '../../src/spam/tokenize.js';

const LEAD = /^["'(<[{*`|~]+/;
const TRAIL = /["')>\]}.,;:*`|~]+$/;

/** Words of a text with a prefix, as strings, in the order first seen. */
export function oracleWords(text: string, prefix: string): string[] {
  const out = new Set<string>();
  for (const chunk of text.split(new RegExp(SPLIT.source, 'g'))) {
    const bigrams = BIGRAM_SCRIPT.test(chunk);
    if (chunk.length < 3 && !bigrams) continue;
    if (chunk.includes('://') || (chunk.includes('@') && chunk.length > 5)) continue;
    const w = chunk.replace(LEAD, '').replace(TRAIL, '').toLowerCase();
    if (w === '') continue;
    if (bigrams) mixed(w, prefix, out);
    else word(w, prefix, out);
  }
  return [...out];
}
