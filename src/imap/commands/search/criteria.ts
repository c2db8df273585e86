// SEARCH criteria — RFC 9051 §6.4.4, RFC 3501 §6.4.4, MODSEQ RFC 7162 §3.1.5
// search-key = "ALL" / "ANSWERED" / "BCC" SP astring / "BEFORE" SP date / "BODY" SP astring /
//   "CC" SP astring / "DELETED" / "FLAGGED" / "FROM" SP astring / "KEYWORD" SP flag-keyword /
//   "NEW" / "OLD" / "ON" SP date / "RECENT" / "SEEN" / "SINCE" SP date / "SUBJECT" SP astring /
//   "TEXT" SP astring / "TO" SP astring / "UNANSWERED" / "UNDELETED" / "UNFLAGGED" /
//   "UNKEYWORD" SP flag-keyword / "UNSEEN" / "DRAFT" / "HEADER" SP header-fld-name SP astring /
//   "LARGER" SP number64 / "NOT" SP search-key / "OR" SP search-key SP search-key /
//   "SENTBEFORE" SP date / "SENTON" SP date / "SENTSINCE" SP date / "SMALLER" SP number64 /
//   "UID" SP sequence-set / "UNDRAFT" / sequence-set / "(" search-key *(SP search-key) ")" /
//   "OLDER" SP nz-number / "YOUNGER" SP nz-number   (WITHIN, RFC 5032 §2) /
//   "SAVEDBEFORE" SP date / "SAVEDON" SP date / "SAVEDSINCE" SP date / "SAVEDATESUPPORTED" (RFC 8514 §4) /
//   "EMAILID" SP objectid / "THREADID" SP objectid (RFC 8474 §6)
import { ImapBad, ImapNo } from '../../errors.js';
import { OBJECTID_RE } from '../../objectid.js';
import type { Parser, SeqSet } from '../../wire/parser.js';

export type Criterion =
  | { k: 'all' }
  | { k: 'flag'; flag: string; set: boolean }
  | { k: 'new' }
  | { k: 'old' }
  | { k: 'recent' }
  | { k: 'header'; field: string; value: string }
  | { k: 'body' | 'text'; value: string }
  | { k: 'date'; which: 'internal' | 'sent' | 'saved'; op: 'before' | 'on' | 'since'; day: Date }
  | { k: 'size'; op: 'larger' | 'smaller'; n: number }
  | { k: 'not'; c: Criterion }
  | { k: 'or'; a: Criterion; b: Criterion }
  | { k: 'and'; cs: Criterion[] }
  | { k: 'uid'; set: SeqSet }
  | { k: 'seq'; set: SeqSet }
  | { k: 'modseq'; n: number }
  | { k: 'emailid'; id: string }
  /** WITHIN (RFC 5032): INTERNALDATE at least / less than `at` ms ago, `at` fixed at parse time. */
  | { k: 'age'; op: 'older' | 'younger'; at: number };

const FLAG_KEYS: Record<string, [string, boolean]> = {
  ANSWERED: ['\\Answered', true],
  DELETED: ['\\Deleted', true],
  DRAFT: ['\\Draft', true],
  FLAGGED: ['\\Flagged', true],
  SEEN: ['\\Seen', true],
  UNANSWERED: ['\\Answered', false],
  UNDELETED: ['\\Deleted', false],
  UNDRAFT: ['\\Draft', false],
  UNFLAGGED: ['\\Flagged', false],
  UNSEEN: ['\\Seen', false],
};

const HEADER_KEYS = new Set(['BCC', 'CC', 'FROM', 'SUBJECT', 'TO']);

/** `budget.left`: search keys still allowed in this command (limits.max_search_terms). */
export function searchKey(p: Parser, depth = 0, budget: { left: number } = { left: Infinity }): Criterion {
  if (depth > 50) throw new ImapBad('Search expression too deep');
  // RFC 5530 §3 LIMIT: refused because it exceeds a server limit (each key costs work on every message).
  if (--budget.left < 0) throw new ImapNo('Too many search keys', 'LIMIT');
  if (p.peek() === '(') {
    const cs: Criterion[] = [];
    p.parenList(() => cs.push(searchKey(p, depth + 1, budget)), false);
    return cs.length === 1 ? cs[0]! : { k: 'and', cs };
  }
  const seq = p.trySequenceSet();
  if (seq) return { k: 'seq', set: seq };
  const key = p.atom().toUpperCase();
  const flag = FLAG_KEYS[key];
  if (flag) return { k: 'flag', flag: flag[0], set: flag[1] };
  if (HEADER_KEYS.has(key)) {
    p.sp();
    return { k: 'header', field: key.toLowerCase(), value: p.astring() };
  }
  switch (key) {
    case 'NOT':
      p.sp();
      return { k: 'not', c: searchKey(p, depth + 1, budget) };
    case 'OR': {
      p.sp();
      const a = searchKey(p, depth + 1, budget);
      p.sp();
      return { k: 'or', a, b: searchKey(p, depth + 1, budget) };
    }
    default:
      return plainKey(p, key);
  }
}

/** The keys that hold no other key: ALL, NEW/OLD/RECENT, keywords, HEADER, BODY/TEXT, dates, sizes, UID, MODSEQ. */
function plainKey(p: Parser, key: string): Criterion {
  switch (key) {
    case 'ALL':
      return { k: 'all' };
    case 'NEW':
      return { k: 'new' };
    case 'OLD':
      return { k: 'old' };
    case 'RECENT':
      return { k: 'recent' };
    case 'KEYWORD':
    case 'UNKEYWORD':
      p.sp();
      return { k: 'flag', flag: p.flag(), set: key === 'KEYWORD' };
    case 'HEADER': {
      p.sp();
      const field = p.astring().toLowerCase();
      p.sp();
      return { k: 'header', field, value: p.astring() };
    }
    case 'BODY':
    case 'TEXT':
      p.sp();
      return { k: key === 'BODY' ? 'body' : 'text', value: p.astring() };
    case 'BEFORE':
    case 'ON':
    case 'SINCE':
      p.sp();
      return { k: 'date', which: 'internal', op: key.toLowerCase() as 'before', day: p.date() };
    case 'SAVEDBEFORE':
    case 'SAVEDON':
    case 'SAVEDSINCE':
      p.sp();
      return { k: 'date', which: 'saved', op: key.slice(5).toLowerCase() as 'before', day: p.date() };
    case 'EMAILID':
    case 'THREADID': {
      p.sp();
      const id = p.atom();
      if (!OBJECTID_RE.test(id)) throw new ImapBad('Invalid objectid');
      // THREADID is NIL for every message (objectid.ts): it matches none.
      return key === 'EMAILID' ? { k: 'emailid', id } : { k: 'not', c: { k: 'all' } };
    }
    case 'SAVEDATESUPPORTED':
      return { k: 'all' }; // every mailbox keeps save dates (RFC 8514 §4)
    case 'SENTBEFORE':
    case 'SENTON':
    case 'SENTSINCE':
      p.sp();
      return { k: 'date', which: 'sent', op: key.slice(4).toLowerCase() as 'before', day: p.date() };
    case 'LARGER':
    case 'SMALLER':
      p.sp();
      return { k: 'size', op: key.toLowerCase() as 'larger', n: p.number(true) };
    case 'UID':
      p.sp();
      return { k: 'uid', set: p.sequenceSet() };
    case 'OLDER':
    case 'YOUNGER':
      // RFC 5032 §2: OLDER n: INTERNALDATE at least n seconds before now; YOUNGER n: within the last n seconds.
      p.sp();
      return { k: 'age', op: key === 'OLDER' ? 'older' : 'younger', at: Date.now() - p.nzNumber() * 1000 };
    case 'MODSEQ': {
      p.sp();
      // MODSEQ [SP entry-name SP entry-type-req] SP mod-sequence-valzer (RFC 7162 §3.1.5)
      if (p.peek() === '"') {
        p.string();
        p.sp();
        p.atom();
        p.sp();
      }
      return { k: 'modseq', n: p.number(true) };
    }
    default:
      throw new ImapBad(`Unknown search key ${key}`);
  }
}

/** Whether evaluating needs the message header or body (costly): those keys go last. */
export function needsContent(c: Criterion): 'none' | 'header' | 'body' {
  switch (c.k) {
    case 'header':
      return 'header';
    case 'date':
      // SAVED*: not content, but the full index row (the light one has no save date).
      return c.which === 'internal' ? 'none' : 'header';
    case 'emailid':
      return 'header'; // likewise: the full row has the EMAILID
    case 'body':
    case 'text':
      return 'body';
    case 'not':
      return needsContent(c.c);
    case 'or': {
      const a = needsContent(c.a);
      const b = needsContent(c.b);
      return a === 'body' || b === 'body' ? 'body' : a === 'header' || b === 'header' ? 'header' : 'none';
    }
    case 'and': {
      let r: 'none' | 'header' | 'body' = 'none';
      for (const x of c.cs) {
        const n = needsContent(x);
        if (n === 'body') return 'body';
        if (n === 'header') r = 'header';
      }
      return r;
    }
    default:
      return 'none';
  }
}

export function usesModseq(c: Criterion): boolean {
  if (c.k === 'modseq') return true;
  if (c.k === 'not') return usesModseq(c.c);
  if (c.k === 'or') return usesModseq(c.a) || usesModseq(c.b);
  if (c.k === 'and') return c.cs.some(usesModseq);
  return false;
}
