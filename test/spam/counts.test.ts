import { describe, expect, it } from 'vitest';
import { CountTable } from '../../src/spam/counts.js';
import { tokenHash } from '../../src/spam/db.js';

/** A small deterministic PRNG, so a failure repeats. */
function rng(seed: number): () => number {
  return () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 4294967296;
  };
}

describe('CountTable (token counts in memory)', () => {
  it('agrees with a Map through inserts, updates, deletes, evictions and growth', () => {
    const t = new CountTable();
    const m = new Map<number, [number, number]>();
    const r = rng(7);
    // Hashes of real tokens (53 bits), and a few that collide on their low bits.
    const keys = Array.from({ length: 5000 }, (_, i) => tokenHash(`token-${i}`));
    keys.push(7, 7 + 4294967296, 7 + 2 * 4294967296, 2 ** 53 - 1, 0);
    for (let step = 0; step < 60_000; step++) {
      const k = keys[Math.floor(r() * keys.length)]!;
      const op = r();
      if (op < 0.6) {
        const v: [number, number] = [Math.floor(r() * 1e6), Math.floor(r() * 1e6)];
        t.set(k, v[0], v[1]);
        m.set(k, v);
      } else if (op < 0.95) {
        t.delete(k);
        m.delete(k);
      } else {
        const before = t.size;
        t.evict(3);
        expect(t.size).toBe(Math.max(0, before - 3));
        // The evicted ones are whichever the table no longer has.
        for (const key of [...m.keys()]) if (t.find(key) < 0) m.delete(key);
      }
      expect(t.size).toBe(m.size);
    }
    for (const k of keys) {
      const slot = t.find(k);
      const want = m.get(k);
      if (!want) expect(slot).toBe(-1);
      else expect([t.ham(slot), t.spam(slot)]).toEqual(want);
    }
    t.evict(t.size + 10);
    expect(t.size).toBe(0);
    expect(keys.every((k) => t.find(k) === -1)).toBe(true);
  });

  it('clear() empties it', () => {
    const t = new CountTable();
    for (let i = 0; i < 3000; i++) t.set(tokenHash(String(i)), i, 1);
    expect(t.size).toBe(3000);
    t.clear();
    expect(t.size).toBe(0);
    expect(t.find(tokenHash('5'))).toBe(-1);
  });
});
