/**
 * Random hex for spool names and transaction ids, from a pool of crypto random bytes
 * refilled 4 KB at a time: a `randomBytes(n)` call per message cost ~7 µs of CPU each
 * (two per message on port 25), the pool makes it a slice.
 */
import { randomFillSync } from 'node:crypto';

const pool = Buffer.alloc(4096);
let used = pool.length;

/** `bytes` fresh random bytes as lower-case hex (bytes ≤ 64). */
export function randomHex(bytes: number): string {
  if (used + bytes > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  const s = pool.toString('hex', used, used + bytes);
  used += bytes;
  return s;
}
