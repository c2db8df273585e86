/**
 * Random text from a pool of crypto random bytes refilled 4 KB at a time, for the ids
 * made per message or connection (spool names, transaction ids, EMAILIDs, log
 * connection ids, Message-IDs): a `randomBytes(n)` call
 * cost ~7 µs of CPU each, and more beside SQLite on the delivery path (OpenSSL's
 * getpid() per call, and the heap grown and trimmed around each small buffer: about
 * 40 µs per delivered message for the EMAILID alone); the pool makes it a slice.
 */
import { randomFillSync } from 'node:crypto';

const pool = Buffer.alloc(4096);
let used = pool.length;

function take(bytes: number, encoding: 'hex' | 'base64url'): string {
  if (used + bytes > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  const s = pool.toString(encoding, used, used + bytes);
  used += bytes;
  return s;
}

/** `bytes` fresh random bytes as lower-case hex (bytes ≤ 64). */
export function randomHex(bytes: number): string {
  return take(bytes, 'hex');
}

/** `bytes` fresh random bytes as base64url (bytes ≤ 64). */
export function randomBase64url(bytes: number): string {
  return take(bytes, 'base64url');
}
