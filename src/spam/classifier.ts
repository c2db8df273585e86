/**
 * The per-account classifiers of one data root: opens each account's database on demand
 * (a bounded set of handles), adds the shared base's counts, keeps token counts in
 * memory, and scores and trains messages.
 *
 * Token counts in memory (./counts.ts), by token hash, within one budget over all open
 * databases: a database whose whole word table fits its share is read into memory
 * PRELOAD_STEP rows per scored message (the whole table at once would stall the event loop for a quarter
 * of a second at 75 000 tokens), and once it is all there a token not in memory is a
 * token never trained, with no query: port 25 scores a message from memory alone. A
 * bigger one keeps the counts it looked up (making room at random) and asks SQLite for
 * the others, one statement per message. The sender's reputation rows are kept too
 * (MAX_REP_ROWS per database), so a message from a sender seen before is scored with
 * no statement but data_version.
 *
 * Scoring never creates a file: an account that has never been trained scores from the
 * base alone (or 0.5, unsure). Training creates the account's database.
 *
 * The CLI trains while the server runs (same files, WAL): a change made by another
 * connection shows in SQLite's data_version (read at most every VERSION_CHECK_MS), and
 * the cached counts and rows are dropped then.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log.js';
import { accountSegments } from '../store/names.js';
import { classifyCounts, type Classification, type Counts, type Totals } from './bayes.js';
import { CountTable } from './counts.js';
import { isTrained } from './decide.js';
import { SpamDb, VERSION_CHECK_MS, type RepRow, type Verdict } from './db.js';
import { TokenSet } from './token-set.js';

/** Open account databases kept. */
const MAX_OPEN = 32;
/** Cached token counts over all open accounts (16–45 bytes each), shared out among them. */
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
/** Rows of a word table read into memory per scored message, until all of it is there. */
const PRELOAD_STEP = 1000;
/** Reputation rows kept in memory per open database (emptied when full). */
const MAX_REP_ROWS = 1000;
/** How often an open database's file is checked for having been removed with its account. */
const RECHECK_MS = 5000;
/** Accounts remembered as having no database (cleared when full). */
const MAX_ABSENT = 10_000;

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
  /** When data_version was last read (ms). */
  versionAt: number;
  /** Counts by token hash: the whole word table when `complete`, else recently used ones. */
  cache: CountTable;
  complete: boolean;
  /** Being read whole: the last hash read so far. */
  cursor?: number;
  totals?: Totals;
  /** Reputation rows looked up (null: none), by kind and key; dropped with the counts. */
  rep: Map<string, RepRow | null>;
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
  /**
   * Accounts found without a database, and when (ms): looked for again after RECHECK_MS,
   * as the base is, since the CLI's `spam train` creates one from another process.
   */
  private readonly absent = new Map<string, number>();
  /** Called after every update() of an account (the server tells its scoring thread, ./score-thread.ts). */
  onUpdate?: (account: string) => void;

  constructor(
    readonly dataRoot: string,
    private readonly log?: Logger,
  ) {}

  /** The account's database, opened (and created, when `create`) on demand; undefined if absent. */
  handle(account: string, create = false): Handle | undefined {
    let h = this.open.get(account);
    const now = Date.now();
    // Port 25 asks for every recipient: an account without a database (never trained) is
    // not looked for on disk at every message (an existsSync was ~0.025 ms of ~1.4).
    const missingAt = h ? undefined : this.absent.get(account);
    if (!create && missingAt !== undefined && now - missingAt <= RECHECK_MS) return undefined;
    // Checked lately: no file path made (path.join was 1 % of a scored message).
    if (h && now - h.checked <= RECHECK_MS) return this.used(account, h);
    const file = this.files.get(account) ?? accountDbPath(this.dataRoot, account);
    if (h) {
      h.checked = now;
      // The account (and its Maildir with this file) was removed, maybe re-created.
      if (existsSync(file) && statSync(file).ino === h.ino) return this.used(account, h);
      this.drop(account);
    }
    if (!existsSync(file)) {
      // Never create an account directory the store does not have (removed account).
      if (!create || !existsSync(path.dirname(file))) {
        if (this.absent.size >= MAX_ABSENT) this.absent.clear();
        this.absent.set(account, now);
        return undefined;
      }
    }
    this.absent.delete(account);
    h = { db: new SpamDb(file, { create: true, pageCacheKiB: PAGE_CACHE_KIB, mmapMiB: MMAP_MIB }), ino: 0, checked: now, version: -1, versionAt: 0, cache: new CountTable(), complete: false, rep: new Map() };
    h.ino = statSync(file).ino;
    this.open.set(account, h);
    if (this.open.size > MAX_OPEN) this.drop(this.open.keys().next().value!);
    return h;
  }

  /** h, the account's open handle, becomes the most recently used (the last to be closed). */
  private used(account: string, h: Handle): Handle {
    this.open.delete(account);
    this.open.set(account, h);
    return h;
  }

  /**
   * Another connection of this process changed the account's database (the server's
   * trainer, seen from the scoring thread): its counts in memory are checked against
   * data_version at the next message, and an account first trained is looked for again.
   */
  changed(account: string): void {
    this.absent.delete(account);
    const h = this.open.get(account);
    if (h) h.versionAt = 0;
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
      if (existsSync(file)) this.base = { db: new SpamDb(file, { create: true, pageCacheKiB: PAGE_CACHE_KIB, mmapMiB: MMAP_MIB }), ino: statSync(file).ino, checked: now, version: -1, versionAt: 0, cache: new CountTable(), complete: false, rep: new Map() };
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

  /** Counts kept in memory per open database: its share of the budget. */
  private cap(): number {
    return Math.max(2000, Math.floor(CACHE_BUDGET / Math.max(1, this.open.size + (this.base ? 1 : 0))));
  }

  /** The next rows of a word table being read whole (in hash order). */
  private preloadStep(h: Handle): void {
    const rows = h.db.wordsAfter(h.cursor!, PRELOAD_STEP);
    for (const [hash, ham, spam] of rows) h.cache.set(hash, ham, spam);
    if (rows.length < PRELOAD_STEP) {
      h.complete = true;
      h.cursor = undefined;
    } else h.cursor = rows[rows.length - 1]![0];
  }

  /**
   * Drops what is kept in memory of a database another connection (the CLI) changed since
   * (SQLite's data_version), and starts reading its word table again, whole if it fits.
   */
  private validate(h: Handle): void {
    const now = Date.now();
    if (now - h.versionAt < VERSION_CHECK_MS) return;
    h.versionAt = now;
    const v = h.db.dataVersion();
    if (v === h.version) return;
    h.totals = undefined;
    h.version = v;
    h.rep.clear();
    h.complete = false;
    const words = h.db.wordCount();
    h.cursor = words <= this.cap() ? -1 : undefined;
    // Sized for the whole table when it is to be read whole (not grown step by step).
    h.cache = new CountTable(h.cursor === -1 ? words : 0);
  }

  /**
   * Adds the counts of the token hashes (in list order) to `ham` and `spam`, from memory
   * first; returns the database's totals.
   */
  private addCounts(h: Handle, hashes: readonly number[], ham: Float64Array, spam: Float64Array): Totals {
    const cap = this.cap();
    h.totals ??= h.db.totals();
    // More databases opened since: this one's share shrank.
    if (h.complete && h.cache.size > cap) h.complete = false;
    if (h.cursor !== undefined) this.preloadStep(h);
    const cache = h.cache;
    const missing: number[] = [];
    for (let i = 0; i < hashes.length; i++) {
      const slot = cache.find(hashes[i]!);
      if (slot >= 0) {
        ham[i]! += cache.ham(slot);
        spam[i]! += cache.spam(slot);
      } else if (!h.complete) missing.push(i);
    }
    if (missing.length > 0) {
      const found = h.db.lookup(missing.map((i) => hashes[i]!));
      // Bounded: entries make room in slot order, which is random with respect to their age.
      const excess = cache.size + missing.length - cap;
      if (excess > 0) {
        h.cursor = undefined; // no longer read whole
        cache.evict(excess);
      }
      for (const i of missing) {
        const c = found.get(hashes[i]!) ?? ZERO;
        cache.set(hashes[i]!, c.ham, c.spam);
        ham[i]! += c.ham;
        spam[i]! += c.spam;
      }
    }
    return h.totals;
  }

  /** Scores tokens with the account's counts plus the base's. */
  score(account: string, tokens: TokenSet | Iterable<string>): Scored {
    const handles = [this.handle(account), this.baseHandle()];
    for (const h of handles) if (h) this.validate(h);
    return this.scoreWith(handles, tokens instanceof TokenSet ? tokens : TokenSet.of(tokens));
  }

  /** score() on validated handles. */
  private scoreWith(handles: Array<Handle | undefined>, tokens: TokenSet): Scored {
    const hashes = tokens.hashes();
    const { ham, spam } = countsScratch(hashes.length);
    const totals: Totals = { nham: 0, nspam: 0 };
    for (const h of handles) {
      if (!h) continue;
      const t = this.addCounts(h, hashes, ham, spam);
      totals.nham += t.nham;
      totals.nspam += t.nspam;
    }
    return { ...classifyCounts(tokens, ham, spam, totals), totals };
  }

  /**
   * The account's reputation rows for `keys` and the message's score. Once the word table
   * is in memory and the sender's rows were looked up before, this reads nothing but
   * data_version (port 25's usual case: one statement per message). Otherwise what is
   * missing is read in one transaction of the database: SQLite takes and releases the WAL
   * read lock (fcntl calls on the -shm file) once, not once per statement.
   *
   * `tokens` is called only when the account and the base together are trained on
   * `minTrained` ham and spam (decide() ignores the classifier below that); otherwise the
   * score is 0.5 without clues, and the message is never tokenised.
   */
  assess(account: string, tokens: () => TokenSet, keys: Array<[string, string]>, minTrained = 0): { reputation: RepRow[]; bayes: Scored } {
    const h = this.handle(account);
    const handles = [h, this.baseHandle()];
    for (const x of handles) if (x) this.validate(x);
    const totals: Totals = { nham: 0, nspam: 0 };
    for (const x of handles) {
      if (!x) continue;
      x.totals ??= x.db.totals();
      totals.nham += x.totals.nham;
      totals.nspam += x.totals.nspam;
    }
    const trained = isTrained(totals, minTrained);
    const run = () => ({
      reputation: h ? this.reputation(h, keys) : [],
      bayes: trained ? this.scoreWith(handles, tokens()) : { score: 0.5, clues: [], totals },
    });
    const fromMemory = handles.every((x) => !x || !trained || x.complete) && (!h || keys.every(([k, v]) => h.rep.has(repKey(k, v))));
    return h && !fromMemory ? h.db.inTransaction(run) : run();
  }

  /** Reputation rows of `keys`, from memory or (then kept) the database. */
  private reputation(h: Handle, keys: Array<[string, string]>): RepRow[] {
    const out: RepRow[] = [];
    const missing = keys.filter(([k, v]) => !h.rep.has(repKey(k, v)));
    if (missing.length > 0) {
      const found = h.db.reputation(missing);
      if (h.rep.size + missing.length > MAX_REP_ROWS) h.rep.clear();
      for (const [k, v] of missing) h.rep.set(repKey(k, v), found.find((r) => r.kind === k && r.key === v) ?? null);
    }
    for (const [k, v] of keys) {
      const r = h.rep.get(repKey(k, v));
      if (r) out.push(r);
    }
    return out;
  }

  /** Trained totals of an account (without the base). */
  totals(account: string): Totals {
    const h = this.handle(account);
    return h ? h.db.totals() : { nham: 0, nspam: 0 };
  }

  /**
   * Changes an account's counts inside `fn`'s transaction: fn gets the database and a
   * function that adds/removes a token set. Then (committed or not) the changed tokens'
   * counts in memory are read again from the database (a complete table stays complete)
   * or, for a partial cache, dropped.
   */
  update<T>(account: string, fn: (db: SpamDb, tokens: (t: TokenSet, v: Verdict, delta: 1 | -1) => void) => T): T | undefined {
    const h = this.handle(account, true);
    if (!h) return undefined;
    const changed: number[] = [];
    const apply = (t: TokenSet, v: Verdict, delta: 1 | -1) => {
      const hashes = [...t.hashes()];
      h.db.addTokens(hashes, v, delta);
      changed.push(...hashes);
    };
    try {
      return h.db.inTransaction(() => fn(h.db, apply));
    } finally {
      h.totals = undefined;
      // Reputation rows changed with the verdicts: looked up again when next needed.
      h.rep.clear();
      if (h.complete || h.cursor !== undefined) {
        const fresh = h.db.lookup(changed);
        for (const x of changed) {
          const c = fresh.get(x);
          if (c) h.cache.set(x, c.ham, c.spam);
          else h.cache.delete(x);
        }
      } else for (const x of changed) h.cache.delete(x);
      this.onUpdate?.(account);
    }
  }

  close(): void {
    for (const a of [...this.open.keys()]) this.drop(a);
    if (this.base) this.base.db.close();
    this.base = undefined;
  }
}

const ZERO: Counts = Object.freeze({ ham: 0, spam: 0 });

/**
 * scoreWith's counts per token, reused from message to message (zeroed for each): read
 * by classifyCounts before it returns, never kept.
 */
let counts = { ham: new Float64Array(1024), spam: new Float64Array(1024) };

function countsScratch(n: number): { ham: Float64Array; spam: Float64Array } {
  if (counts.ham.length < n) {
    const size = Math.max(n, counts.ham.length * 2);
    counts = { ham: new Float64Array(size), spam: new Float64Array(size) };
  } else {
    counts.ham.fill(0, 0, n);
    counts.spam.fill(0, 0, n);
  }
  return counts;
}

function repKey(kind: string, key: string): string {
  return `${kind}\0${key}`;
}
