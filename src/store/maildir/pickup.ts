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
 * Measured on 100 000 files of the bench (bench/imap-large): the stat per file was about
 * a third of the first open, its JS side (Stats objects with four Dates) as much as the
 * system call; path joins and wrapper objects per file were most of the rest.
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
import type { MailboxRow } from './index-db.js';
import { coverUids, raiseUidNext, reserveUids } from './uidlist.js';

/** Names found in new/ and in cur/ without an index row. */
export interface Found {
  inNew: string[];
  inCur: string[];
}

/**
 * A file to index, and its row: one object per file (100 000 files: a nested object or
 * a second record per file was a good part of the garbage collector's share).
 */
interface PlanItem {
  filename: string;
  inNew: boolean;
  uid: number;
  /** `,U=` of the name (0: none). */
  named: number;
  /** System flags from the name's info (none for new/). */
  flags: number;
  /** From `,S=` (-1: none; the file's size then). */
  size: number;
  internalDate: number;
}

/** Files stat'ed or renamed per turn of the event loop (other sessions get a turn every few ms). */
const FS_CHUNK = 256;

/** Merges two ascending lists of names, marking where each came from. */
function byName(found: Found): PlanItem[] {
  // The default sort of strings runs without a JS comparator: several times faster.
  const n = found.inNew.slice().sort();
  const c = found.inCur.slice().sort();
  const out: PlanItem[] = [];
  const item = (filename: string, inNew: boolean): PlanItem => {
    const base = baseOf(filename);
    const uid = fieldNumber(base, ',U=', 10);
    return {
      filename,
      inNew,
      uid: 0,
      named: uid !== undefined && uid >= 1 && uid <= 0xffffffff ? uid : 0,
      flags: inNew ? 0 : bitsOfLetters(infoOf(filename)),
      size: fieldNumber(base, ',S=', 15) ?? -1,
      // NaN, not 0: the field holds a double from the start (dates in ms are no small
      // integers); a 0 here made V8 migrate each of 100 000 objects when its date was set.
      internalDate: NaN,
    };
  };
  let i = 0;
  let j = 0;
  while (i < n.length || j < c.length) {
    if (j >= c.length || (i < n.length && n[i]! < c[j]!)) out.push(item(n[i++]!, true));
    else out.push(item(c[j++]!, false));
  }
  return out;
}

/**
 * UIDs for files found without a row, chosen synchronously (we hold the account lock;
 * deliveries only take fresh reserved UIDs): the `,U=` of the name when it is free,
 * else new UIDs in name order after them.
 */
function planPickup(a: Acct, mb: MailboxRow, found: Found): PlanItem[] {
  const used = new Set(a.ix.uids(mb.id));
  for (const [, [mid, uid]] of a.inflight) if (mid === mb.id) used.add(uid);
  const all = byName(found);
  // Files carrying a `,U=` first (by that UID), then the others by name.
  const withUids = all.filter((p) => p.named > 0).sort((x, y) => x.named - y.named || (x.filename < y.filename ? -1 : 1));
  let maxKept = 0;
  let fresh = 0;
  for (const p of withUids) {
    if (used.has(p.named)) continue;
    p.uid = p.named;
    used.add(p.named);
    maxKept = Math.max(maxKept, p.named);
  }
  for (const p of all) if (p.uid === 0) fresh++;
  a.ix.tx(() => {
    if (maxKept > 0) raiseUidNext(a, mb.id, maxKept + 1);
    if (fresh === 0) return;
    let u = reserveUids(a, mb.id, fresh);
    for (const p of withUids) if (p.uid === 0) p.uid = u++;
    for (const p of all) if (p.uid === 0) p.uid = u++;
  });
  return all;
}

/**
 * The file step of one planned file: stat (size, mtime, a regular file?) and, for a file
 * from new/, the rename that gives it its UID (and moves it to cur/ unless keepNew).
 * Returns false for what is not a regular file.
 */
function statAndPlace(dir: string, p: PlanItem, keepNew: boolean): boolean {
  const from = path.join(dir, p.inNew ? 'new' : 'cur', p.filename);
  const st = statSync(from);
  if (!st.isFile()) return false;
  if (p.size < 0) p.size = st.size;
  p.internalDate = Math.round(st.mtimeMs);
  // A file already in cur/ keeps its name: renaming 100 000 files to carry their UID
  // (`,U=`) made the first open take minutes. Without it, an index rebuilt from the
  // files gives such a file a new UID above every UID given (uidlist.ts), which
  // clients see as an expunge and a new message, never as a reused UID.
  if (!p.inNew) return true;
  const base = withUid(baseOf(p.filename), p.uid);
  p.filename = keepNew ? base : curName(base, p.flags);
  p.inNew = keepNew;
  renameSync(from, path.join(dir, keepNew ? 'new' : 'cur', p.filename));
  return true;
}

/**
 * Indexes files nobody indexed; keeps their `,U=` UID when it is free, else gives a new
 * one. Moves them to cur/ (with keepNew, files in new/ stay there, renamed only to carry
 * their UID). Returns their UIDs.
 */
export async function pickup(ctx: StoreCtx, a: Acct, mb: MailboxRow, found: Found, keepNew = false): Promise<number[]> {
  if (found.inNew.length + found.inCur.length === 0) return [];
  const dir = dirOf(a, mb.folder);
  const plan = planPickup(a, mb, found);
  // The UID file must cover the new UIDs before a file is renamed to carry one or a row
  // commits; the names are read meanwhile.
  const covered = coverUids(ctx, a, mb.id, 0);
  covered.catch(() => undefined);
  const rows: PlanItem[] = [];
  const datedByName: number[] = [];
  const viaFs: PlanItem[] = [];
  const now = Date.now();
  for (const p of plan) {
    const date = p.inNew || p.size < 0 ? undefined : nameTimeMs(p.filename, now);
    if (date === undefined) {
      viaFs.push(p);
      continue;
    }
    p.internalDate = date;
    rows.push(p);
    datedByName.push(p.uid);
  }
  await covered;
  let renamed = false;
  for (let i = 0; i < viaFs.length; i++) {
    if (i > 0 && i % FS_CHUNK === 0) await setImmediate();
    const p = viaFs[i]!;
    try {
      renamed ||= p.inNew;
      if (statAndPlace(dir, p, keepNew)) rows.push(p);
    } catch (err) {
      if (!isEnoent(err)) ctx.log?.warn({ err, account: a.id }, 'indexing a foreign file failed');
    }
  }
  if (rows.length === 0) return [];
  if (renamed) await ctx.syncer.sync(path.join(dir, keepNew ? 'new' : 'cur'));
  a.ix.tx(() => {
    const modseq = a.ix.bumpModseq(mb.id);
    a.ix.insertByName(mb.id, modseq, rows);
    a.ix.addDatesPending(mb.id, consecutiveRanges(ascending(datedByName)));
  });
  if (datedByName.length > 0) scheduleSettle(ctx, a.id, mb.id);
  ctx.backfill?.schedule(a.id, mb.id);
  ctx.log?.info({ account: a.id, mailbox: mb.name, count: rows.length, datedByName: datedByName.length }, 'indexed files added by another tool');
  const uids = ascending(rows.map((x) => x.uid)) as Uid[];
  ctx.changes.publish({ kind: 'added', account: a.id, mailboxId: mb.id as MailboxId, uids, origin: { via: 'scan' } });
  return uids;
}

/** Ascending UIDs (a typed array's numeric sort: no JS comparator call per pair). */
function ascending(uids: number[]): number[] {
  return Array.from(Uint32Array.from(uids).sort());
}
