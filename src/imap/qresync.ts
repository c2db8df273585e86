/**
 * QRESYNC (RFC 7162 §3.2): what SELECT/EXAMINE with the QRESYNC parameter and
 * UID FETCH (CHANGEDSINCE n VANISHED) tell a client that comes back: the UIDs expunged
 * since the modseq it knew, as `* VANISHED (EARLIER) uid-set` (§3.2.10), and the
 * messages whose flags changed since then.
 *
 * The store remembers expunges up to a bound (types.ts Vanished). When the client's
 * modseq is older than what is kept, the answer is every UID the client may know (its
 * known-uids, or 1:UIDNEXT-1) that is not in the mailbox now: a superset the RFC allows
 * (§3.2.5.2; a client ignores UIDs it does not know, §3.2.10), narrowed by the
 * seq-match-data when the client sent it (§3.2.5.2).
 */
import type { AccountId, MailStore, Uid } from '../store/types.js';
import { compactSet } from './commands/helpers.js';
import { ImapBad } from './errors.js';
import type { SelectedView } from './session.js';
import type { Encoder } from './wire/encoder.js';
import type { Parser, SeqSet } from './wire/parser.js';

export type UidRange = [number, number];

/** select-param "QRESYNC" SP "(" uidvalidity SP mod-sequence-value [SP known-uids] [SP seq-match-data] ")" */
export interface QresyncParam {
  uidValidity: number;
  modseq: number;
  knownUids?: SeqSet;
  /** seq-match-data = "(" known-sequence-set SP known-uid-set ")" */
  seqMatch?: { seqs: SeqSet; uids: SeqSet };
}

/** Parses the parenthesised value after "QRESYNC" (RFC 7162 §3.2.5, §7 grammar). */
export function parseQresyncParam(p: Parser): QresyncParam {
  p.sp();
  p.take('(');
  const uidValidity = p.nzNumber();
  p.sp();
  const out: QresyncParam = { uidValidity, modseq: p.number(true) };
  if (p.trySp()) {
    if (p.peek() !== '(') out.knownUids = p.sequenceSet();
    if (p.peek() === '(' || (out.knownUids && p.trySp())) {
      p.take('(');
      const seqs = p.sequenceSet();
      p.sp();
      const uids = p.sequenceSet();
      p.take(')');
      out.seqMatch = { seqs, uids };
    }
  }
  p.take(')');
  return out;
}

/** A set as sorted, merged ranges, "*" being `star` (RFC 9051 §9). */
export function rangesOf(set: SeqSet, star: number): UidRange[] {
  const rs = set
    .map(([a, b]): UidRange => {
      const x = a === Infinity ? star : a;
      const y = b === Infinity ? star : b;
      return [Math.min(x, y), Math.max(x, y)];
    })
    .filter(([lo]) => lo >= 1)
    .sort((r, s) => r[0] - s[0]);
  const out: UidRange[] = [];
  for (const r of rs) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else out.push([r[0], r[1]]);
  }
  return out;
}

function inRanges(ranges: readonly UidRange[], n: number): boolean {
  for (const [lo, hi] of ranges) if (n >= lo && n <= hi) return true;
  return false;
}

/** The numbers of `ranges` not in the ascending `present`, as ranges (no per-UID list for 1:4000000). */
export function gaps(ranges: readonly UidRange[], present: ArrayLike<number>): UidRange[] {
  const out: UidRange[] = [];
  let i = 0;
  for (const [lo, hi] of ranges) {
    while (i < present.length && present[i]! < lo) i++;
    let next = lo;
    while (i < present.length && present[i]! <= hi) {
      if (present[i]! > next) out.push([next, present[i]! - 1]);
      next = present[i]! + 1;
      i++;
    }
    if (next <= hi) out.push([next, hi]);
  }
  return out;
}

function rangeText(ranges: readonly UidRange[]): string {
  return ranges.map(([a, b]) => (a === b ? `${a}` : `${a}:${b}`)).join(',');
}

/**
 * RFC 7162 §3.2.5.2: pairs of (sequence number, UID) the client had. The highest pair
 * that still holds means no message below that UID was expunged (the same number of
 * messages lie below it, and new ones only come above): returns that UID, or 0.
 */
function matchedFloor(view: SelectedView, m: { seqs: SeqSet; uids: SeqSet }): number {
  const seqs = rangesOf(m.seqs, view.exists).flatMap(([a, b]) => expand(a, b));
  const uids = rangesOf(m.uids, view.uidNext - 1).flatMap(([a, b]) => expand(a, b));
  if (seqs.length !== uids.length || seqs.length === 0) return 0;
  let floor = 0;
  for (let i = 0; i < seqs.length; i++) if (view.uidAt(seqs[i]!) === uids[i]) floor = uids[i]!;
  return floor;
}

/** Bounded: seq-match-data is a client's small sample; refuse a huge one. */
function expand(a: number, b: number): number[] {
  if (b - a > 10_000) throw new ImapBad('seq-match-data too large');
  const out: number[] = [];
  for (let n = a; n <= b; n++) out.push(n);
  return out;
}

/**
 * The UIDs to report in VANISHED (EARLIER), as sequence-set text ('' for none): those
 * expunged after `since` within `scope` (the client's known UIDs, the UID FETCH set).
 */
export async function vanishedText(
  store: MailStore,
  account: AccountId,
  view: SelectedView,
  since: number,
  scope: readonly UidRange[],
  seqMatch?: { seqs: SeqSet; uids: SeqSet },
): Promise<string> {
  const v = await store.vanished(account, view.mailboxId, since);
  if (v.complete) return compactSet(v.uids.filter((u) => inRanges(scope, u)));
  // Forgotten expunges (the bound): every UID in scope not here now (module comment).
  const floor = seqMatch ? matchedFloor(view, seqMatch) : 0;
  const narrowed = scope.map(([lo, hi]): UidRange => [Math.max(lo, floor + 1), Math.min(hi, view.uidNext - 1)]).filter(([lo, hi]) => lo <= hi);
  return rangeText(gaps(narrowed, view.uids.slice(1, view.uids.length)));
}

/** `* VANISHED (EARLIER) 41,43:116` when there is anything to say (RFC 7162 §3.2.10). */
export function writeVanishedEarlier(enc: Encoder, text: string): void {
  if (text !== '') enc.raw(`* VANISHED (EARLIER) ${text}\r\n`);
}

/**
 * After SELECT/EXAMINE (QRESYNC ...) with a matching UIDVALIDITY (RFC 7162 §3.2.5):
 * VANISHED (EARLIER), then `* n FETCH (UID u FLAGS (..) MODSEQ (m))` for each message
 * changed since the client's modseq, both limited to its known UIDs when it sent them.
 */
export async function writeResync(enc: Encoder, store: MailStore, account: AccountId, view: SelectedView, q: QresyncParam): Promise<void> {
  const scope = q.knownUids ? rangesOf(q.knownUids, view.uidNext - 1) : [[1, Math.max(0, view.uidNext - 1)] as UidRange];
  writeVanishedEarlier(enc, await vanishedText(store, account, view, q.modseq, scope, q.seqMatch));
  if (view.exists === 0) return;
  const changed = await store.fetchMeta(account, view.mailboxId, { changedSince: q.modseq, fields: 'flags' });
  for (const m of changed) {
    if (q.knownUids && !inRanges(scope, m.uid)) continue;
    view.writeFlagsFetch(enc, m.uid as Uid, m.flags, { uid: true, modseq: m.modseq });
  }
}
