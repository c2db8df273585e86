/**
 * Remembers successful password checks for a short time, so a client that logs in again
 * and again (a phone polling, Thunderbird opening a connection per folder) does not pay
 * an scrypt each time. Dovecot's auth cache does the same (auth_cache_ttl).
 *
 * - One entry per account: an HMAC-SHA256 of the password under a secret made at
 *   process start (never stored), and the stored hash the password was checked against.
 *   The password itself is never kept; a memory dump shows only HMACs under a key that
 *   dies with the process.
 * - A hit needs the same account, the same password (compared in constant time), an
 *   unexpired entry, and the account's stored hash unchanged: the caller reads the hash
 *   from the database on every login (one indexed row), so a password changed by the CLI
 *   in another process, a disabled or removed account never logs in from the cache.
 *   Writes through this process's AccountsRepo also forget entries at once (forget/clear).
 * - A wrong password is never a hit and always pays the full check, so the cache tells
 *   an attacker nothing: only the right password is fast.
 * - Bounded: at most MAX_ENTRIES accounts, the oldest dropped first.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const MAX_ENTRIES = 10_000;

interface Entry {
  tag: Buffer;
  /** The stored hash the password matched; the entry is void once the account's hash differs. */
  storedHash: string;
  expires: number;
}

export class AuthCache {
  private readonly secret = randomBytes(32);
  private readonly entries = new Map<string, Entry>();
  /** Checks answered from the cache, and the others (logs, metrics, tests). */
  readonly stats = { hits: 0, misses: 0 };

  /** @param ttlMs how long a check is remembered, read at each use (config reloads); 0 turns the cache off. */
  constructor(private readonly ttlMs: () => number) {}

  /** True when `password` was verified for `account` against `storedHash` within the TTL. */
  hit(account: string, password: string, storedHash: string): boolean {
    const e = this.entries.get(account);
    let hit = false;
    if (e && (e.expires <= Date.now() || e.storedHash !== storedHash || this.ttlMs() <= 0)) this.entries.delete(account);
    else if (e) hit = timingSafeEqual(e.tag, this.tag(account, password));
    if (hit) this.stats.hits++;
    else this.stats.misses++;
    return hit;
  }

  /** Records a successful check of `password` against `storedHash`. */
  remember(account: string, password: string, storedHash: string): void {
    const ttl = this.ttlMs();
    if (ttl <= 0) return;
    this.entries.delete(account); // re-inserted last: Map order is the eviction order
    this.entries.set(account, { tag: this.tag(account, password), storedHash, expires: Date.now() + ttl });
    if (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value as string);
  }

  forget(account: string): void {
    this.entries.delete(account);
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }

  private tag(account: string, password: string): Buffer {
    return createHmac('sha256', this.secret).update(account).update('\0').update(password, 'utf8').digest();
  }
}
