/**
 * The per-account classifiers of one data root: opens each account's database on demand
 * (a bounded set of handles), adds the shared base's counts, keeps recently used token
 * counts in memory, and scores and trains messages.
 *
 * Scoring never creates a file: an account that has never been trained scores from the
 * base alone (or 0.5, unsure). Training creates the account's database.
 *
 * The CLI trains while the server runs (same files, WAL): a change made by another
 * connection shows in SQLite's data_version, and the cached counts are dropped then.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log.js';
import { accountSegments } from '../store/names.js';
import { classify, type Classification, type Counts, type Totals } from './bayes.js';
import { SpamDb, tokenHash, type Verdict } from './db.js';

/** Open account databases kept. */
const MAX_OPEN = 32;
/** Cached token counts over all open accounts (~130 bytes each), shared out among them. */
const CACHE_BUDGET = 100_000;
/** SQLite's page cache per classifier database, in KiB (the default is 2 MB). */
const PAGE_CACHE_KIB = 512;
/**
 * Bytes of a classifier database read through mmap, in MiB. Token hashes are random, so
 * the ~200 tokens of a message touch ~150 different leaf pages: through the 512 KB page
 * cache alone, most are a pread() each (bench/spam: 0.7 ms of CPU per message whose
 * tokens are not cached, 0.25 ms mapped). Mapped pages are the kernel's page cache
 * (shared, reclaimable), not the process's heap; 64 MiB covers an account trained on
 * ~140 000 messages (4.5 MB per 10 000), beyond that the rest is read as before.
 */
const MMAP_MIB = 64;
/** How often an open database's file is checked for having been removed with its account. */
const RECHECK_MS = 5000;

export const ACCOUNT_DB = 'spam.sqlite';

export function accountDbPath(dataRoot: string, account: string): string {
  const { local, domain } = accountSegments(account);
  return path.join(dataRoot, 'maildir', domain, local, ACCOUNT_DB);
}

export function baseDbPath(dataRoot: string): string {
  return path.join(dataRoot, 'config', 'spam-base.sqlite');
}

interface Handle {
  db: SpamDb;
  ino: number;
  checked: number;
  version: number;
  cache: Map<string, Counts>;
  totals?: Totals;
}

export interface Scored extends Classification {
  totals: Totals;
}

export class Classifiers {
  private readonly open = new Map<string, Handle>();
  private base?: Handle;
  private baseChecked = 0;
  /** Names trained into another file (the CLI seeds the shared base as "base"). */
  private readonly files = new Map<string, string>();

  constructor(
    readonly dataRoot: string,
    private readonly log?: Logger,
  ) {}

  /** The account's database, opened (and created, when `create`) on demand; undefined if absent. */
  handle(account: string, create = false): Handle | undefined {
    const file = this.files.get(account) ?? accountDbPath(this.dataRoot, account);
    let h = this.open.get(account);
    const now = Date.now();
    if (h && now - h.checked > RECHECK_MS) {
      h.checked = now;
      // The account (and its Maildir with this file) was removed, maybe re-created.
      if (!existsSync(file) || statSync(file).ino !== h.ino) {
        this.drop(account);
        h = undefined;
      }
    }
    if (h) {
      this.open.delete(account);
      this.open.set(account, h);
      return h;
    }
    if (!existsSync(file)) {
      // Never create an account directory the store does not have (removed account).
      if (!create || !existsSync(path.dirname(file))) return undefined;
    }
    h = { db: new SpamDb(file, { create: true, pageCacheKiB: PAGE_CACHE_KIB, mmapMiB: MMAP_MIB }), ino: 0, checked: now, version: -1, cache: new Map() };
    h.ino = statSync(file).ino;
    this.open.set(account, h);
    if (this.open.size > MAX_OPEN) this.drop(this.open.keys().next().value!);
    return h;
  }

  /** Trains and reads `name` in the shared base's file (seeding). */
  useBaseAsAccount(name: string): void {
    this.files.set(name, baseDbPath(this.dataRoot));
  }

  /** The shared base, if an admin seeded one. */
  baseHandle(): Handle | undefined {
    const now = Date.now();
    // Seeded later by the CLI: looked for again every few seconds.
    if (!this.base && now - this.baseChecked > RECHECK_MS) {
      this.baseChecked = now;
      const file = baseDbPath(this.dataRoot);
      if (existsSync(file)) this.base = { db: new SpamDb(file, { create: true, pageCacheKiB: PAGE_CACHE_KIB, mmapMiB: MMAP_MIB }), ino: statSync(file).ino, checked: now, version: -1, cache: new Map() };
    }
    return this.base;
  }

  private drop(account: string): void {
    const h = this.open.get(account);
    this.open.delete(account);
    try {
      h?.db.close();
    } catch (err) {
      this.log?.warn({ err, account }, 'closing a classifier database failed');
    }
  }

  /**
   * Totals, and counts of the tokens in list order, through the handle's cache (keyed by
   * the token itself: V8 keeps a string's hash, so a hit costs no hashing of ours).
   */
  private counts(h: Handle, list: string[]): { totals: Totals; counts: Counts[] } {
    const v = h.db.dataVersion();
    if (v !== h.version) {
      h.cache.clear();
      h.totals = undefined;
      h.version = v;
    }
    h.totals ??= h.db.totals();
    const out: Counts[] = new Array(list.length);
    const missing: number[] = [];
    for (let i = 0; i < list.length; i++) {
      const c = h.cache.get(list[i]!);
      if (c) out[i] = c;
      else missing.push(i);
    }
    if (missing.length > 0) {
      const hashes = missing.map((i) => tokenHash(list[i]!));
      const found = h.db.lookup(hashes);
      // Oldest first out (a Map iterates in insertion order): a bounded, roughly LRU cache.
      const cap = Math.max(2000, Math.floor(CACHE_BUDGET / Math.max(1, this.open.size + (this.base ? 1 : 0))));
      let excess = h.cache.size + missing.length - cap;
      if (excess > 0) {
        for (const k of h.cache.keys()) {
          h.cache.delete(k);
          if (--excess <= 0) break;
        }
      }
      missing.forEach((i, j) => {
        const c = found.get(hashes[j]!) ?? ZERO;
        h.cache.set(list[i]!, c);
        out[i] = c;
      });
    }
    return { totals: h.totals, counts: out };
  }

  /** Scores tokens with the account's counts plus the base's. */
  score(account: string, tokens: Set<string>): Scored {
    const list = [...tokens];
    const parts = [this.handle(account), this.baseHandle()].filter((h): h is Handle => h !== undefined).map((h) => this.counts(h, list));
    const totals: Totals = { nham: 0, nspam: 0 };
    for (const p of parts) {
      totals.nham += p.totals.nham;
      totals.nspam += p.totals.nspam;
    }
    const pairs: Array<[string, Counts]> = [];
    for (let i = 0; i < list.length; i++) {
      let ham = 0;
      let spam = 0;
      for (const p of parts) {
        ham += p.counts[i]!.ham;
        spam += p.counts[i]!.spam;
      }
      if (ham + spam > 0) pairs.push([list[i]!, { ham, spam }]);
    }
    return { ...classify(pairs, totals), totals };
  }

  /** Trained totals of an account (without the base). */
  totals(account: string): Totals {
    const h = this.handle(account);
    return h ? h.db.totals() : { nham: 0, nspam: 0 };
  }

  /**
   * Changes an account's counts inside `fn`'s transaction: fn gets the database and a
   * function that adds/removes a token set. The cache is dropped for the changed tokens.
   */
  update<T>(account: string, fn: (db: SpamDb, tokens: (t: Set<string>, v: Verdict, delta: 1 | -1) => void) => T): T | undefined {
    const h = this.handle(account, true);
    if (!h) return undefined;
    const apply = (t: Set<string>, v: Verdict, delta: 1 | -1) => {
      h.db.addTokens([...t].map(tokenHash), v, delta);
      for (const x of t) h.cache.delete(x);
    };
    const out = h.db.db.transaction(() => fn(h.db, apply))();
    h.totals = undefined;
    h.version = h.db.dataVersion();
    return out;
  }

  close(): void {
    for (const a of [...this.open.keys()]) this.drop(a);
    if (this.base) this.base.db.close();
    this.base = undefined;
  }
}

const ZERO: Counts = Object.freeze({ ham: 0, spam: 0 });
