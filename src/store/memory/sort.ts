/**
 * SupportsSort for the memory store: keys computed from the message bytes on first
 * need and kept beside the message (a message's bytes never change), sorted by the
 * reference order (src/store/sortkeys.ts compareKeys).
 */
import { compareKeys, headerOf, sortKeysOf, type SortCriterion, type StoredSortKeys } from '../sortkeys.js';
import type { Uid } from '../types.js';
import type { MemMailbox, MemMessage } from './state.js';

const cache = new WeakMap<MemMessage, StoredSortKeys>();

export function keysOf(m: MemMessage, rfc822Size: number): StoredSortKeys {
  let k = cache.get(m);
  if (!k || k.uid !== m.uid) {
    const { sent, ...rest } = sortKeysOf(headerOf(m.data));
    // RFC 5256 §2.2: no usable Date header, the INTERNALDATE.
    k = { ...rest, uid: m.uid, sent: sent ?? m.internalDate, arrival: m.internalDate, size: rfc822Size };
    cache.set(m, k);
  }
  return k;
}

/** The keys of the mailbox's messages (those in `uids` when given), ascending by UID. */
export function mailboxKeys(mb: MemMailbox, sizeOf: (m: MemMessage) => number, uids?: readonly Uid[]): StoredSortKeys[] {
  const wanted = uids ? new Set<number>(uids) : undefined;
  const out: StoredSortKeys[] = [];
  for (const m of mb.messages.values()) if (!wanted || wanted.has(m.uid)) out.push(keysOf(m, sizeOf(m)));
  return out.sort((a, b) => a.uid - b.uid);
}

export function sortedUids(keys: StoredSortKeys[], by: readonly SortCriterion[]): Uid[] {
  return keys.sort(compareKeys(by)).map((k) => k.uid as Uid);
}
