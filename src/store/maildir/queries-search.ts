/**
 * SearchQuery (../types.ts) as SQL over the index's columns (issue 16 item 3): flags
 * from the system-flag bit mask and the keywords JSON, UIDs, sizes, INTERNALDATE and
 * modseqs, read from the covering messages_light index (or the covering messages_unseen_uid
 * partial index for UNSEEN), so a search over 100 000 messages builds no object per message.
 * Must agree with ../search.ts matchesQuery (the contract suite runs both stores).
 *
 * Keywords compare without case (RFC 9051 §2.3.2 flags are case-insensitive); SQLite's
 * lower() folds ASCII only, which is all a flag-keyword atom may hold.
 */
import { parseFlags } from '../flags.js';
import type { SearchQuery } from '../types.js';

const DAY_MS = 86_400_000;

/** A WHERE term and its parameters. */
export type SqlTerm = [string, unknown[]];

function flagTerm(flag: string, set: boolean): SqlTerm {
  const { bits, keywords } = parseFlags([flag]);
  if (bits !== 0) return [set ? `(flags & ${bits}) <> 0` : `(flags & ${bits}) = 0`, []];
  if (keywords.length === 0) return [set ? '0' : '1', []]; // \Recent or an unknown \flag: no message has it
  const has = 'EXISTS (SELECT 1 FROM json_each(keywords) WHERE lower(value) = lower(?))';
  return [set ? `(keywords IS NOT NULL AND ${has})` : `(keywords IS NULL OR NOT ${has})`, [keywords[0]]];
}

export function searchTerm(q: SearchQuery): SqlTerm {
  switch (q.k) {
    case 'all':
      return ['1', []];
    case 'none':
      return ['0', []];
    case 'flag':
      return flagTerm(q.flag, q.set);
    case 'uids': {
      if (q.ranges.length === 0) return ['0', []];
      return [`(${q.ranges.map(() => 'uid BETWEEN ? AND ?').join(' OR ')})`, q.ranges.flat()];
    }
    case 'size':
      return [q.op === 'larger' ? 'size > ?' : 'size < ?', [q.n]];
    case 'date':
      if (q.op === 'before') return ['internal_date < ?', [q.day]];
      if (q.op === 'since') return ['internal_date >= ?', [q.day]];
      return ['(internal_date >= ? AND internal_date < ?)', [q.day, q.day + DAY_MS]];
    case 'modseq':
      return ['modseq >= ?', [q.n]];
    case 'uidset': // one parameter whatever the count (SQLite allows 32 766)
      return q.uids.length === 0 ? ['0', []] : ['uid IN (SELECT value FROM json_each(?))', [JSON.stringify(q.uids)]];
    case 'not': {
      const [w, a] = searchTerm(q.q);
      return [`NOT (${w})`, a];
    }
    case 'and':
    case 'or': {
      const parts = q.k === 'and' ? q.qs.map(searchTerm) : [searchTerm(q.a), searchTerm(q.b)];
      if (parts.length === 0) return [q.k === 'and' ? '1' : '0', []];
      return [`(${parts.map((p) => p[0]).join(q.k === 'and' ? ' AND ' : ' OR ')})`, parts.flatMap((p) => p[1])];
    }
  }
}

const UNSEEN = '(flags & 1) = 0';

/**
 * The statement for a query: UNSEEN (alone or first of an AND) reads the covering
 * messages_unseen_uid partial index, whose WHERE it repeats exactly (left to itself the
 * planner took messages_light: every message's entry, not only the unseen ones'); anything else the covering messages_light index (a row with its cached
 * envelope is kilobytes).
 */
export function searchSql(q: SearchQuery): SqlTerm {
  const [where, args] = searchTerm(q);
  const unseen = where === UNSEEN || where.startsWith(`(${UNSEEN} AND `);
  const from = unseen ? 'messages INDEXED BY messages_unseen_uid' : 'messages INDEXED BY messages_light';
  return [`SELECT uid FROM ${from} WHERE mailbox_id = ? AND ${where} ORDER BY uid`, args];
}
