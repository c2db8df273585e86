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
import { nameTimeMs, rangesOf, scheduleSettle } from './dates.js';
import { baseOf, bitsOfLetters, curName, fieldsOf, infoOf, withUid } from './filename.js';
import type { MailboxRow } from './index-db.js';
import { coverUids, raiseUidNext, reserveUids } from './uidlist.js';

/** A file found in new/ or cur/ without an index row. */
export interface Found {
  name: string;
  inNew: boolean;
}

interface PlanItem extends Found {
  base: string;
  fields: { size?: number; uid?: number };
  bits: number;
  uid: number;
}

/** A file ready to be indexed. */
interface Indexed {
  uid: number;
  filename: string;
  inNew: boolean;
  flags: number;
  size: number;
  internalDate: number;
}

/** Files stat'ed or renamed per turn of the event loop (other sessions get a turn every few ms). */
const FS_CHUNK = 256;

/**
 * UIDs for files found without a row, chosen synchronously (we hold the account lock;
 * deliveries only take fresh reserved UIDs): the `,U=` of the name when it is free,
 * else new UIDs in name order after them.
 */
function planPickup(a: Acct, mb: MailboxRow, found: Found[]): PlanItem[] {
  const used = new Set(a.ix.uids(mb.id));
  for (const [, [mid, uid]] of a.inflight) if (mid === mb.id) used.add(uid);
  // Files carrying a `,U=` first (by that UID), then the others by name; the sort keys are
  // computed once per file (a comparator parsing names made this most of a 100 000-file open).
  const withUids: PlanItem[] = [];
  const others: PlanItem[] = [];
  for (const f of found) {
    const base = baseOf(f.name);
    const fields = fieldsOf(base);
    const item: PlanItem = { name: f.name, inNew: f.inNew, base, fields, bits: f.inNew ? 0 : bitsOfLetters(infoOf(f.name)), uid: 0 };
    (fields.uid !== undefined ? withUids : others).push(item);
  }
  withUids.sort((x, y) => x.fields.uid! - y.fields.uid! || (x.name < y.name ? -1 : 1));
  others.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
  const plan = withUids.concat(others);
  let maxKept = 0;
  let fresh = 0;
  for (const p of plan) {
    const u = p.fields.uid;
    if (u !== undefined && !used.has(u)) {
      p.uid = u;
      used.add(u);
      maxKept = Math.max(maxKept, u);
    } else fresh++;
  }
  a.ix.tx(() => {
    if (maxKept > 0) raiseUidNext(a, mb.id, maxKept + 1);
    if (fresh === 0) return;
    let u = reserveUids(a, mb.id, fresh);
    for (const p of plan) if (p.uid === 0) p.uid = u++;
  });
  return plan;
}

/**
 * The file step of one planned file: stat (size, mtime, a regular file?) and, for a file
 * from new/, the rename that gives it its UID (and moves it to cur/ unless keepNew).
 * Returns undefined for what is not a regular file.
 */
function statAndPlace(dir: string, p: PlanItem, keepNew: boolean): Indexed | undefined {
  const from = path.join(dir, p.inNew ? 'new' : 'cur', p.name);
  const st = statSync(from);
  if (!st.isFile()) return undefined;
  const size = p.fields.size ?? st.size;
  const date = Math.round(st.mtimeMs);
  // A file already in cur/ keeps its name: renaming 100 000 files to carry their UID
  // (`,U=`) made the first open take minutes. Without it, an index rebuilt from the
  // files gives such a file a new UID above every UID given (uidlist.ts), which
  // clients see as an expunge and a new message, never as a reused UID.
  if (!p.inNew) return { uid: p.uid, filename: p.name, inNew: false, flags: p.bits, size, internalDate: date };
  const inNew = keepNew;
  const target = inNew ? withUid(p.base, p.uid) : curName(withUid(p.base, p.uid), p.bits);
  renameSync(from, path.join(dir, inNew ? 'new' : 'cur', target));
  return { uid: p.uid, filename: target, inNew, flags: p.bits, size, internalDate: date };
}

/**
 * Indexes files nobody indexed; keeps their `,U=` UID when it is free, else gives a new
 * one. Moves them to cur/ (with keepNew, files in new/ stay there, renamed only to carry
 * their UID). Returns their UIDs.
 */
export async function pickup(ctx: StoreCtx, a: Acct, mb: MailboxRow, found: Found[], keepNew = false): Promise<number[]> {
  if (found.length === 0) return [];
  const dir = dirOf(a, mb.folder);
  const plan = planPickup(a, mb, found);
  // The UID file must cover the new UIDs before a file is renamed to carry one or a row
  // commits; the names are read meanwhile.
  const covered = coverUids(ctx, a, mb.id, 0);
  covered.catch(() => undefined);
  const rows: Indexed[] = [];
  const byName: number[] = [];
  const viaFs: PlanItem[] = [];
  for (const p of plan) {
    const date = p.inNew || p.fields.size === undefined ? undefined : nameTimeMs(p.name);
    if (date === undefined) {
      viaFs.push(p);
      continue;
    }
    rows.push({ uid: p.uid, filename: p.name, inNew: false, flags: p.bits, size: p.fields.size!, internalDate: date });
    byName.push(p.uid);
  }
  await covered;
  let renamed = false;
  for (let i = 0; i < viaFs.length; i++) {
    if (i > 0 && i % FS_CHUNK === 0) await setImmediate();
    const p = viaFs[i]!;
    try {
      const r = statAndPlace(dir, p, keepNew);
      if (r) rows.push(r);
      renamed ||= p.inNew;
    } catch (err) {
      if (!isEnoent(err)) ctx.log?.warn({ err, account: a.id }, 'indexing a foreign file failed');
    }
  }
  if (rows.length === 0) return [];
  if (renamed) await Promise.all((keepNew ? ['new'] : ['cur']).map((sub) => ctx.syncer.sync(path.join(dir, sub))));
  byName.sort((x, y) => x - y);
  a.ix.tx(() => {
    const modseq = a.ix.bumpModseq(mb.id);
    a.ix.insertByName(mb.id, modseq, rows);
    a.ix.addDatesPending(mb.id, rangesOf(byName));
  });
  if (byName.length > 0) scheduleSettle(ctx, a.id, mb.id);
  ctx.backfill?.schedule(a.id, mb.id);
  ctx.log?.info({ account: a.id, mailbox: mb.name, count: rows.length, datedByName: byName.length }, 'indexed files added by another tool');
  const uids = rows.map((x) => x.uid as Uid).sort((x, y) => x - y);
  ctx.changes.publish({ kind: 'added', account: a.id, mailboxId: mb.id as MailboxId, uids, origin: { via: 'scan' } });
  return uids;
}
