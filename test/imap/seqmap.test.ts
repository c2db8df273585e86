import { describe, expect, it } from 'vitest';
import { RecentRegistry } from '../../src/imap/recent.js';
import { SeqMap } from '../../src/imap/seqmap.js';
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

describe('RecentRegistry on a large first open', () => {
  it('claims 200 000 never-opened messages without spreading them as call arguments', () => {
    const r = new RecentRegistry();
    const uids = Array.from({ length: 200_000 }, (_, i) => (i + 1) as Uid);
    const claimed = r.claimAtSelect('a@example.test', 1 as MailboxId, uids, 200_001, uids.slice(20_000));
    expect(claimed).toHaveLength(180_000);
    expect(claimed[0]).toBe(20_001);
  });
});
