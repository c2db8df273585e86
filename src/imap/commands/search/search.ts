// SEARCH / UID SEARCH — RFC 9051 §6.4.4, ESEARCH RFC 4731, CONDSTORE RFC 7162 §3.1.5
// search = "SEARCH" [search-return-opts] SP search-program
// search-program = ["CHARSET" SP charset SP] search-key *(SP search-key)
// search-return-opts = SP "RETURN" SP "(" [search-return-opt *(SP search-return-opt)] ")"
// Results: "* SEARCH 2 3 [(MODSEQ n)]" (IMAP4rev1) or "* ESEARCH (TAG "t") [UID] ..."
// (RETURN given, or IMAP4rev2 enabled — RFC 9051 §7.3.4).
import type { MessageMeta } from '../../../store/types.js';
import { ImapBad, ImapNo } from '../../errors.js';
import type { Encoder } from '../../wire/encoder.js';
import type { Parser } from '../../wire/parser.js';
import { accountOf, compactSet, viewOf } from '../helpers.js';
import { SELECTED, type CommandContext, type CommandSpec } from '../types.js';
import { needsContent, searchKey, usesModseq, type Criterion } from './criteria.js';
import { contentPlan, evaluate, matches, scan, type MessageCtx } from './evaluate.js';

const RETURN_OPTS = new Set(['MIN', 'MAX', 'COUNT', 'ALL', 'SAVE']);

async function runSearch(c: CommandContext, p: Parser, byUid: boolean): Promise<void> {
  let ret: Set<string> | undefined;
  p.sp();
  if (p.tryTake('RETURN ')) {
    ret = new Set();
    p.parenList(() => {
      const o = p.atom().toUpperCase();
      if (!RETURN_OPTS.has(o)) throw new ImapBad(`Unknown RETURN option ${o}`);
      ret!.add(o);
    });
    if (ret.size === 0) ret.add('ALL'); // RFC 4731 §3.1: "RETURN ()" means ALL
    p.sp();
  }
  if (p.tryTake('CHARSET ')) {
    const cs = p.astring().toUpperCase();
    if (cs !== 'UTF-8' && cs !== 'US-ASCII') throw new ImapNo('Unsupported charset', 'BADCHARSET (UTF-8 US-ASCII)'); // RFC 9051 §6.4.4
    p.sp();
  }
  const conn = c.conn;
  // Bounded keys per command (issue 14): each key costs work on every message.
  const budget = { left: conn.ctx.config.limits.maxSearchTerms };
  const cs: Criterion[] = [searchKey(p, 0, budget)];
  while (p.trySp()) cs.push(searchKey(p, 0, budget));
  p.end();
  const crit: Criterion = cs.length === 1 ? cs[0]! : { k: 'and', cs };
  const view = viewOf(c);
  const account = accountOf(c);
  const modseq = usesModseq(crit);
  if (modseq) conn.condstore = true;
  const store = conn.ctx.store;
  const indexOnly = needsContent(crit) === 'none';
  const plan = contentPlan(crit);
  // Index-only criteria (flags, size, dates, UIDs): the light form, no cached envelopes.
  const metas = view.exists > 0 ? await store.fetchMeta(account, view.mailboxId, indexOnly ? { fields: 'flags' } : {}) : [];
  const maxUid = view.maxUid;
  const hits: MessageMeta[] = [];
  await scan(metas, async (meta) => {
    const seq = view.seqOf(meta.uid);
    if (seq === 0) return; // not yet announced to this client
    const x: MessageCtx = { meta, recent: view.showsRecent && view.isRecent(meta.uid), seq, maxSeq: view.exists, maxUid };
    if (indexOnly ? evaluate(crit, x) === true : await matches(crit, plan, x, store, account, view.mailboxId)) hits.push(meta);
  });
  hits.sort((a, b) => a.uid - b.uid); // sequence order is UID order
  const nums = hits.map((m) => (byUid ? m.uid : view.seqOf(m.uid)));
  const enc = conn.encoder();
  if (ret || conn.rev2) writeEsearch(enc, c.tag, byUid, ret ?? new Set(['ALL']), hits, nums, modseq);
  else {
    enc.raw('* SEARCH');
    for (const n of nums) enc.raw(' ' + n);
    // RFC 7162 §3.1.5: "(MODSEQ n)", the highest mod-sequence of the messages returned
    if (modseq && hits.length > 0) enc.raw(` (MODSEQ ${maxModseq(hits)})`);
    enc.crlf();
  }
  await conn.send(enc);
}

function maxModseq(ms: readonly MessageMeta[]): number {
  let max = 0;
  for (const m of ms) if (m.modseq > max) max = m.modseq;
  return max;
}

/**
 * "* ESEARCH (TAG "a1") UID MIN 2 MAX 9 COUNT 3 ALL 2,5:9 MODSEQ 17" (RFC 4731 §3.1).
 * SAVE alone gets no ESEARCH (RFC 9051 §6.4.4.2). MODSEQ when the search used it
 * (RFC 7162 §3.1.5, RFC 4731 §3.2): with MIN or MAX alone, the mod-sequence of that
 * message; with MIN and MAX alone, the higher of the two; else the highest of all
 * messages found.
 */
function writeEsearch(enc: Encoder, tag: string, byUid: boolean, opts: Set<string>, hits: MessageMeta[], nums: number[], modseq: boolean): void {
  if (opts.size === 1 && opts.has('SAVE')) return;
  enc.raw('* ESEARCH (TAG ').quoted(tag).raw(')');
  if (byUid) enc.raw(' UID');
  if (nums.length > 0) {
    if (opts.has('MIN')) enc.raw(` MIN ${nums[0]}`);
    if (opts.has('MAX')) enc.raw(` MAX ${nums[nums.length - 1]}`);
    if (opts.has('ALL')) enc.raw(` ALL ${compactSet(nums)}`);
  }
  if (opts.has('COUNT')) enc.raw(` COUNT ${nums.length}`);
  if (modseq && hits.length > 0) {
    const onlyMinMax = !opts.has('ALL') && !opts.has('COUNT') && (opts.has('MIN') || opts.has('MAX'));
    const returned = onlyMinMax ? [...(opts.has('MIN') ? [hits[0]!] : []), ...(opts.has('MAX') ? [hits[hits.length - 1]!] : [])] : hits;
    enc.raw(` MODSEQ ${maxModseq(returned)}`);
  }
  enc.crlf();
}

export const search: CommandSpec = { name: 'SEARCH', states: SELECTED, usesSeqs: true, handle: (c, p) => runSearch(c, p, false) };
export const uidSearch: CommandSpec = { name: 'UID SEARCH', states: SELECTED, handle: (c, p) => runSearch(c, p, true) };
