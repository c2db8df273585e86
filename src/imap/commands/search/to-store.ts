/**
 * SEARCH criteria (criteria.ts) as a store SearchQuery (issue 16 item 3): sequence
 * numbers and \Recent become UID ranges of this session's view; flags, sizes,
 * INTERNALDATE, UIDs and modseqs go as they are. Keys that need a message's content
 * (BODY, TEXT, header fields, SENT*) cannot be answered by the index: the query then
 * only narrows, a superset of the answer (such a key counts as matching everything
 * where it is not negated, as matching nothing under an odd number of NOTs), and
 * evaluate.ts confirms each candidate (RFC 9051 §6.4.4 substring semantics).
 */
import type { SearchQuery, Uid } from '../../../store/types.js';
import type { SelectedView } from '../../session.js';
import type { SeqSet } from '../../wire/parser.js';
import type { Criterion } from './criteria.js';
import { consecutiveRanges } from '../../../util/ranges.js';

/** Ascending UIDs as inclusive ranges of consecutive values. */
export const rangesOf = consecutiveRanges;

function uidRanges(set: SeqSet, star: number): Array<[number, number]> {
  return set.map(([a, b]) => {
    const x = a === Infinity ? star : a;
    const y = b === Infinity ? star : b;
    return [Math.min(x, y), Math.max(x, y)];
  });
}

/** The query, and whether it is the exact answer (no key needed the content). */
export function toStoreQuery(c: Criterion, view: SelectedView): { q: SearchQuery; exact: boolean } {
  let exact = true;
  let recent: Uid[] | undefined;
  const recentQ = (): SearchQuery => ({ k: 'uids', ranges: rangesOf((recent ??= view.recentUids())) });
  const walk = (x: Criterion, negated: boolean): SearchQuery => {
    switch (x.k) {
      case 'all':
        return { k: 'all' };
      case 'flag':
        return { k: 'flag', flag: x.flag, set: x.set };
      case 'recent':
        return recentQ();
      case 'old':
        return { k: 'not', q: recentQ() };
      case 'new': // RFC 3501 §6.4.4: NEW = RECENT UNSEEN
        return { k: 'and', qs: [recentQ(), { k: 'flag', flag: '\\Seen', set: false }] };
      case 'seq':
        return { k: 'uids', ranges: rangesOf(view.uidsForSeqSet(x.set)) };
      case 'uid':
        return { k: 'uids', ranges: uidRanges(x.set, view.maxUid) };
      case 'size':
        return { k: 'size', op: x.op, n: x.n };
      case 'modseq':
        return { k: 'modseq', n: x.n };
      case 'date':
        if (x.which === 'internal') return { k: 'date', op: x.op, day: x.day.getTime() };
        break;
      case 'not':
        return { k: 'not', q: walk(x.c, !negated) };
      case 'and':
        return { k: 'and', qs: x.cs.map((s) => walk(s, negated)) };
      case 'or':
        return { k: 'or', a: walk(x.a, negated), b: walk(x.b, negated) };
    }
    exact = false; // content: a superset where it counts positively, nothing where negated
    return negated ? { k: 'none' } : { k: 'all' };
  };
  const q = walk(c, false);
  return { q, exact };
}
