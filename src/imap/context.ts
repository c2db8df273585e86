/**
 * CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 §4): searches that stay live. A SEARCH,
 * UID SEARCH, SORT or UID SORT with RETURN (UPDATE ...) leaves an update context in the
 * selected view; while the mailbox stays selected the session is told how the result
 * changes, as `* ESEARCH (TAG "t") [UID] REMOVEFROM (pos set) ADDTO (pos set)`.
 *
 * Where the updates come from: the same queue of store changes that gives the session
 * its EXISTS, EXPUNGE and FETCH FLAGS (session.ts `pending`, written by `flush`).
 * `flushContexts` wraps that flush (dispatch.ts `flushPending`, at the end of each
 * command, in IDLE and in NOTIFY pushes), so an update goes out at the point where its
 * cause does (RFC 5267 §4.3.2: "emit ADDTO when they normally emit the causal FETCH or
 * EXISTS, and similarly emit REMOVEFROM when they normally emit the causal FETCH or
 * EXPUNGE"):
 * - before the flush, for the expunges it will tell: REMOVEFROM with the sequence
 *   numbers they still have, "prior to the expunge notification itself" (§4.3.4); an
 *   expunge that must wait (no EXPUNGE during FETCH, STORE, SEARCH — RFC 9051 §7.5.1)
 *   keeps its message in every result until it goes out;
 * - after the flush, for the messages it added and those whose flags changed: each
 *   context's search program is run on those messages only (Appendix B), or on the
 *   whole mailbox when many changed, and the difference is told: ADDTO after the
 *   EXISTS that numbered the message (§4.3.3).
 *
 * Coalescing: one ESEARCH line per context per flush, whatever the number of changes
 * since the last one; its sets are compacted (SEARCH: position 0 and mailbox order,
 * §4.3.3–4.3.4 "servers are RECOMMENDED to order the result update into mailbox order";
 * SORT: runs of consecutive positions).
 *
 * Limits: MAX_CONTEXTS per selected mailbox; one more gets `* NO [NOUPDATE "tag"]` and
 * the command's other return options are still honoured (§4.3.1). Sequence numbers in a
 * search program are evaluated when the command is received (§4.3, RFC 3501 erratum),
 * so they are turned into the UIDs they named.
 */
import type { AccountId, MailStore, Uid } from '../store/types.js';
import { supportsSort } from '../store/types.js';
import type { SortCriterion } from '../store/sortkeys.js';
import { compactSet } from './commands/helpers.js';
import type { Criterion } from './commands/search/criteria.js';
import { findHits } from './commands/search/search.js';
import { mapKeys, rangesOf } from './commands/search/searchres.js';
import { ImapBad } from './errors.js';
import type { FlushPoint, PendingChange, SelectedView } from './session.js';
import type { Encoder } from './wire/encoder.js';
import { SAVED_SET } from './wire/parser.js';

/**
 * Update contexts per selected mailbox. RFC 5267 §4.3.1: at least one MUST be given;
 * Dovecot-like servers allow a few. Each costs one search of the changed messages per flush.
 */
export const MAX_CONTEXTS = 5;

/** Above this many changed messages a flush runs each program on the whole mailbox instead. */
const WHOLE_MAILBOX = 2000;

export interface UpdateContext {
  tag: string;
  /** UID SEARCH / UID SORT: the updates carry UIDs, else sequence numbers (§4.3.2). */
  byUid: boolean;
  /** The search program, its sequence numbers turned into UIDs. */
  crit: Criterion;
  /** SORT contexts: the order; positions in ADDTO/REMOVEFROM are positions in it. */
  sort?: readonly SortCriterion[];
  /** The result as the client has it: ascending UIDs (SEARCH) or in sort order (SORT). */
  result: Uid[];
}

export class ContextSet {
  readonly contexts = new Map<string, UpdateContext>();
  private chain: Promise<void> = Promise.resolve();

  /** One flush at a time (IDLE, a NOTIFY push and a command's end may all want one). */
  serial(f: () => Promise<void>): Promise<void> {
    const next = this.chain.then(f);
    this.chain = next.catch(() => undefined);
    return next;
  }
}

const byView = new WeakMap<SelectedView, ContextSet>();

/** The view's update contexts, undefined when it has none (the usual case). */
export function contextsOf(view: SelectedView): ContextSet | undefined {
  const s = byView.get(view);
  return s && s.contexts.size > 0 ? s : undefined;
}

/** RFC 5267 §4.3: UPDATE with a tag still in use by an earlier UPDATE "SHALL" be BAD. */
export function checkTagFree(view: SelectedView, tag: string): void {
  if (byView.get(view)?.contexts.has(tag)) throw new ImapBad(`Tag reuse: ${tag} already names an update context`);
}

/**
 * Keeps a context for the view, or writes `* NO [NOUPDATE "tag"]` when the view has
 * MAX_CONTEXTS already (RFC 5267 §4.3.1). `result` as the command found it.
 */
export function addContext(view: SelectedView, enc: Encoder, ctx: UpdateContext): void {
  let s = byView.get(view);
  if (!s) byView.set(view, (s = new ContextSet()));
  if (s.contexts.size >= MAX_CONTEXTS) {
    enc.raw('* NO [NOUPDATE ').quoted(ctx.tag).raw(`] Too many update contexts (at most ${MAX_CONTEXTS})\r\n`);
    return;
  }
  s.contexts.set(ctx.tag, { ...ctx, crit: freezeSeqs(ctx.crit, view) });
}

/** CANCELUPDATE (RFC 5267 §4.3.5): the tags not known, or [] when all were cancelled. */
export function cancelContexts(view: SelectedView, tags: readonly string[]): string[] {
  const s = byView.get(view);
  const unknown = tags.filter((t) => !s?.contexts.has(t));
  if (unknown.length === 0) for (const t of tags) s!.contexts.delete(t);
  return unknown;
}

/** The program with its sequence sets (and "$") replaced by the UIDs they name now (RFC 5267 §4.3). */
function freezeSeqs(c: Criterion, view: SelectedView): Criterion {
  return mapKeys(c, (x) => {
    if (x.k === 'seq') return { k: 'uid', set: rangesOf(view.uidsForSeqSet(x.set)) }; // "$" too (RFC 5182 §2.1)
    if (x.k === 'uid' && x.set === SAVED_SET) return { k: 'uid', set: rangesOf(view.savedUids()) };
    return x;
  });
}

/**
 * The view's flush (session.ts) with the update contexts' ESEARCH lines around it
 * (module comment). Writes into `enc`; the caller sends it.
 */
export async function flushContexts(store: MailStore, account: AccountId, view: SelectedView, set: ContextSet, enc: Encoder, at: FlushPoint): Promise<void> {
  const queue = view.pending.slice();
  if (at.expunge) removeExpunged(view, set, enc, queue);
  view.flush(enc, at);
  const touched = new Set<Uid>();
  for (const ch of queue) {
    if (ch.kind === 'added') for (const u of ch.uids) touched.add(u);
    else if (ch.kind === 'flags') for (const fc of ch.changes) touched.add(fc.uid);
  }
  if (touched.size === 0) return;
  for (const ctx of set.contexts.values()) {
    try {
      await refresh(store, account, view, ctx, enc, touched);
    } catch {
      // A store that failed now answers at the next flush: the result is left as it was.
    }
  }
}

/** REMOVEFROM for the messages the flush is about to expunge, with their numbers as they are. */
function removeExpunged(view: SelectedView, set: ContextSet, enc: Encoder, queue: readonly PendingChange[]): void {
  const gone = new Set<Uid>();
  for (const ch of queue) if (ch.kind === 'expunged') for (const u of ch.uids) if (view.seqOf(u) > 0) gone.add(u);
  if (gone.size === 0) return;
  for (const ctx of set.contexts.values()) {
    const text = removeFrom(view, ctx, gone);
    if (text) writeUpdate(enc, ctx, text);
  }
}

/** Runs the program on the touched messages and tells the difference. */
async function refresh(store: MailStore, account: AccountId, view: SelectedView, ctx: UpdateContext, enc: Encoder, touched: ReadonlySet<Uid>): Promise<void> {
  const cands = [...touched].filter((u) => view.seqOf(u) > 0).sort((a, b) => a - b);
  if (cands.length === 0) return;
  const whole = cands.length > WHOLE_MAILBOX;
  const crit: Criterion = whole ? ctx.crit : { k: 'and', cs: [{ k: 'uid', set: rangesOf(cands) }, ctx.crit] };
  const hits = new Set((await findHits(store, account, view, crit, false)).uids);
  // A message whose expunge waits for a point that allows it stays where it is (module comment).
  const waiting = new Set<Uid>();
  for (const ch of view.pending) if (ch.kind === 'expunged') for (const u of ch.uids) waiting.add(u);
  const scope = whole ? undefined : touched;
  const dropped = new Set(ctx.result.filter((u) => !hits.has(u) && !waiting.has(u) && (!scope || scope.has(u))));
  const member = new Set(ctx.result);
  const added = [...hits].filter((u) => !member.has(u) && view.seqOf(u) > 0);
  const parts: string[] = [];
  try {
    const removed = dropped.size > 0 ? removeFrom(view, ctx, dropped) : '';
    if (removed) parts.push(removed);
    if (added.length > 0) {
      const text = ctx.sort ? await addSorted(store, account, view, ctx, added) : addUnsorted(view, ctx, added);
      if (text) parts.push(text);
    }
  } finally {
    // What changed in the result is told even when the store failed on the rest.
    if (parts.length > 0) writeUpdate(enc, ctx, parts.join(' '));
  }
}

function writeUpdate(enc: Encoder, ctx: UpdateContext, data: string): void {
  enc.raw('* ESEARCH (TAG ').quoted(ctx.tag).raw(ctx.byUid ? ') UID ' : ') ').raw(data).raw('\r\n');
}

function numOf(view: SelectedView, ctx: UpdateContext, u: Uid): number {
  return ctx.byUid ? u : view.seqOf(u);
}

/**
 * Takes `gone` out of the result: "REMOVEFROM (0 set)" for a SEARCH context (§4.3.4,
 * mailbox order), "REMOVEFROM (pos run pos run)" for a SORT context, each run a block
 * of consecutive positions, each position as the list is after the runs before it.
 */
function removeFrom(view: SelectedView, ctx: UpdateContext, gone: ReadonlySet<Uid>): string {
  const keep: Uid[] = [];
  const pairs: string[] = [];
  const nums: number[] = [];
  let run: number[] = [];
  let runAt = 0;
  const endRun = (): void => {
    if (run.length > 0) pairs.push(`${runAt} ${compactSet(run)}`);
    run = [];
  };
  for (const u of ctx.result) {
    if (!gone.has(u)) {
      endRun();
      keep.push(u);
      continue;
    }
    if (!ctx.sort) nums.push(numOf(view, ctx, u));
    else {
      if (run.length === 0) runAt = keep.length + 1;
      run.push(numOf(view, ctx, u));
    }
  }
  endRun();
  if (keep.length === ctx.result.length) return '';
  ctx.result = keep;
  return ctx.sort ? `REMOVEFROM (${pairs.join(' ')})` : `REMOVEFROM (0 ${compactSet(nums.sort((a, b) => a - b))})`;
}

/** SEARCH context: "ADDTO (0 set)" in mailbox order (§4.3.3); the result stays ascending. */
function addUnsorted(view: SelectedView, ctx: UpdateContext, added: Uid[]): string {
  added.sort((a, b) => a - b);
  ctx.result = mergeAscending(ctx.result, added);
  return `ADDTO (0 ${compactSet(added.map((u) => numOf(view, ctx, u)))})`;
}

/**
 * SORT context: the store sorts the result with the new messages (sort keys never
 * change, so the old ones keep their order); each new message goes after the old one
 * that precedes it in that order (a message whose expunge waits, which the store no
 * longer has, keeps its place). "ADDTO (pos run ...)": each run of new messages at the
 * position its first one now has, ascending, so each insertion lands where the final
 * list has it (§4.3.3).
 */
async function addSorted(store: MailStore, account: AccountId, view: SelectedView, ctx: UpdateContext, added: Uid[]): Promise<string> {
  if (!supportsSort(store)) return '';
  const fresh = new Set(added);
  const all = mergeAscending([...ctx.result].sort((a, b) => a - b), [...added].sort((a, b) => a - b));
  const order = await store.sortUids(account, view.mailboxId, ctx.sort!, all);
  // New messages after each old one (0: before the first old one).
  const after = new Map<Uid | 0, Uid[]>();
  let anchor: Uid | 0 = 0;
  for (const u of order) {
    if (!fresh.has(u)) anchor = u;
    else if (view.seqOf(u) > 0) {
      const list = after.get(anchor);
      if (list) list.push(u);
      else after.set(anchor, [u]);
    }
  }
  const result: Uid[] = [...(after.get(0) ?? [])];
  for (const u of ctx.result) result.push(u, ...(after.get(u) ?? []));
  const pairs: string[] = [];
  let run: number[] = [];
  let runAt = 0;
  result.forEach((u, i) => {
    if (fresh.has(u)) {
      if (run.length === 0) runAt = i + 1;
      run.push(numOf(view, ctx, u));
    } else if (run.length > 0) {
      pairs.push(`${runAt} ${compactSet(run)}`);
      run = [];
    }
  });
  if (run.length > 0) pairs.push(`${runAt} ${compactSet(run)}`);
  ctx.result = result;
  return pairs.length > 0 ? `ADDTO (${pairs.join(' ')})` : '';
}

function mergeAscending(a: readonly Uid[], b: readonly Uid[]): Uid[] {
  const out: Uid[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i]! < b[j]!)) out.push(a[i++]!);
    else if (i < a.length && a[i] === b[j]) {
      out.push(a[i++]!);
      j++;
    } else out.push(b[j++]!);
  }
  return out;
}
