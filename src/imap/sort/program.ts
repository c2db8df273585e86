/**
 * What SORT and THREAD share (RFC 5256 §3): the charset, which both commands require,
 * and the search program that picks the messages, evaluated as SEARCH evaluates it
 * (src/imap/commands/search/: the index answers what it can, content keys are
 * confirmed per candidate).
 *
 *   search-criteria = charset 1*(SP search-key)
 */
import { ImapNo } from '../errors.js';
import type { Parser } from '../wire/parser.js';
import type { Uid } from '../../store/types.js';
import { accountOf, viewOf } from '../commands/helpers.js';
import type { CommandContext } from '../commands/types.js';
import { searchKey, usesModseq, type Criterion } from '../commands/search/criteria.js';
import { findHits } from '../commands/search/search.js';
import { resolveSaved } from '../commands/search/searchres.js';

/** The messages matched: ascending UIDs of this session's view, or `all` of them (the program was ALL; `uids` then empty). */
export interface Program {
  uids: Uid[];
  all: boolean;
  /** Whether anything matched. */
  any: boolean;
  /** When the program used MODSEQ (RFC 7162 §3.1.5): each message's mod-sequence. */
  modseqs?: Map<number, number>;
  /** The program itself (an update context runs it again, RFC 5267 §4.3). */
  crit: Criterion;
}

export function parseCharset(p: Parser): void {
  const cs = p.astring().toUpperCase();
  // RFC 5256 §3: US-ASCII and UTF-8 MUST be supported; others are refused with BADCHARSET.
  if (cs !== 'UTF-8' && cs !== 'US-ASCII') throw new ImapNo('Unsupported charset', 'BADCHARSET (UTF-8 US-ASCII)');
}

/** Parses `charset 1*(SP search-key)` to the end of the command and runs the search; `parsed` checks before it runs. */
export async function runProgram(c: CommandContext, p: Parser, parsed?: () => void): Promise<Program> {
  parseCharset(p);
  const budget = { left: c.conn.ctx.config.limits.maxSearchTerms };
  p.sp();
  const cs: Criterion[] = [searchKey(p, 0, budget)];
  while (p.trySp()) cs.push(searchKey(p, 0, budget));
  p.end();
  parsed?.();
  const view = viewOf(c);
  // RFC 5182 §2.1: "$" is a sequence set, so SORT and THREAD criteria take the saved result as SEARCH's do.
  const crit: Criterion = resolveSaved(cs.length === 1 ? cs[0]! : { k: 'and', cs }, view);
  if (crit.k === 'all') return { uids: [], all: true, any: view.exists > 0, crit };
  const modseq = usesModseq(crit);
  if (modseq) c.conn.condstore = true;
  const found = await findHits(c.conn.ctx.store, accountOf(c), view, crit, modseq);
  return { uids: found.uids, all: false, any: found.uids.length > 0, crit, ...(modseq ? { modseqs: found.modseqs } : {}) };
}
