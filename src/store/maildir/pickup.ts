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
/** Names per INSERT into temp.pickup (6 parameters each). */
const FILL_ROWS = 256;

const TABLE = `CREATE TEMP TABLE IF NOT EXISTS pickup (
  name TEXT NOT NULL, in_new INTEGER NOT NULL,
  named INTEGER NOT NULL,            -- ,U= of the name (0: none)
  size INTEGER,                      -- from ,S= (NULL: none)
  date INTEGER,                      -- ms; NULL until known (from the name, or from the file's stat)
  flags INTEGER NOT NULL,
  fresh INTEGER NOT NULL DEFAULT 1,  -- 0: keeps its ,U= as its UID; 1: gets a new one (planUids)
  file TEXT,                         -- the file's name once renamed (NULL: name)
  gone INTEGER NOT NULL DEFAULT 0)   -- not a regular file, or vanished: not indexed`;

/**
 * Each row of temp.pickup with its UID (@base: the first new UID). The order UIDs are given
 * in: rows that keep their `,U=` (by it), then the new ones: names with a `,U=` that was
 * taken first (by it), then the others by name. Computed, never stored: nothing this
 * depends on changes once planUids ran (a renamed file's new name goes to `file`, a
 * vanished one is marked `gone`, not deleted), so every query sees the same UIDs.
 * SQLite gives a window's rows in its sort order, which is ascending UID: the insert
 * appends to the end of every index (in listing order it was three times the time).
 */
const WITH_UID = `SELECT rowid AS id, name, file, in_new, flags, size, date, gone,
  CASE fresh WHEN 0 THEN named ELSE @base - 1 + row_number() OVER (PARTITION BY fresh ORDER BY named = 0, named, name) END AS uid
  FROM temp.pickup`;

/** Fills temp.pickup from batches of names. */
class Filler {
  private readonly many: ReturnType<IndexDb['prepare']>;
  private readonly one: ReturnType<IndexDb['prepare']>;
  private readonly args: unknown[] = [];
  private readonly now = Date.now();
  count = 0;

  constructor(db: IndexDb) {
    const tuple = '(?, ?, ?, ?, ?, ?)';
    this.many = db.prepare(`INSERT INTO temp.pickup (name, in_new, named, size, date, flags) VALUES ${Array(FILL_ROWS).fill(tuple).join(', ')}`);
    this.one = db.prepare(`INSERT INTO temp.pickup (name, in_new, named, size, date, flags) VALUES ${tuple}`);
  }

  add(names: readonly string[], inNew: boolean): void {
    for (const name of names) {
      const base = baseOf(name);
      const u = fieldNumber(base, ',U=', 10);
      const size = fieldNumber(base, ',S=', 15);
      // A file from new/ is renamed anyway (and stat'ed then); one without a size is stat'ed.
      const date = inNew || size === undefined ? undefined : nameTimeMs(name, this.now);
      const a = this.args;
      a.push(name, inNew ? 1 : 0, u !== undefined && u >= 1 && u <= 0xffffffff ? u : 0, size ?? null, date ?? null, inNew ? 0 : bitsOfLetters(infoOf(name)));
      if (a.length === FILL_ROWS * 6) {
        this.many.run(a);
        a.length = 0;
      }
      this.count++;
    }
  }

  end(): void {
    for (let i = 0; i < this.args.length; i += 6) this.one.run(this.args.slice(i, i + 6));
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
function hasSorted(sorted: ArrayLike<number>, uid: number): boolean {
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

/** The UIDs of a pick-up: `kept` (ascending, each a name's `,U=`), then `fresh` new ones from `base`. */
interface Plan {
  kept: Uint32Array;
  base: number;
  fresh: number;
}

/**
 * Decides which names keep their `,U=` (free: not in the mailbox, not a delivery's in
 * flight, not an earlier name's) and reserves UIDs for the others, synchronously (we
 * hold the account lock; deliveries only take fresh reserved UIDs). WITH_UID gives each
 * row its UID from this.
 */
function planUids(a: Acct, mb: MailboxRow, count: number): Plan {
  const db = a.ix.db;
  const existing = a.ix.uids(mb.id);
  const inflight = new Set<number>();
  for (const [, [mid, uid]] of a.inflight) if (mid === mb.id) inflight.add(uid);
  const kept: number[] = [];
  const taken: number[] = [];
  let last = 0;
  for (const [rowid, u] of db.prepare('SELECT rowid, named FROM temp.pickup WHERE named > 0 ORDER BY named, name').raw().iterate() as Iterable<[number, number]>) {
    if (u === last || inflight.has(u) || hasSorted(existing, u)) taken.push(rowid);
    else kept.push((last = u));
  }
  if (kept.length > 0) {
    db.prepare('UPDATE temp.pickup SET fresh = 0 WHERE named > 0').run();
    const back = db.prepare('UPDATE temp.pickup SET fresh = 1 WHERE rowid = ?');
    for (const rowid of taken) back.run(rowid);
  }
  const fresh = count - kept.length;
  const base = a.ix.tx(() => {
    if (last > 0) raiseUidNext(a, mb.id, last + 1);
    return fresh === 0 ? 0 : reserveUids(a, mb.id, fresh);
  });
  return { kept: Uint32Array.from(kept), base, fresh };
}

/** What the file step did: whether it renamed a file, the UIDs of the rows it stat'ed and of those it marked gone. */
interface Placed {
  renamed: boolean;
  statted: Uint32Array;
  gone: number[];
}

/**
 * The file step of the files without a date yet: stat (size, mtime, a regular file?)
 * and, for a file from new/, the rename that gives it its UID (and moves it to cur/
 * unless keepNew). What is not a regular file, or is gone, is marked gone.
 */
async function statAndPlace(ctx: StoreCtx, a: Acct, dir: string, plan: Plan, keepNew: boolean): Promise<Placed> {
  const db = a.ix.db;
  const ids: number[] = [];
  const uids: number[] = [];
  // Names dated by their own time are the common case (and the whole of a large one): no
  // row to stat, and WITH_UID's sort is not worth running for nothing.
  if (db.prepare('SELECT 1 FROM temp.pickup WHERE date IS NULL LIMIT 1').get() === undefined) return { renamed: false, statted: new Uint32Array(0), gone: [] };
  for (const [id, uid] of db.prepare(`SELECT id, uid FROM (${WITH_UID}) WHERE date IS NULL ORDER BY id`).raw().iterate({ base: plan.base }) as Iterable<[number, number]>) {
    ids.push(id);
    uids.push(uid);
  }
  const placed: Placed = { renamed: false, statted: Uint32Array.from(uids).sort(), gone: [] };
  const set = db.prepare('UPDATE temp.pickup SET file = ?, in_new = ?, size = ?, date = ? WHERE rowid = ?');
  const drop = db.prepare('UPDATE temp.pickup SET gone = 1 WHERE rowid = ?');
  const rowOf = db.prepare('SELECT name, in_new, size FROM temp.pickup WHERE rowid = ?').raw();
  for (let k = 0; k < ids.length; k++) {
    if (k > 0 && k % FS_CHUNK === 0) await setImmediate();
    const rowid = ids[k]!;
    const uid = uids[k]!;
    const [name, inNew, size] = rowOf.get(rowid) as [string, number, number | null];
    try {
      const from = path.join(dir, inNew ? 'new' : 'cur', name);
      const st = statSync(from);
      if (!st.isFile()) {
        drop.run(rowid);
        placed.gone.push(uid);
        continue;
      }
      // A file already in cur/ keeps its name: renaming 100 000 files to carry their UID
      // (`,U=`) made the first open take minutes. Without it, an index rebuilt from the
      // files gives such a file a new UID above every UID given (uidlist.ts), which
      // clients see as an expunge and a new message, never as a reused UID.
      let file: string | null = null;
      if (inNew) {
        const base = withUid(baseOf(name), uid);
        file = keepNew ? base : curName(base, 0);
        renameSync(from, path.join(dir, keepNew ? 'new' : 'cur', file));
        placed.renamed = true;
      }
      set.run(file, inNew && keepNew ? 1 : 0, size ?? st.size, Math.round(st.mtimeMs), rowid);
    } catch (err) {
      drop.run(rowid);
      placed.gone.push(uid);
      if (!isEnoent(err)) ctx.log?.warn({ err, account: a.id }, 'indexing a foreign file failed');
    }
  }
  return placed;
}

/** The UIDs in `plan`, ascending, but those in `but` (ascending). */
function planned(plan: Plan, but: ArrayLike<number>): Uint32Array {
  const out = new Uint32Array(plan.kept.length + plan.fresh);
  let n = 0;
  for (const u of plan.kept) if (!hasSorted(but, u)) out[n++] = u;
  for (let u = plan.base; u < plan.base + plan.fresh; u++) if (but.length === 0 || !hasSorted(but, u)) out[n++] = u;
  return out.subarray(0, n);
}

/** The rows of temp.pickup not gone into the index, in one transaction, ascending UID (WITH_UID); the ranges of UIDs dated by name. */
function insertRows(a: Acct, mb: MailboxRow, plan: Plan, placed: Placed): Array<[number, number]> {
  const db = a.ix.db;
  const dated = consecutiveRanges(planned(plan, placed.statted));
  a.ix.tx(() => {
    const modseq = a.ix.bumpModseq(mb.id);
    a.ix.bulkInsert(mb.id, () => {
      db.prepare(
        `INSERT INTO messages (mailbox_id, uid, filename, in_new, flags, keywords, modseq, size, internal_date)
           SELECT @mb, uid, coalesce(file, name), in_new, flags, NULL, @modseq, size, date FROM (${WITH_UID}) WHERE gone = 0`,
      ).run({ base: plan.base, mb: mb.id, modseq });
      const [count, size, unseen, recent] = db.prepare('SELECT count(*), total(size), total((flags & 1) = 0), total(in_new) FROM temp.pickup WHERE gone = 0').raw().get() as number[];
      return { count: count!, size: size!, unseen: unseen!, recent: recent! };
    });
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
    const placed = await statAndPlace(ctx, a, dir, plan, keepNew);
    if (placed.renamed) await ctx.syncer.sync(path.join(dir, keepNew ? 'new' : 'cur'));
    if (placed.gone.length === count) return [];
    const dated = insertRows(a, mb, plan, placed);
    if (dated.length > 0) scheduleSettle(ctx, a.id, mb.id);
    ctx.backfill?.schedule(a.id, mb.id);
    const uids = Array.from(planned(plan, placed.gone.sort((x, y) => x - y))) as Uid[];
    ctx.log?.info({ account: a.id, mailbox: mb.name, count: uids.length, datedByName: dated.reduce((n, [lo, hi]) => n + hi - lo + 1, 0) }, 'indexed files added by another tool');
    ctx.changes.publish({ kind: 'added', account: a.id, mailboxId: mb.id as MailboxId, uids, origin: { via: 'scan' } });
    return uids;
  } finally {
    if (a.ix.db.open) a.ix.db.exec('DROP TABLE IF EXISTS temp.pickup');
  }
}
