/**
 * The classifier's storage: one SQLite file per account, `spam.sqlite` beside the
 * account's Maildir index (`<data>/maildir/<domain>/<local>/spam.sqlite`), and one shared
 * base an admin can seed, `<data>/config/spam-base.sqlite`, with the same word tables.
 *
 * Why a file per account and not tables in mailserver.db (mox keeps its junk filter per
 * account too): the word table is the bulk of it (tens of thousands of rows per account)
 * and changes at every training; in its own file it never grows the main database, its
 * writes never wait for or hold the main database's lock (queue, accounts, CLI), it can
 * use synchronous=NORMAL (a training lost in a power cut is harmless, a queue row is
 * not), and it lives and dies with the account's mail: removing the account's Maildir
 * removes it, a backup or a copy of the Maildir carries it. Server-wide things (each
 * account's thresholds, greylisting) are in mailserver.db, migration 70 (./settings.ts).
 *
 * Tokens are stored as a 53-bit hash (cyrb53), not as text: a row is ~15 bytes instead
 * of ~40, and the text of the tokens that explain a verdict is known when the message is
 * scored anyway. Collisions over a million tokens are ~1 in 20 000.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { StatementCache } from '../db/statements.js';
import type { Counts, Totals } from './bayes.js';
import { hashFinal, hashState } from './token-set.js';

export type Verdict = 'spam' | 'ham';

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
  -- Token hash → how many trained ham and spam messages showed it.
  CREATE TABLE IF NOT EXISTS words (h INTEGER PRIMARY KEY, ham INTEGER NOT NULL, spam INTEGER NOT NULL);
  -- Messages trained, by a hash of their bytes: what they were trained as (to untrain
  -- the old verdict when the user changes their mind, and to train each message once).
  CREATE TABLE IF NOT EXISTS trained (key BLOB PRIMARY KEY, verdict INTEGER NOT NULL, implicit INTEGER NOT NULL, at INTEGER NOT NULL) WITHOUT ROWID;
  -- Sender reputation (./reputation.ts): verdicts per identity.
  CREATE TABLE IF NOT EXISTS reputation (kind TEXT NOT NULL, key TEXT NOT NULL, ham INTEGER NOT NULL, spam INTEGER NOT NULL, last INTEGER NOT NULL, PRIMARY KEY (kind, key)) WITHOUT ROWID;
  -- The user's verdicts and what the filter had said at delivery (accuracy in "spam status").
  CREATE TABLE IF NOT EXISTS judgements (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, user INTEGER NOT NULL, filter INTEGER, score REAL, how TEXT NOT NULL);
  -- Deliveries to INBOX to look at again later ("kept in INBOX" counts as ham).
  CREATE TABLE IF NOT EXISTS watch (mailbox_id INTEGER NOT NULL, uid INTEGER NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (mailbox_id, uid)) WITHOUT ROWID;
`;

/** Judgements kept (the accuracy window is at most this). */
const MAX_JUDGEMENTS = 1000;

/**
 * How often, at most, port 25 reads a database's data_version (ms) to notice another
 * process's commits (the CLI's training or `spam set`): the PRAGMA takes SQLite's WAL read
 * lock (fcntl calls on the -shm file), ~20 µs, and ran for every scored message. Such a
 * change is seen within this time.
 */
export const VERSION_CHECK_MS = 10;

/** cyrb53 (public domain, bryc): a fast 53-bit string hash (./token-set.ts hashes words without their strings the same way). */
export function tokenHash(s: string): number {
  const [h1, h2] = hashState(s);
  return hashFinal(h1, h2);
}

export interface Judgement {
  at: number;
  user: Verdict;
  filter?: Verdict;
  score?: number;
  how: string;
}

export interface RepRow {
  kind: string;
  key: string;
  ham: number;
  spam: number;
}

/** One classifier database (an account's, or the shared base). */
export class SpamDb {
  readonly db: Database.Database;
  private stmts?: StatementCache;
  /** lookup()'s statement, in raw mode (the cache's statements return objects). */
  private lookupStmt?: Database.Statement;
  /** dataVersion()'s statement, plucked once (it runs for every scored message). */
  private versionStmt?: Database.Statement;
  private txn?: (fn: () => unknown) => unknown;

  /** Opens (creating when `create`) the file; throws if it is missing and not to be created. */
  constructor(
    readonly file: string,
    opts: { create?: boolean; readonly?: boolean; pageCacheKiB?: number; mmapMiB?: number } = {},
  ) {
    if (!existsSync(file)) {
      if (!opts.create) throw new Error(`no classifier database at ${file}`);
      mkdirSync(path.dirname(file), { recursive: true });
    }
    this.db = new Database(file, { readonly: opts.readonly ?? false });
    if (!opts.readonly) {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.exec(SCHEMA);
    }
    this.db.pragma('busy_timeout = 5000');
    if (opts.pageCacheKiB) this.db.pragma(`cache_size = -${Math.floor(opts.pageCacheKiB)}`);
    if (opts.mmapMiB) this.db.pragma(`mmap_size = ${Math.floor(opts.mmapMiB) * 1024 * 1024}`);
  }

  /**
   * Runs `fn` in one transaction (BEGIN … COMMIT, ROLLBACK if it throws). The wrapper is
   * made once: better-sqlite3's transaction() builds four closures and their properties
   * at every call (~15 µs, per scored message on port 25).
   */
  inTransaction<T>(fn: () => T): T {
    this.txn ??= this.db.transaction((f: () => unknown) => f());
    return this.txn(fn) as T;
  }

  private q(sql: string): Database.Statement {
    this.stmts ??= new StatementCache(this.db);
    return this.stmts.get(sql);
  }

  /** Changes when another connection (the CLI) commits: cached counts are then stale. */
  dataVersion(): number {
    this.versionStmt ??= this.db.prepare('PRAGMA data_version').pluck();
    return this.versionStmt.get() as number;
  }

  totals(): Totals {
    const rows = this.q("SELECT key, value FROM meta WHERE key IN ('nham', 'nspam')").all() as Array<{ key: string; value: number }>;
    const t: Totals = { nham: 0, nspam: 0 };
    for (const r of rows) t[r.key as keyof Totals] = r.value;
    return t;
  }

  /**
   * Counts of the given token hashes (absent = never seen): one statement for the whole
   * list (the hashes as a JSON array, searched by primary key), rows as arrays.
   */
  lookup(hashes: number[]): Map<number, Counts> {
    const out = new Map<number, Counts>();
    if (hashes.length === 0) return out;
    this.lookupStmt ??= this.db.prepare('SELECT h, ham, spam FROM words WHERE h IN (SELECT value FROM json_each(?))').raw();
    for (const r of this.lookupStmt.all(JSON.stringify(hashes)) as Array<[number, number, number]>) out.set(r[0], { ham: r[1], spam: r[2] });
    return out;
  }

  /** How many tokens the word table holds. */
  wordCount(): number {
    return this.q('SELECT count(*) FROM words').pluck().get() as number;
  }

  /** Up to `limit` rows of the word table after a hash, in hash order: [hash, ham, spam]. */
  wordsAfter(hash: number, limit: number): Array<[number, number, number]> {
    return this.q('SELECT h, ham, spam FROM words WHERE h > ? ORDER BY h LIMIT ?').raw().all(hash, limit) as Array<[number, number, number]>;
  }

  /** Adds (delta 1) or removes (delta −1) one message's tokens for a class. Call inside a transaction. */
  addTokens(hashes: number[], verdict: Verdict, delta: 1 | -1): void {
    const col = verdict === 'spam' ? 'spam' : 'ham';
    if (delta > 0) {
      const up = this.q(`INSERT INTO words (h, ham, spam) VALUES (?, ?, ?) ON CONFLICT (h) DO UPDATE SET ${col} = ${col} + 1`);
      for (const h of hashes) up.run(h, col === 'ham' ? 1 : 0, col === 'spam' ? 1 : 0);
    } else {
      const down = this.q(`UPDATE words SET ${col} = max(0, ${col} - 1) WHERE h = ?`);
      for (const h of hashes) down.run(h);
      this.q('DELETE FROM words WHERE h IN (SELECT value FROM json_each(?)) AND ham = 0 AND spam = 0').run(JSON.stringify(hashes));
    }
    this.q(`INSERT INTO meta (key, value) VALUES (?, max(0, ?)) ON CONFLICT (key) DO UPDATE SET value = max(0, value + ?)`).run(
      verdict === 'spam' ? 'nspam' : 'nham',
      delta,
      delta,
    );
  }

  trainedAs(key: Buffer): { verdict: Verdict; implicit: boolean } | undefined {
    const r = this.q('SELECT verdict, implicit FROM trained WHERE key = ?').get(key) as { verdict: number; implicit: number } | undefined;
    return r ? { verdict: r.verdict ? 'spam' : 'ham', implicit: r.implicit === 1 } : undefined;
  }

  setTrained(key: Buffer, verdict: Verdict, implicit: boolean, at: number): void {
    this.q('INSERT INTO trained (key, verdict, implicit, at) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET verdict = excluded.verdict, implicit = excluded.implicit, at = excluded.at').run(
      key,
      verdict === 'spam' ? 1 : 0,
      implicit ? 1 : 0,
      at,
    );
  }

  /** Trainings of the given kind since a time (implicit ham budget). */
  trainedSince(at: number, implicit: boolean): number {
    return this.q('SELECT count(*) FROM trained WHERE at >= ? AND implicit = ?').pluck().get(at, implicit ? 1 : 0) as number;
  }

  reputation(pairs: Array<[string, string]>): RepRow[] {
    if (pairs.length === 0) return [];
    const get = this.q('SELECT kind, key, ham, spam FROM reputation WHERE kind = ? AND key = ?');
    const out: RepRow[] = [];
    for (const [kind, key] of pairs) {
      const r = get.get(kind, key) as RepRow | undefined;
      if (r) out.push(r);
    }
    return out;
  }

  /** Adds (delta 1) or removes (−1) one verdict for each identity. Call inside a transaction. */
  addReputation(pairs: Array<[string, string]>, verdict: Verdict, delta: 1 | -1, at: number): void {
    const col = verdict === 'spam' ? 'spam' : 'ham';
    const up = this.q(
      `INSERT INTO reputation (kind, key, ham, spam, last) VALUES (?, ?, ?, ?, ?) ON CONFLICT (kind, key) DO UPDATE SET ${col} = max(0, ${col} + ?), last = excluded.last`,
    );
    for (const [kind, key] of pairs) up.run(kind, key, col === 'ham' ? Math.max(0, delta) : 0, col === 'spam' ? Math.max(0, delta) : 0, at, delta);
  }

  addJudgement(j: Judgement): void {
    this.q('INSERT INTO judgements (at, user, filter, score, how) VALUES (?, ?, ?, ?, ?)').run(
      j.at,
      j.user === 'spam' ? 1 : 0,
      j.filter === undefined ? null : j.filter === 'spam' ? 1 : 0,
      j.score ?? null,
      j.how,
    );
    this.q('DELETE FROM judgements WHERE id <= (SELECT max(id) FROM judgements) - ?').run(MAX_JUDGEMENTS);
  }

  /** The most recent judgements, newest first. */
  judgements(limit: number): Judgement[] {
    const rows = this.q('SELECT at, user, filter, score, how FROM judgements ORDER BY id DESC LIMIT ?').all(limit) as Array<{
      at: number;
      user: number;
      filter: number | null;
      score: number | null;
      how: string;
    }>;
    return rows.map((r) => ({
      at: r.at,
      user: r.user ? 'spam' : 'ham',
      filter: r.filter === null ? undefined : r.filter ? 'spam' : 'ham',
      score: r.score ?? undefined,
      how: r.how,
    }));
  }

  /** How many distinct tokens and trained messages the database holds. */
  stats(): { tokens: number; messages: number } {
    return {
      tokens: this.q('SELECT count(*) FROM words').pluck().get() as number,
      messages: this.q('SELECT count(*) FROM trained').pluck().get() as number,
    };
  }

  /** Trained messages by verdict, and how many of the ham were implicit. */
  trainedCounts(): { ham: number; spam: number; implicitHam: number } {
    const r = this.q('SELECT sum(verdict = 0) AS ham, sum(verdict = 1) AS spam, sum(verdict = 0 AND implicit = 1) AS implicitHam FROM trained').get() as Record<string, number | null>;
    return { ham: r.ham ?? 0, spam: r.spam ?? 0, implicitHam: r.implicitHam ?? 0 };
  }

  watch(entries: Array<{ mailboxId: number; uid: number; at: number }>, max: number): void {
    const have = this.q('SELECT count(*) FROM watch').pluck().get() as number;
    const ins = this.q('INSERT OR IGNORE INTO watch (mailbox_id, uid, at) VALUES (?, ?, ?)');
    for (const e of entries.slice(0, Math.max(0, max - have))) ins.run(e.mailboxId, e.uid, e.at);
  }

  watchCount(): number {
    return this.q('SELECT count(*) FROM watch').pluck().get() as number;
  }

  /** Watched deliveries older than `before`, oldest first, removed from the list. */
  takeWatched(before: number, limit: number): Array<{ mailboxId: number; uid: number }> {
    const rows = this.q('SELECT mailbox_id AS mailboxId, uid FROM watch WHERE at < ? ORDER BY at LIMIT ?').all(before, limit) as Array<{ mailboxId: number; uid: number }>;
    const del = this.q('DELETE FROM watch WHERE mailbox_id = ? AND uid = ?');
    for (const r of rows) del.run(r.mailboxId, r.uid);
    return rows;
  }

  close(): void {
    this.db.close();
  }
}
