// SEARCH / UID SEARCH — RFC 9051 §6.4.4, ESEARCH RFC 4731, CONDSTORE RFC 7162 §3.1.5
// search = "SEARCH" [search-return-opts] SP search-program
// search-program = ["CHARSET" SP charset SP] search-key *(SP search-key)
// search-return-opts = SP "RETURN" SP "(" [search-return-opt *(SP search-return-opt)] ")"
// Results: "* SEARCH 2 3 [(MODSEQ n)]" (IMAP4rev1) or "* ESEARCH (TAG "t") [UID] ..."
// (RETURN given, or IMAP4rev2 enabled — RFC 9051 §7.3.4).
import { StoreError, type MessageMeta } from '../../../store/types.js';
import { ImapBad, ImapNo } from '../../errors.js';
import type { Address, Envelope } from '../../mime/index.js';
import { headerText, matchHeader, matchText, sentDayOf, type OpenMessage } from '../../mime-adapter.js';
import { SelectedView } from '../../session.js';
import type { Encoder } from '../../wire/encoder.js';
import type { Parser } from '../../wire/parser.js';
import { accountOf, compactSet, viewOf } from '../helpers.js';
import { SELECTED, type CommandContext, type CommandSpec } from '../types.js';
import { needsContent, searchKey, usesModseq, type Criterion } from './criteria.js';

const RETURN_OPTS = new Set(['MIN', 'MAX', 'COUNT', 'ALL', 'SAVE']);

interface Ctx {
  meta: MessageMeta;
  /** This session's \Recent (RFC 3501 §2.3.2). */
  recent: boolean;
  seq: number;
  maxSeq: number;
  maxUid: number;
  open: OpenMessage;
}

function dayOf(d: Date): number {
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
}

const ENVELOPE_FIELDS = new Set(['subject', 'from', 'to', 'cc', 'bcc']);

function addressText(list: Address[] | null): string[] {
  return (list ?? []).map((a) => [a.name ?? '', a.mailbox && a.host ? `<${a.mailbox}@${a.host}>` : (a.mailbox ?? '')].join(' ').trim());
}

/** Header values from the envelope cached at delivery, without reading the file. */
function fromEnvelope(meta: MessageMeta, field: string): string[] | undefined {
  const env = meta.envelope as Envelope | undefined;
  if (!env || !ENVELOPE_FIELDS.has(field)) return undefined;
  switch (field) {
    case 'subject':
      return env.subject === null ? [] : [env.subject];
    case 'from':
      return addressText(env.from);
    case 'to':
      return addressText(env.to);
    case 'cc':
      return addressText(env.cc);
    default:
      return addressText(env.bcc);
  }
}

/** The criteria that need only index data, evaluated without a promise per message. */
function evaluateSync(c: Criterion, x: Ctx): boolean {
  const m = x.meta;
  switch (c.k) {
    case 'all':
      return true;
    case 'flag': {
      const want = c.flag.toLowerCase();
      let has = false;
      for (const f of m.flags) if (f === c.flag || f.toLowerCase() === want) has = true;
      return has === c.set;
    }
    // RFC 3501 §6.4.4: NEW = RECENT UNSEEN, OLD = NOT RECENT.
    case 'recent':
      return x.recent;
    case 'old':
      return !x.recent;
    case 'new':
      return x.recent && !m.flags.includes('\\Seen');
    case 'seq':
      return SelectedView.inSet(c.set, x.seq, x.maxSeq);
    case 'uid':
      return SelectedView.inSet(c.set, m.uid, x.maxUid);
    case 'size':
      return c.op === 'larger' ? m.size > c.n : m.size < c.n;
    case 'modseq':
      return m.modseq >= c.n;
    case 'date': {
      const day = dayOf(m.internalDate); // only internal dates reach here (needsContent)
      const want = c.day.getTime();
      return c.op === 'before' ? day < want : c.op === 'on' ? day === want : day >= want;
    }
    case 'not':
      return !evaluateSync(c.c, x);
    case 'or':
      return evaluateSync(c.a, x) || evaluateSync(c.b, x);
    case 'and':
      for (const s of c.cs) if (!evaluateSync(s, x)) return false;
      return true;
    default:
      throw new Error(`criterion ${c.k} needs message content`);
  }
}

async function evaluate(c: Criterion, x: Ctx): Promise<boolean> {
  const m = x.meta;
  switch (c.k) {
    case 'date': {
      // SENT*: the Date header's own calendar day; without one, INTERNALDATE (as Dovecot).
      const day = c.which === 'sent' ? ((await sentDayOf(m, x.open))?.getTime() ?? dayOf(m.internalDate)) : dayOf(m.internalDate);
      const want = c.day.getTime();
      return c.op === 'before' ? day < want : c.op === 'on' ? day === want : day >= want;
    }
    case 'header': {
      // FROM/TO/CC/BCC/SUBJECT from the envelope cached at delivery; other fields from the file.
      const values = fromEnvelope(m, c.field);
      if (!values) return matchHeader(m, x.open, c.field, c.value);
      const needle = c.value.toLowerCase();
      if (needle === '') return values.length > 0; // RFC 9051: empty string matches all with the field
      return values.some((v) => headerText(v).toLowerCase().includes(needle));
    }
    case 'body':
    case 'text':
      return matchText(m, x.open, c.k === 'body' ? 'BODY' : 'TEXT', c.value);
    case 'not':
      return !(await evaluate(c.c, x));
    case 'or':
      return (await evaluate(c.a, x)) || (await evaluate(c.b, x));
    case 'and':
      for (const s of sorted(c.cs)) if (!(await evaluate(s, x))) return false;
      return true;
    default:
      // Flags, sequence sets, UIDs, sizes, modseq: from the index, as evaluateSync.
      return evaluateSync(c, x);
  }
}

function sorted(cs: Criterion[]): Criterion[] {
  const rank = { none: 0, header: 1, body: 2 } as const;
  return [...cs].sort((a, b) => rank[needsContent(a)] - rank[needsContent(b)]);
}

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
  const cs: Criterion[] = [searchKey(p)];
  while (p.trySp()) cs.push(searchKey(p));
  p.end();
  const crit: Criterion = cs.length === 1 ? cs[0]! : { k: 'and', cs };
  const conn = c.conn;
  const view = viewOf(c);
  const account = accountOf(c);
  const modseq = usesModseq(crit);
  if (modseq) conn.condstore = true;
  const store = conn.ctx.store;
  const indexOnly = needsContent(crit) === 'none';
  // Index-only criteria (flags, size, dates, UIDs): the light form, no cached envelopes.
  const metas = view.exists > 0 ? await store.fetchMeta(account, view.mailboxId, indexOnly ? { fields: 'flags' } : {}) : [];
  const maxUid = view.uids.length ? view.uids[view.uids.length - 1]! : 0;
  const hits: MessageMeta[] = [];
  for (const meta of metas) {
    const seq = view.seqOf(meta.uid);
    if (seq === 0) continue; // not yet announced to this client
    const x: Ctx = { meta, recent: view.showsRecent && view.isRecent(meta.uid), seq, maxSeq: view.exists, maxUid, open: () => store.readMessage(account, view.mailboxId, meta.uid) };
    if (indexOnly) {
      if (evaluateSync(crit, x)) hits.push(meta);
      continue;
    }
    try {
      if (await evaluate(crit, x)) hits.push(meta);
    } catch (err) {
      // Expunged by another session while we searched: it no longer matches anything.
      if (!(err instanceof StoreError && err.kind === 'nonexistent')) throw err;
    }
  }
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
