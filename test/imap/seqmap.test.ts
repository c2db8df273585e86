import { describe, expect, it } from 'vitest';
import { RecentRegistry } from '../../src/imap/recent.js';
import { SeqMap } from '../../src/imap/seqmap.js';
import { spacedNumbers } from '../../src/imap/commands/search/search.js';
import type { MailboxId, Uid } from '../../src/store/types.js';

describe('SeqMap (a session sequence map in a Uint32Array)', () => {
  it('maps sequence numbers and UIDs both ways, grows, and shifts on removal', () => {
    const m = new SeqMap([3, 5, 9]);
    expect(m.seqOf(5)).toBe(2);
    expect(m.seqOf(4)).toBe(0);
    for (let u = 10; u < 1000; u++) m.insert(u);
    expect(m.length).toBe(993);
    expect(m.at(993)).toBe(999);
    m.insert(4); // out of order: kept sorted
    expect([...m.slice(1, 4)]).toEqual([3, 4, 5, 9]);
    m.removeAt(2);
    expect(m.seqOf(5)).toBe(2);
    expect(m.at(0)).toBeUndefined();
    expect(m.at(m.length + 1)).toBeUndefined();
    expect([...m.between(6, 11)]).toEqual([9, 10, 11]);
    expect(m.last).toBe(999);
  });

  it('holds the UIDs near 2^32 - 1 (RFC 9051 §2.3.1.1)', () => {
    const m = new SeqMap([1, 0xfffffffe, 0xffffffff]);
    expect(m.seqOf(0xffffffff)).toBe(3);
    expect([...m.between(2, 0xffffffff)]).toEqual([0xfffffffe, 0xffffffff]);
  });
});

describe('SeqMap.seqsOf (a SEARCH answer mapped to sequence numbers)', () => {
  const uids = Array.from({ length: 5000 }, (_, i) => 3 * i + 7); // 7, 10, 13, ...
  const m = new SeqMap(uids);

  it('agrees with seqOf for UIDs present, absent, below, between and above the map', () => {
    const asked = [1, 6, 7, 8, 10, 13, 4000, 4003, 4004, 15_004, 15_005, 99_999];
    expect([...m.seqsOf(asked)]).toEqual(asked.map((u) => m.seqOf(u)));
    expect(m.seqsOf(asked)[2]).toBe(1);
    expect(m.seqsOf([uids[4999]!])[0]).toBe(5000);
  });

  it('answers every UID of the map, sparse picks, and UIDs out of order', () => {
    expect([...m.seqsOf(uids)]).toEqual(uids.map((_, i) => i + 1));
    const sparse = uids.filter((_, i) => i % 997 === 0);
    expect([...m.seqsOf(sparse)]).toEqual(sparse.map((u) => m.seqOf(u)));
    const shuffled = [uids[4000]!, uids[3]!, 2, uids[4999]!, uids[0]!];
    expect([...m.seqsOf(shuffled)]).toEqual([4001, 4, 0, 5000, 1]);
    expect(new SeqMap().seqsOf([1, 2])).toEqual(new Uint32Array([0, 0]));
    expect(m.seqsOf([])).toHaveLength(0);
  });

  it('maps a map without gaps by distance, and searches again once a removal made one', () => {
    const dense = new SeqMap(Array.from({ length: 1000 }, (_, i) => i + 501)); // 501..1500
    const asked = [1, 500, 501, 502, 1000, 1500, 1501, 0xffffffff];
    expect([...dense.seqsOf(asked)]).toEqual([0, 0, 1, 2, 500, 1000, 0, 0]);
    expect(asked.map((u) => dense.seqOf(u))).toEqual([0, 0, 1, 2, 500, 1000, 0, 0]);
    dense.removeAt(2); // UID 502 expunged: 503 is now message 2
    expect([...dense.seqsOf([501, 502, 503, 1500])]).toEqual([1, 0, 2, 999]);
    expect([dense.seqOf(502), dense.seqOf(503), dense.seqOf(1500)]).toEqual([0, 2, 999]);
    dense.insert(1501);
    expect(dense.seqOf(1501)).toBe(1000);
  });

  it('writes the numbers of a SEARCH answer as " n" bytes, 32-bit numbers included', () => {
    const nums = [1, 9, 10, 99, 100, 12345, 2 ** 31, 0xffffffff];
    expect(spacedNumbers(nums).toString()).toBe(' ' + nums.join(' '));
    expect(spacedNumbers(new Uint32Array(0)).length).toBe(0);
  });
});

describe('RecentRegistry on a large first open', () => {
  it('claims 200 000 never-opened messages without spreading them as call arguments', () => {
    const r = new RecentRegistry();
    const uids = Array.from({ length: 200_000 }, (_, i) => (i + 1) as Uid);
    const claimed = r.claimAtSelect('a@example.test', 1 as MailboxId, uids, 200_001, uids.slice(20_000));
    expect(claimed).toHaveLength(180_000);
    expect(claimed[0]).toBe(20_001);
  });
});
