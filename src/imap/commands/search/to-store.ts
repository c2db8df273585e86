/**
 * SEARCH criteria (criteria.ts) as a store SearchQuery (issue 16 item 3): sequence
 * numbers and \Recent become UID ranges of this session's view; flags, sizes,
 * INTERNALDATE, UIDs and modseqs go as they are. BODY, TEXT and header keys are asked
 * of the store's full-text index first (askIndex): its exact hits, plus the messages it
 * could not decide, become UID sets. Keys it cannot answer (SENT*, a store without the
 * index, undecided messages) only narrow: the query is then a superset of the answer
 * (such a key counts as matching everything where it is not negated, as matching
 * nothing under an odd number of NOTs), and evaluate.ts confirms each candidate
 * (RFC 9051 §6.4.4 substring semantics).
 */
import { supportsTextSearch, type MailboxId, type MailStore, type SearchQuery, type TextTerm, type Uid } from '../../../store/types.js';
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

/** The full-text index's answer per content key: exact hits, and UIDs it could not decide. */
export type IndexAnswers = Map<Criterion, { hits: Set<number>; unsure: Set<number>; list: { hits: Uid[]; unsure: Uid[] } }>;

function termOf(c: Criterion): TextTerm | undefined {
  if (c.k === 'body' || c.k === 'text') return { where: c.k, value: c.value };
  if (c.k === 'header') return { where: 'header', field: c.field, value: c.value };
  return undefined;
}

/**
 * Asks the store's full-text index about every BODY, TEXT and header key: one question
 * per distinct key, one at a time (a SEARCH of 256 keys does not start 256 scans at once).
 */
export async function askIndex(store: MailStore, account: string, mailboxId: MailboxId, crit: Criterion): Promise<IndexAnswers> {
  const out: IndexAnswers = new Map();
  if (!supportsTextSearch(store)) return out;
  const keys: Array<[Criterion, TextTerm]> = [];
  const walk = (x: Criterion): void => {
    const t = termOf(x);
    if (t) keys.push([x, t]);
    else if (x.k === 'not') walk(x.c);
    else if (x.k === 'or') {
      walk(x.a);
      walk(x.b);
    } else if (x.k === 'and') x.cs.forEach(walk);
  };
  walk(crit);
  const asked = new Map<string, { hits: Uid[]; unsure: Uid[] }>();
  for (const [x, t] of keys) {
    const key = JSON.stringify(t);
    let list = asked.get(key);
    if (!list) asked.set(key, (list = await store.searchText(account, mailboxId, t)));
    out.set(x, { hits: new Set(list.hits), unsure: new Set(list.unsure), list });
  }
  return out;
}

/** Ascending union of two ascending UID lists. */
function union(a: readonly Uid[], b: readonly Uid[]): Uid[] {
  if (b.length === 0) return [...a];
  return [...new Set([...a, ...b])].sort((x, y) => x - y);
}

/** The query, and whether it is the exact answer (no key needed the content). */
export function toStoreQuery(c: Criterion, view: SelectedView, index: IndexAnswers = new Map()): { q: SearchQuery; exact: boolean } {
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
      case 'body':
      case 'text':
      case 'header': {
        const a = index.get(x);
        if (!a) break;
        if (a.list.unsure.length > 0) exact = false;
        // Where it counts positively a superset (hits and undecided), under NOT a subset (hits).
        return { k: 'uidset', uids: negated ? a.list.hits : union(a.list.hits, a.list.unsure) };
      }
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
