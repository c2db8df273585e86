// SORT / UID SORT — RFC 5256 §3, SORT=DISPLAY RFC 5957, ESORT RFC 5267 §3, PARTIAL RFC 5267 §4.4
// sort = ["UID" SP] "SORT" [SP sort-return-opts] SP sort-criteria SP search-criteria
// sort-criteria = "(" sort-criterion *(SP sort-criterion) ")"
// sort-criterion = ["REVERSE" SP] sort-key
// sort-key = "ARRIVAL" / "CC" / "DATE" / "FROM" / "SIZE" / "SUBJECT" / "TO" / "DISPLAYFROM" / "DISPLAYTO"
// sort-return-opts = "RETURN" SP "(" [sort-return-opt *(SP sort-return-opt)] ")"
// Results: "* SORT 5 3 4 1 2" or, with RETURN, "* ESEARCH (TAG "a") [UID] MIN 5 MAX 2 COUNT 5 ALL 5,3:4,1:2".
// RETURN (UPDATE): CONTEXT=SORT (RFC 5267 §4.3, src/imap/context.ts).
import { supportsSort, type Uid } from '../../store/types.js';
import type { SortCriterion, SortKeyName } from '../../store/sortkeys.js';
import { ImapBad, ImapNo } from '../errors.js';
import type { Encoder } from '../wire/encoder.js';
import type { Parser } from '../wire/parser.js';
import { runProgram, type Program } from '../sort/program.js';
import { accountOf, compactSet, viewOf } from './helpers.js';
import { parseReturn, partialData, SORT_RETURN, type ReturnOpts } from './search/return-opts.js';
import { addContext, checkTagFree } from '../context.js';
import { SELECTED, type CommandContext, type CommandSpec } from './types.js';

const KEYS: Record<string, SortKeyName> = {
  ARRIVAL: 'arrival',
  CC: 'cc',
  DATE: 'date',
  FROM: 'from',
  SIZE: 'size',
  SUBJECT: 'subject',
  TO: 'to',
  DISPLAYFROM: 'displayfrom', // RFC 5957 §3
  DISPLAYTO: 'displayto',
};

export function parseSortCriteria(p: Parser): SortCriterion[] {
  const by: SortCriterion[] = [];
  p.parenList(() => {
    let reverse = false;
    let k = p.atom().toUpperCase();
    if (k === 'REVERSE') {
      reverse = true;
      p.sp();
      k = p.atom().toUpperCase();
    }
    const key = KEYS[k];
    if (!key) throw new ImapBad(`Unknown sort key ${k}`);
    by.push({ key, reverse });
  }, false);
  return by;
}

async function runSort(c: CommandContext, p: Parser, byUid: boolean): Promise<void> {
  p.sp();
  let ret: ReturnOpts | undefined;
  if (p.tryTake('RETURN ')) {
    ret = parseReturn(p, SORT_RETURN);
    p.sp();
  }
  const by = parseSortCriteria(p);
  p.sp();
  const view = viewOf(c);
  const prog = await runProgram(c, p, () => {
    if (ret?.opts.has('UPDATE')) checkTagFree(view, c.tag); // RFC 5267 §4.3
  });
  const store = c.conn.ctx.store;
  if (!supportsSort(store)) throw new ImapNo('SORT is not available on this store', 'CANNOT');
  const sorted: Uid[] = [];
  const nums: number[] = [];
  if (prog.any) {
    for (const u of await store.sortUids(accountOf(c), view.mailboxId, by, prog.all ? undefined : prog.uids)) {
      const seq = view.seqOf(u);
      if (seq === 0) continue; // not yet announced to this client: not found
      sorted.push(u);
      nums.push(byUid ? u : seq);
    }
  }
  const enc = c.conn.encoder();
  if (ret) writeEsort(enc, c.tag, byUid, ret, nums, prog, sorted);
  else {
    enc.raw(nums.length > 0 ? `* SORT ${nums.join(' ')}` : '* SORT');
    if (prog.modseqs && sorted.length > 0) enc.raw(` (MODSEQ ${maxModseq(prog, sorted)})`); // RFC 7162 §3.1.5
    enc.crlf();
  }
  if (ret?.opts.has('UPDATE')) addContext(view, enc, { tag: c.tag, byUid, crit: prog.crit, sort: by, result: sorted }); // RFC 5267 §4.3
  await c.conn.send(enc);
}

function maxModseq(prog: Program, uids: readonly Uid[]): number {
  let max = 0;
  for (const u of uids) max = Math.max(max, prog.modseqs!.get(u) ?? 0);
  return max;
}

/** RFC 5267 §3: MIN and MAX are the first and last in sort order; ALL keeps that order. */
function writeEsort(enc: Encoder, tag: string, byUid: boolean, ret: ReturnOpts, nums: number[], prog: Program, uids: Uid[]): void {
  enc.raw('* ESEARCH (TAG ').quoted(tag).raw(')');
  if (byUid) enc.raw(' UID');
  const o = ret.opts;
  if (nums.length > 0) {
    if (o.has('MIN')) enc.raw(` MIN ${nums[0]}`);
    if (o.has('MAX')) enc.raw(` MAX ${nums[nums.length - 1]}`);
    if (o.has('ALL')) enc.raw(` ALL ${compactSet(nums)}`);
  }
  if (o.has('COUNT')) enc.raw(` COUNT ${nums.length}`);
  if (ret.partial) enc.raw(partialData(ret.partial, nums, compactSet)); // RFC 5267 §4.4, sort order
  if (prog.modseqs && uids.length > 0) enc.raw(` MODSEQ ${maxModseq(prog, uids)}`);
  enc.crlf();
}

export const sort: CommandSpec = { name: 'SORT', states: SELECTED, usesSeqs: true, handle: (c, p) => runSort(c, p, false) };
export const uidSort: CommandSpec = { name: 'UID SORT', states: SELECTED, handle: (c, p) => runSort(c, p, true) };
