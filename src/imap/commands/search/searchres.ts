// SEARCHRES (RFC 5182; RFC 9051 §6.4.4.1): "$" in a search key is the saved result, and
// SEARCH RETURN (SAVE) replaces it. The result is kept as UIDs in the selected view
// (session.ts `saved`), so a message expunged since drops out (§2.1).
import type { Uid } from '../../../store/types.js';
import type { SelectedView } from '../../session.js';
import { SAVED_SET, type SeqSet } from '../../wire/parser.js';
import type { Criterion } from './criteria.js';

/** Ascending UIDs as ranges, the form of a UID search key. */
export function rangesOf(uids: readonly Uid[]): SeqSet {
  const out: SeqSet = [];
  for (const u of uids) {
    const last = out[out.length - 1];
    if (last && u === last[1] + 1) last[1] = u;
    else out.push([u, u]);
  }
  return out;
}

/** The criterion with each key under NOT, OR and AND (sub-lists) replaced by `leaf` of it. */
export function mapKeys(c: Criterion, leaf: (c: Criterion) => Criterion): Criterion {
  switch (c.k) {
    case 'not':
      return { k: 'not', c: mapKeys(c.c, leaf) };
    case 'and':
      return { k: 'and', cs: c.cs.map((x) => mapKeys(x, leaf)) };
    case 'or':
      return { k: 'or', a: mapKeys(c.a, leaf), b: mapKeys(c.b, leaf) };
    default:
      return leaf(c);
  }
}

/** The criterion with each "$" (as a sequence set or after UID) replaced by the saved UIDs in the view. */
export function resolveSaved(c: Criterion, view: SelectedView): Criterion {
  return mapKeys(c, (x) => ((x.k === 'seq' || x.k === 'uid') && x.set === SAVED_SET ? { k: 'uid', set: rangesOf(view.savedUids()) } : x));
}

/**
 * What RETURN (SAVE) keeps (RFC 5182 §2.4): with MIN and/or MAX and neither ALL nor
 * COUNT, only those messages; otherwise every message found.
 */
export function toSave(opts: ReadonlySet<string>, found: readonly Uid[]): Uid[] {
  if (found.length === 0) return [];
  if (opts.has('ALL') || opts.has('COUNT') || !(opts.has('MIN') || opts.has('MAX'))) return [...found];
  const out = opts.has('MIN') ? [found[0]!] : [];
  if (opts.has('MAX') && found[found.length - 1] !== out[0]) out.push(found[found.length - 1]!);
  return out;
}
