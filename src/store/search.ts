/**
 * SearchQuery (types.ts) evaluated on one message's metadata: what a store without an
 * index of its own (the in-memory store) answers searchUids with, and the reference the
 * Maildir store's SQL (maildir/queries-search.ts) must agree with (contract suite).
 */
import { SEARCH_DOC_SEP, type MessageMeta, type SearchDoc, type SearchQuery, type TextTerm } from './types.js';

const DAY_MS = 86_400_000;

export function matchesQuery(q: SearchQuery, m: MessageMeta): boolean {
  switch (q.k) {
    case 'all':
      return true;
    case 'none':
      return false;
    case 'flag': {
      const want = q.flag.toLowerCase();
      return m.flags.some((f) => f.toLowerCase() === want) === q.set;
    }
    case 'uids':
      return q.ranges.some(([lo, hi]) => m.uid >= lo && m.uid <= hi);
    case 'size':
      return q.op === 'larger' ? m.size > q.n : m.size < q.n;
    case 'date': {
      const t = m.internalDate.getTime();
      return q.op === 'before' ? t < q.day : q.op === 'since' ? t >= q.day : t >= q.day && t < q.day + DAY_MS;
    }
    case 'modseq':
      return m.modseq >= q.n;
    case 'uidset':
      return q.uids.includes(m.uid);
    case 'not':
      return !matchesQuery(q.q, m);
    case 'and':
      return q.qs.every((x) => matchesQuery(x, m));
    case 'or':
      return matchesQuery(q.a, m) || matchesQuery(q.b, m);
  }
}

// --- Content (full-text index, issue 16 item 3) --------------------------------------

/**
 * A needle as the index compares it: Unicode lower-case, as the SearchDoc's text
 * (close to i;unicode-casemap, RFC 5051, as src/imap/mime/search.ts). Undefined when
 * the index cannot answer it (it holds the segment separator).
 */
export function foldNeedle(value: string): string | undefined {
  return value.includes(SEARCH_DOC_SEP) ? undefined : value.toLowerCase();
}

/** Whether some field `name` of a block of "name: value" lines contains the folded needle ('' = has the field). */
export function fieldHas(lines: string, name: string, needle: string): boolean {
  const prefix = name.toLowerCase() + ': ';
  for (const line of lines.split('\n')) {
    if (line.length >= prefix.length && line.slice(0, prefix.length).toLowerCase() === prefix && line.includes(needle, prefix.length)) return true;
  }
  return false;
}

const ADDR_FIELDS = new Set(['from', 'to', 'cc', 'bcc', 'subject']);

/**
 * RFC 9051 §6.4.4 on a SearchDoc: BODY and TEXT are case-insensitive substrings of the
 * decoded text (TEXT adds every header block), HEADER of the decoded values of that
 * field; FROM/TO/CC/BCC/SUBJECT also of the cached envelope's form (what the search
 * answers for a message not yet indexed). `needle` is foldNeedle's.
 */
export function docMatches(doc: SearchDoc, term: TextTerm, needle: string): boolean {
  if (term.where === 'body') return doc.body.includes(needle);
  if (term.where !== 'header') return doc.head.includes(needle) || doc.parts.includes(needle) || doc.body.includes(needle);
  return fieldHas(doc.head, term.field, needle) || (ADDR_FIELDS.has(term.field.toLowerCase()) && fieldHas(doc.addrs, term.field, needle));
}

/** Distinct characters' trigrams an index query ANDs at most (more narrow little further). */
const MAX_TRIGRAMS = 12;

/**
 * The FTS5 query (trigram tokenizer, detail=none) every document holding the folded
 * needle matches: its trigrams ANDed, each as a quoted string. Undefined for needles
 * under 3 characters, which trigrams cannot narrow.
 */
export function trigramQuery(needle: string): string | undefined {
  const chars = [...needle];
  if (chars.length < 3) return undefined;
  const grams = new Set<string>();
  for (let i = 0; i + 3 <= chars.length; i++) {
    const g = chars.slice(i, i + 3).join('');
    // FTS5's query syntax ends a string at NUL ("unterminated string"): such a trigram is
    // left out of the narrowing (the check on the stored text still sees the whole needle).
    if (!g.includes('\0')) grams.add(g);
  }
  if (grams.size === 0) return undefined;
  let list = [...grams];
  if (list.length > MAX_TRIGRAMS) {
    const step = list.length / MAX_TRIGRAMS;
    list = Array.from({ length: MAX_TRIGRAMS }, (_, i) => list[Math.floor(i * step)]!).concat(list[list.length - 1]!);
  }
  return list.map((g) => '"' + g.replaceAll('"', '""') + '"').join(' AND ');
}
