/**
 * Indexing files nobody indexed (dropped in by another tool, left by a crash after the
 * link, or an index rebuilt): issue 16 item 1, "index by name first, parse later".
 *
 * A file in cur/ whose name carries its size (`,S=`) and starts with its delivery time
 * (`<secs>.`) is indexed from its name alone: no stat, no read. Its internal date is the
 * name's time until the file's mtime replaces it (dates.ts, in the background and before
 * anything shows a date); its envelope and body structure are cached later by the
 * background pass (backfill.ts). Other files (no time or no size in the name, and files
 * taken out of new/, which are renamed anyway) are stat'ed: size and mtime from the file.
 *
 * Memory (issue 16 item 2): the names go, a batch at a time as they are listed, into a
 * temporary table (temp.pickup, in a temporary file with a small page cache), and the
 * UIDs are given and the rows inserted by SQL from there: no JS array of 100 000 names
 * or of an object per file. Holding them (~20 MB alive across many scavenges) grew V8's
 * young generation to its maximum and promoted the rest to old space, and V8 keeps those
 * pages for seconds after: most of what a selected large mailbox added to the server's
 * RSS (bench/imap-large). Name order is SQLite's BINARY order (bytes of UTF-8), which is
 * the order of the Maildir names (ASCII) as JS sorts them.
 */
import { renameSync, statSync } from 'node:fs';
import path from 'node:path';
import { setImmediate } from 'node:timers/promises';
import type { MailboxId, Uid } from '../types.js';
import { isEnoent } from '../../util/fs.js';
import { dirOf, type Acct, type StoreCtx } from './context.js';
import { consecutiveRanges } from '../../util/ranges.js';
import { nameTimeMs, scheduleSettle } from './dates.js';
import { baseOf, bitsOfLetters, curName, fieldNumber, infoOf, withUid } from './filename.js';
import { eachNameBatch } from './fsio.js';
import type { IndexDb, MailboxRow } from './index-db.js';
import { coverUids, raiseUidNext, reserveUids } from './uidlist.js';

/** Names found in new/ and in cur/ without an index row; `curDir`: every name in that directory is (an empty mailbox), listed here. */
export interface Found {
  inNew: string[];
  inCur: string[];
  curDir?: string;
}

/** Files stat'ed or renamed per turn of the event loop (other sessions get a turn every few ms). */
const FS_CHUNK = 256;
/** Rows per INSERT into `messages` (see insertRows). */
const INSERT_ROWS = 8192;
/** Names per INSERT into temp.pickup (7 parameters each). */
const FILL_ROWS = 256;

const TABLE = `CREATE TEMP TABLE IF NOT EXISTS pickup (
  name TEXT NOT NULL, in_new INTEGER NOT NULL,
  named INTEGER NOT NULL,   -- ,U= of the name (0: none)
  size INTEGER,             -- from ,S= (NULL: none)
  date INTEGER,             -- ms; NULL until known (from the name, or from the file's stat)
  by_name INTEGER NOT NULL, -- the date is the name's (dates.ts settles it)
  flags INTEGER NOT NULL)`;

/** Fills temp.pickup from batches of names. */
class Filler {
  private readonly many: ReturnType<IndexDb['prepare']>;
  private readonly one: ReturnType<IndexDb['prepare']>;
  private readonly args: unknown[] = [];
  private readonly now = Date.now();
  count = 0;

  constructor(db: IndexDb) {
    const tuple = '(?, ?, ?, ?, ?, ?, ?)';
    this.many = db.prepare(`INSERT INTO temp.pickup (name, in_new, named, size, date, by_name, flags) VALUES ${Array(FILL_ROWS).fill(tuple).join(', ')}`);
    this.one = db.prepare(`INSERT INTO temp.pickup (name, in_new, named, size, date, by_name, flags) VALUES ${tuple}`);
  }

  add(names: readonly string[], inNew: boolean): void {
    for (const name of names) {
      const base = baseOf(name);
      const u = fieldNumber(base, ',U=', 10);
      const size = fieldNumber(base, ',S=', 15);
      // A file from new/ is renamed anyway (and stat'ed then); one without a size is stat'ed.
      const date = inNew || size === undefined ? undefined : nameTimeMs(name, this.now);
      const a = this.args;
      a.push(name, inNew ? 1 : 0, u !== undefined && u >= 1 && u <= 0xffffffff ? u : 0, size ?? null, date ?? null, date === undefined ? 0 : 1, inNew ? 0 : bitsOfLetters(infoOf(name)));
      if (a.length === FILL_ROWS * 7) {
        this.many.run(a);
        a.length = 0;
      }
      this.count++;
    }
  }

  end(): void {
    for (let i = 0; i < this.args.length; i += 7) this.one.run(this.args.slice(i, i + 7));
    this.args.length = 0;
  }
}

/** Lists the names into temp.pickup (in batches, yielding between them). */
async function fillTable(a: Acct, found: Found): Promise<number> {
  const db = a.ix.db;
  db.exec(TABLE);
  db.exec('DELETE FROM temp.pickup');
  const f = new Filler(db);
  f.add(found.inNew, true);
  f.add(found.inCur, false);
  const cur = found.curDir;
  if (cur !== undefined) {
    const inflight = (n: string): boolean => a.inflight.size > 0 && a.inflight.has(path.join(cur, n));
    await eachNameBatch(cur, (names) => f.add(a.inflight.size > 0 ? names.filter((n) => !inflight(n)) : names, false));
  }
  f.end();
  return f.count;
}

/** Whether `uid` is in the ascending list (binary search). */
function hasSorted(sorted: readonly number[], uid: number): boolean {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = sorted[mid]!;
    if (v === uid) return true;
    if (v < uid) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

/** The UID of each rowid of temp.pickup (1..count), and the rowids in UID_ORDER. */
interface Plan {
  uidOf: Uint32Array;
  order: Uint32Array;
}

/** The UIDs of the pick-up under way on a connection, by rowid of temp.pickup (read by the SQL function pickup_uid). */
const uidsOf = new WeakMap<IndexDb, Uint32Array>();

/** The order UIDs are given in: names that carry a `,U=` first (by it), then the others by name. */
const UID_ORDER = 'ORDER BY named = 0, named, name';

/**
 * UIDs for the files in temp.pickup (by rowid, 1..count), chosen synchronously (we hold
 * the account lock; deliveries only take fresh reserved UIDs): the `,U=` of the name
 * when it is free, else new UIDs after them in UID_ORDER.
 */
function planUids(a: Acct, mb: MailboxRow, count: number): Plan {
  const db = a.ix.db;
  const uidOf = new Uint32Array(count + 1);
  const order = new Uint32Array(count);
  const existing = a.ix.uids(mb.id);
  const inflight = new Set<number>();
  for (const [, [mid, uid]] of a.inflight) if (mid === mb.id) inflight.add(uid);
  let kept = 0;
  let last = 0;
  for (const [rowid, u] of db.prepare(`SELECT rowid, named FROM temp.pickup WHERE named > 0 ${UID_ORDER}`).raw().iterate() as Iterable<[number, number]>) {
    if (u === last || inflight.has(u) || hasSorted(existing, u)) continue;
    uidOf[rowid] = last = u;
    kept++;
  }
  a.ix.tx(() => {
    if (last > 0) raiseUidNext(a, mb.id, last + 1);
    let u = kept === count ? 0 : reserveUids(a, mb.id, count - kept);
    let k = 0;
    for (const rowid of db.prepare(`SELECT rowid FROM temp.pickup ${UID_ORDER}`).pluck().iterate() as Iterable<number>) {
      order[k++] = rowid;
      if (uidOf[rowid] === 0) uidOf[rowid] = u++;
    }
  });
  if (!uidsOf.has(db)) db.function('pickup_uid', { deterministic: true }, (rowid: unknown) => uidsOf.get(db)?.[rowid as number] ?? null);
  uidsOf.set(db, uidOf);
  return { uidOf, order };
}

/**
 * The file step of the files without a date yet: stat (size, mtime, a regular file?)
 * and, for a file from new/, the rename that gives it its UID (and moves it to cur/
 * unless keepNew). What is not a regular file, or is gone, leaves the table. Returns
 * whether a file was renamed.
 */
async function statAndPlace(ctx: StoreCtx, a: Acct, dir: string, uidOf: Uint32Array, keepNew: boolean): Promise<boolean> {
  const db = a.ix.db;
  const next = db.prepare('SELECT rowid, name, in_new, size FROM temp.pickup WHERE date IS NULL AND rowid > ? ORDER BY rowid LIMIT ?').raw();
  const set = db.prepare('UPDATE temp.pickup SET name = ?, in_new = ?, size = ?, date = ? WHERE rowid = ?');
  const drop = db.prepare('DELETE FROM temp.pickup WHERE rowid = ?');
  let renamed = false;
  for (let after = 0; ; await setImmediate()) {
    const rows = next.all(after, FS_CHUNK) as Array<[number, string, number, number | null]>;
    if (rows.length === 0) return renamed;
    for (const [rowid, name, inNew, size] of rows) {
      after = rowid;
      try {
        const from = path.join(dir, inNew ? 'new' : 'cur', name);
        const st = statSync(from);
        if (!st.isFile()) {
          drop.run(rowid);
          continue;
        }
        // A file already in cur/ keeps its name: renaming 100 000 files to carry their UID
        // (`,U=`) made the first open take minutes. Without it, an index rebuilt from the
        // files gives such a file a new UID above every UID given (uidlist.ts), which
        // clients see as an expunge and a new message, never as a reused UID.
        let filename = name;
        if (inNew) {
          const base = withUid(baseOf(name), uidOf[rowid]!);
          filename = keepNew ? base : curName(base, 0);
          renameSync(from, path.join(dir, keepNew ? 'new' : 'cur', filename));
          renamed = true;
        }
        set.run(filename, inNew && keepNew ? 1 : 0, size ?? st.size, Math.round(st.mtimeMs), rowid);
      } catch (err) {
        drop.run(rowid);
        if (!isEnoent(err)) ctx.log?.warn({ err, account: a.id }, 'indexing a foreign file failed');
      }
    }
  }
}

/** UIDs of the rows of temp.pickup (those dated by their name only), ascending. */
function uidsIn(a: Acct, uidOf: Uint32Array, byName: boolean): Uint32Array {
  const rowids = a.ix.db.prepare(`SELECT rowid FROM temp.pickup${byName ? ' WHERE by_name = 1' : ''}`).pluck().all() as number[];
  const out = new Uint32Array(rowids.length);
  for (let i = 0; i < rowids.length; i++) out[i] = uidOf[rowids[i]!]!;
  return out.sort();
}

/** The rows of temp.pickup into the index (one transaction); the ranges of UIDs dated by name. */
function insertRows(a: Acct, mb: MailboxRow, plan: Plan): Array<[number, number]> {
  const db = a.ix.db;
  let dated: Array<[number, number]> = [];
  a.ix.tx(() => {
    const modseq = a.ix.bumpModseq(mb.id);
    a.ix.bulkInsert(mb.id, () => {
      // INSERT_ROWS rows per statement: with triggers on `messages`, SQLite first copies
      // what the SELECT gives into an ephemeral table, which for 100 000 rows took 11 MB
      // of the malloc heap that stayed with the process.
      // In UID_ORDER, so each statement adds to the end of the indexes (in listing order
      // its inserts were all over them: three times the time).
      const ins = db.prepare(
        `INSERT INTO messages (mailbox_id, uid, filename, in_new, flags, keywords, modseq, size, internal_date)
           SELECT ?, pickup_uid(rowid), name, in_new, flags, NULL, ?, size, date FROM temp.pickup WHERE rowid IN (SELECT value FROM json_each(?))`,
      );
      for (let k = 0; k < plan.order.length; k += INSERT_ROWS) ins.run(mb.id, modseq, JSON.stringify(Array.from(plan.order.subarray(k, k + INSERT_ROWS))));
      const [count, size, unseen, recent] = db.prepare('SELECT count(*), total(size), total((flags & 1) = 0), total(in_new) FROM temp.pickup').raw().get() as number[];
      return { count: count!, size: size!, unseen: unseen!, recent: recent! };
    });
    dated = consecutiveRanges(uidsIn(a, plan.uidOf, true));
    a.ix.addDatesPending(mb.id, dated);
  });
  return dated;
}

/**
 * Indexes files nobody indexed; keeps their `,U=` UID when it is free, else gives a new
 * one. Moves them to cur/ (with keepNew, files in new/ stay there, renamed only to carry
 * their UID). Returns their UIDs.
 */
export async function pickup(ctx: StoreCtx, a: Acct, mb: MailboxRow, found: Found, keepNew = false): Promise<number[]> {
  if (found.inNew.length + found.inCur.length === 0 && found.curDir === undefined) return [];
  const dir = dirOf(a, mb.folder);
  try {
    const count = await fillTable(a, found);
    if (count === 0) return [];
    const plan = planUids(a, mb, count);
    // The UID file must cover the new UIDs before a file is renamed to carry one or a row commits.
    await coverUids(ctx, a, mb.id, 0);
    if (await statAndPlace(ctx, a, dir, plan.uidOf, keepNew)) await ctx.syncer.sync(path.join(dir, keepNew ? 'new' : 'cur'));
    if (a.ix.db.prepare('SELECT 1 FROM temp.pickup LIMIT 1').get() === undefined) return [];
    const dated = insertRows(a, mb, plan);
    if (dated.length > 0) scheduleSettle(ctx, a.id, mb.id);
    ctx.backfill?.schedule(a.id, mb.id);
    const uids = Array.from(uidsIn(a, plan.uidOf, false)) as Uid[];
    if (uids.length === 0) return [];
    ctx.log?.info({ account: a.id, mailbox: mb.name, count: uids.length, datedByName: dated.reduce((n, [lo, hi]) => n + hi - lo + 1, 0) }, 'indexed files added by another tool');
    ctx.changes.publish({ kind: 'added', account: a.id, mailboxId: mb.id as MailboxId, uids, origin: { via: 'scan' } });
    return uids;
  } finally {
    if (a.ix.db.open) {
      a.ix.db.exec('DROP TABLE IF EXISTS temp.pickup');
      uidsOf.delete(a.ix.db);
    }
  }
}
