// SEARCH / UID SEARCH — RFC 9051 §6.4.4, ESEARCH RFC 4731, CONDSTORE RFC 7162 §3.1.5
// search = "SEARCH" [search-return-opts] SP search-program
// search-program = ["CHARSET" SP charset SP] search-key *(SP search-key)
// search-return-opts = SP "RETURN" SP "(" [search-return-opt *(SP search-return-opt)] ")"
// Results: "* SEARCH 2 3 [(MODSEQ n)]" (IMAP4rev1) or "* ESEARCH (TAG "t") [UID] ..."
// (RETURN given, or IMAP4rev2 enabled — RFC 9051 §7.3.4). PARTIAL, UPDATE and CONTEXT:
// CONTEXT=SEARCH (RFC 5267 §4, src/imap/context.ts).
import { supportsSearch, type MailStore, type Uid } from '../../../store/types.js';
import type { SelectedView } from '../../session.js';
import { ImapBad, ImapNo } from '../../errors.js';
import type { Encoder } from '../../wire/encoder.js';
import type { Parser } from '../../wire/parser.js';
import { accountOf, compactSet, viewOf } from '../helpers.js';
import { SELECTED, type CommandContext, type CommandSpec } from '../types.js';
import { needsContent, searchKey, usesModseq, type Criterion } from './criteria.js';
import { contentPlan, evaluate, matches, scan, type MessageCtx } from './evaluate.js';
import { resolveSaved, toSave } from './searchres.js';
import { askIndex, toStoreQuery, type IndexAnswers } from './to-store.js';
import { parseReturn, partialData, SEARCH_RETURN } from './return-opts.js';
import { addContext, checkTagFree } from '../../context.js';

async function runSearch(c: CommandContext, p: Parser, byUid: boolean): Promise<void> {
  const asked = { save: false };
  try {
    await searchSaving(c, p, byUid, asked);
  } catch (err) {
    // RFC 5182 §2.1: a SAVE answered NO leaves "$" empty; one answered BAD leaves it as it was.
    if (asked.save && !(err instanceof ImapBad)) viewOf(c).saved = [];
    throw err;
  }
}

async function searchSaving(c: CommandContext, p: Parser, byUid: boolean, asked: { save: boolean }): Promise<void> {
  let ret: Set<string> | undefined;
  let partial: [number, number] | undefined;
  const view = viewOf(c);
  p.sp();
  if (p.tryTake('RETURN ')) {
    ({ opts: ret, partial } = parseReturn(p, SEARCH_RETURN));
    asked.save = ret.has('SAVE');
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
  const crit: Criterion = resolveSaved(cs.length === 1 ? cs[0]! : { k: 'and', cs }, view);
  if (ret?.has('UPDATE')) checkTagFree(view, c.tag); // RFC 5267 §4.3
  const account = accountOf(c);
  const modseq = usesModseq(crit);
  if (modseq) conn.condstore = true;
  if (!ret && !conn.rev2 && !modseq && (await answerFromStore(c, view, crit, byUid))) return;
  const found = await findHits(conn.ctx.store, account, view, crit, modseq);
  if (ret?.has('SAVE')) view.saved = toSave(ret, found.uids);
  // Sequence order is UID order: one merge walk over the view's UIDs (seqmap.ts), or the one inView made.
  const nums = byUid ? found.uids : (found.seqs ?? view.uids.seqsOf(found.uids));
  const enc = conn.encoder();
  if (ret || conn.rev2) writeEsearch(enc, c.tag, byUid, ret ?? new Set(['ALL']), found, Array.from(nums), modseq, partial);
  else {
    enc.raw('* SEARCH').rawBuffer(spacedNumbers(nums));
    // RFC 7162 §3.1.5: "(MODSEQ n)", the highest mod-sequence of the messages returned
    if (modseq && found.uids.length > 0) enc.raw(` (MODSEQ ${maxModseq(found, found.uids)})`);
    enc.crlf();
  }
  if (ret?.has('UPDATE')) addContext(view, enc, { tag: c.tag, byUid, crit, result: found.uids }); // RFC 5267 §4.3
  await conn.send(enc);
}

/**
 * A plain SEARCH (IMAP4rev1 response, no RETURN, no MODSEQ) of keys the index decides
 * alone, in a session whose messages have no UID gap: the sequence numbers are the UIDs
 * less the first one's distance from 1, so the store writes the answer's numbers
 * (searchNumbers) and nothing here makes a value per message (issue 16: SEARCH UNSEEN
 * of 100 000 messages). The UIDs asked for are the session's (lo..hi): messages not yet
 * announced are left out, as inView does. False when it does not apply.
 */
async function answerFromStore(c: CommandContext, view: SelectedView, crit: Criterion, byUid: boolean): Promise<boolean> {
  const store = c.conn.ctx.store;
  const n = view.uids.length;
  if (n === 0 || !supportsSearch(store) || !store.searchNumbers || needsContent(crit) !== 'none') return false;
  const lo = view.uids.at(1)!;
  const hi = view.uids.last;
  if (hi - lo + 1 !== n) return false;
  const sq = toStoreQuery(crit, view);
  if (!sq.exact) return false;
  const { text } = await store.searchNumbers(accountOf(c), view.mailboxId, sq.q, { lo, hi, less: byUid ? 0 : lo - 1 });
  const enc = c.conn.encoder();
  enc.raw('* SEARCH').rawBuffer(Buffer.from(text, 'latin1')).crlf(); // RFC 9051 §7.3.4 (RFC 3501 §7.2.5)
  await c.conn.send(enc);
  return true;
}

/** What a SEARCH found: the UIDs in the view, ascending, and their modseqs when the search used MODSEQ. */
export interface Found {
  uids: Uid[];
  modseqs: Map<number, number>;
  /** The sequence numbers of `uids`, when already known. */
  seqs?: Uint32Array;
}

/** Messages fetched per store call while confirming candidates: memory stays flat on 100 000. */
const PAGE = 1000;

/**
 * The index answers what it can (store SearchQuery, to-store.ts); content keys are then
 * confirmed on the candidates a page at a time. A store without SupportsSearch: every
 * message is a candidate.
 */
export async function findHits(store: MailStore, account: string, view: SelectedView, crit: Criterion, modseq: boolean): Promise<Found> {
  const indexOnly = needsContent(crit) === 'none';
  let cands: Uid[];
  let exact = false;
  let index: IndexAnswers | undefined;
  if (supportsSearch(store)) {
    index = view.exists > 0 ? await askIndex(store, account, view.mailboxId, crit) : undefined;
    const sq = toStoreQuery(crit, view, index);
    // A lone BODY/TEXT/header key: the index's UIDs are the answer (no SQL over 100 000 of them).
    cands = view.exists === 0 ? [] : sq.q.k === 'uidset' ? [...sq.q.uids] : await store.searchUids(account, view.mailboxId, sq.q);
    exact = sq.exact;
  } else cands = view.uidsForSeqSet([[1, Infinity]]);
  const seen = inView(view, cands); // not yet announced to this client: not found
  cands = seen.uids;
  const found: Found = { uids: [], modseqs: new Map() };
  if (exact && !modseq) {
    found.uids = cands;
    found.seqs = seen.seqs;
    return found;
  }
  const plan = contentPlan(crit);
  const maxUid = view.maxUid;
  for (let i = 0; i < cands.length; i += PAGE) {
    // Index-only criteria (flags, size, dates, UIDs): the light form, no cached envelopes.
    const metas = await store.fetchMeta(account, view.mailboxId, { uids: cands.slice(i, i + PAGE), ...(indexOnly ? { fields: 'flags' as const } : {}) });
    await scan(metas, async (meta) => {
      const seq = view.seqOf(meta.uid);
      if (seq === 0) return;
      const x: MessageCtx = { meta, recent: view.showsRecent && view.isRecent(meta.uid), seq, maxSeq: view.exists, maxUid, index };
      if (exact || (indexOnly ? evaluate(crit, x) === true : await matches(crit, plan, x, store, account, view.mailboxId))) {
        found.uids.push(meta.uid);
        found.modseqs.set(meta.uid, meta.modseq);
      }
    });
  }
  found.uids.sort((a, b) => a - b);
  return found;
}

/** The UIDs (ascending) that this session's view holds, and their sequence numbers, in one walk over both lists. */
function inView(view: SelectedView, uids: Uid[]): { uids: Uid[]; seqs: Uint32Array } {
  const seqs = view.uids.seqsOf(uids);
  if (!seqs.includes(0)) return { uids, seqs };
  return { uids: uids.filter((_, i) => seqs[i] !== 0), seqs: seqs.filter((n) => n !== 0) };
}

/**
 * " 2 3 5 ..." as bytes, written digit by digit: a SEARCH answer of 25 000 numbers
 * without a string per number (RFC 9051 §7.3.4 mailbox-data "SEARCH" *(SP nz-number)).
 */
export function spacedNumbers(nums: ArrayLike<number>): Buffer {
  const buf = Buffer.allocUnsafe(nums.length * 11); // SP and up to 10 digits (32-bit numbers)
  let p = 0;
  for (let i = 0; i < nums.length; i++) {
    let v = nums[i]!;
    buf[p++] = 32;
    let digits = 1;
    for (let x = v; x >= 10; x = (x / 10) >>> 0) digits++;
    p += digits;
    for (let q = p - 1; q >= p - digits; q--) {
      const next = (v / 10) >>> 0;
      buf[q] = 48 + v - next * 10;
      v = next;
    }
  }
  return buf.subarray(0, p);
}

function maxModseq(found: Found, uids: readonly Uid[]): number {
  let max = 0;
  for (const u of uids) max = Math.max(max, found.modseqs.get(u) ?? 0);
  return max;
}

/**
 * "* ESEARCH (TAG "a1") UID MIN 2 MAX 9 COUNT 3 ALL 2,5:9 MODSEQ 17" (RFC 4731 §3.1).
 * SAVE alone gets no ESEARCH (RFC 9051 §6.4.4.2). MODSEQ when the search used it
 * (RFC 7162 §3.1.5, RFC 4731 §3.2): with MIN or MAX alone, the mod-sequence of that
 * message; with MIN and MAX alone, the higher of the two; else the highest of all
 * messages found.
 */
function writeEsearch(enc: Encoder, tag: string, byUid: boolean, opts: Set<string>, found: Found, nums: number[], modseq: boolean, partial?: [number, number]): void {
  const hits = found.uids;
  if (opts.size === 1 && opts.has('SAVE')) return;
  enc.raw('* ESEARCH (TAG ').quoted(tag).raw(')');
  if (byUid) enc.raw(' UID');
  if (nums.length > 0) {
    if (opts.has('MIN')) enc.raw(` MIN ${nums[0]}`);
    if (opts.has('MAX')) enc.raw(` MAX ${nums[nums.length - 1]}`);
    if (opts.has('ALL')) enc.raw(` ALL ${compactSet(nums)}`);
  }
  if (opts.has('COUNT')) enc.raw(` COUNT ${nums.length}`);
  if (partial) enc.raw(partialData(partial, nums, compactSet)); // RFC 5267 §4.4, mailbox order
  if (modseq && hits.length > 0) {
    const onlyMinMax = !opts.has('ALL') && !opts.has('COUNT') && (opts.has('MIN') || opts.has('MAX'));
    const returned = onlyMinMax ? [...(opts.has('MIN') ? [hits[0]!] : []), ...(opts.has('MAX') ? [hits[hits.length - 1]!] : [])] : hits;
    enc.raw(` MODSEQ ${maxModseq(found, returned)}`);
  }
  enc.crlf();
}

export const search: CommandSpec = { name: 'SEARCH', states: SELECTED, usesSeqs: true, handle: (c, p) => runSearch(c, p, false) };
export const uidSearch: CommandSpec = { name: 'UID SEARCH', states: SELECTED, handle: (c, p) => runSearch(c, p, true) };
