/**
 * SearchQuery (types.ts) evaluated on one message's metadata: what a store without an
 * index of its own (the in-memory store) answers searchUids with, and the reference the
 * Maildir store's SQL (maildir/queries-search.ts) must agree with (contract suite).
 */
import type { MessageMeta, SearchQuery } from './types.js';

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
    case 'not':
      return !matchesQuery(q.q, m);
    case 'and':
      return q.qs.every((x) => matchesQuery(x, m));
    case 'or':
      return matchesQuery(q.a, m) || matchesQuery(q.b, m);
  }
}
