/**
 * Keeping the index in line with the Maildir files (the job of Dovecot's
 * maildir-sync.c): new/ emptied into cur/ at open, files of other tools picked up,
 * renames and removals by other tools taken over, folders made or removed by other
 * tools, `reindex`, and the recovery steps at the start of an account (an unreadable
 * index rebuilt from the files, leftovers of interrupted writes removed).
 *
 * Implementation notes
 * - Cheap open (Dovecot maildir-sync.c idea): new/ is always listed (it is emptied into
 *   cur/ at every open, so it stays small); cur/ is listed only when its mtime differs
 *   from the one stored after the last full scan. Our own changes to cur/ update the
 *   stored mtime only if it was current before the change (trackCur), so earlier changes
 *   by other tools are not masked. On file systems with whole-second timestamps an mtime
 *   less than a second old is not trusted (Dovecot's MAILDIR_SYNC_SECS); with sub-second
 *   timestamps a change by another tool within the same clock tick as one of ours can go
 *   unnoticed until the next change or `reindex` (a missing file is still found:
 *   readMessage rescans on ENOENT).
 * - Everything here runs under the account lock. Deliveries do not take it: the paths
 *   they are linking are in `Acct.inflight`, and a scan leaves those alone (their rows
 *   come with the delivery's commit).
 * - A file found without a row keeps the UID of its `,U=` when that UID is free in the
 *   mailbox (a crash between link and commit, or an index rebuilt), else it gets a new
 *   UID; a file from new/ is renamed to carry it, one found in cur/ keeps its name (a
 *   100 000-file import is not renamed file by file; see pickup).
 */
import type { Dirent } from 'node:fs';
import { lstat, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { setImmediate as nextTurn } from 'node:timers/promises';
import path from 'node:path';
import { type FlagChange, type MailboxId, type ReindexReport, type Uid } from '../types.js';
import type { Logger } from '../../log.js';
import { isEnoent } from '../../util/fs.js';
import { FS_PARALLEL, dirOf, makeMaildirDirs, mustMailboxId, type Acct, type StoreCtx } from './context.js';
import { flagList } from '../flags.js';
import { baseOf, bitsOfLetters, curName, infoOf } from './filename.js';
import { listNames, settleLimit } from './fsio.js';
import { pickup } from './pickup.js';
import { openIndex, type IndexDb, type MailboxRow } from './index-db.js';
import { nameOfFolder } from '../names.js';
import type { MsgKey } from './queries.js';
import { coverUids, nextUidValidity, raiseUidNext, readUidFile, writeUidFile } from './uidlist.js';
import { trimExpunged } from './vanished.js';

export const INDEX_FILE = 'index.sqlite';
/** Directory mtimes younger than this are not trusted (coarse timestamps). */
const MTIME_TRUST_MS = 1000;
/** tmp/ files untouched this long are leftovers of interrupted writes. */
const TMP_STALE_MS = 36 * 3600_000;

// ---------------------------------------------------------------- cur/ mtime

/** Runs fn (which changes cur/ of mb) and keeps the stored cur/ mtime current if it was current before. */
export async function trackCur<T>(a: Acct, mb: MailboxRow, fn: () => Promise<T>): Promise<T> {
  const cur = path.join(dirOf(a, mb.folder), 'cur');
  const before = await stat(cur, { bigint: true }).then(
    (s) => String(s.mtimeNs),
    () => null,
  );
  const r = await fn();
  const stored = a.ix.curMtime(mb.id);
  if (before !== null && stored === before) await storeCurMtime(a, mb.id, cur);
  return r;
}

async function storeCurMtime(a: Acct, mailboxId: number, cur: string, known?: bigint): Promise<void> {
  const m = known ?? (await stat(cur, { bigint: true })).mtimeNs;
  // On a file system with whole-second timestamps a later change in the same second
  // would keep this mtime: do not trust it yet (rescan once more). With sub-second
  // timestamps (ext4, xfs, btrfs, tmpfs) only a change within the same clock tick
  // (a few ms) as ours could hide; that window is accepted.
  const secondsOnly = m % 1_000_000_000n === 0n;
  const fresh = secondsOnly && Date.now() - Number(m / 1_000_000n) < MTIME_TRUST_MS;
  a.ix.setCurMtime(mailboxId, fresh ? null : String(m));
}

// ---------------------------------------------------------------- one mailbox

/**
 * Brings the index of one mailbox in line with its directories: indexed files in new/
 * move to cur/; files nobody indexed (dropped by another tool, or left by a crash after
 * the link) are indexed, keeping a valid `,U=` UID; with a full scan (`force`, or cur/
 * changed since the last one), flag changes made by renames of other tools are taken
 * over and rows of vanished files are removed. `recent` lists the messages this call
 * took out of new/ (never opened before: \Recent, RFC 3501 §2.3.2). With `keepNew`
 * (recovery at open) nothing leaves new/: files found there are indexed where they
 * are, so the next SELECT still reports them as \Recent (and `recent` is empty).
 */
export async function syncMailbox(
  ctx: StoreCtx,
  a: Acct,
  mailboxId: number,
  force: boolean,
  opts: { keepNew?: boolean } = {},
): Promise<{ recent: number[]; added: number; removed: number }> {
  const mb = mustMailboxId(a, mailboxId);
  const dir = dirOf(a, mb.folder);
  // cur/ new/ tmp/ are (re)made only when one is found missing: three mkdir calls on
  // every SELECT were most of its cost on a small mailbox.
  // new/ is emptied at every open, so it stays small: one readdir (cur/ is listed in batches, listNames).
  const newNames = (await orRemake(dir, () => readdir(path.join(dir, 'new')))).filter((n) => !n.startsWith('.'));
  // Synchronous from here to the classification, so a delivery cannot commit in between.
  const newRows = a.ix.keysInNew(mailboxId);
  const byNewName = new Map(newRows.map((r) => [r.filename, r]));
  const toMove: MsgKey[] = [];
  const unknown: string[] = [];
  for (const n of newNames) {
    const r = byNewName.get(n);
    if (r) toMove.push(r);
    else if (!a.inflight.has(path.join(dir, 'new', n))) unknown.push(n);
  }
  const listed = new Set(newNames);
  let needCur = force || newRows.some((r) => !listed.has(r.filename));
  if (!needCur) {
    const m = await orRemake(dir, () => stat(path.join(dir, 'cur'), { bigint: true }));
    const stored = mustMailboxId(a, mailboxId).cur_mtime;
    needCur = stored === null || stored !== String(m.mtimeNs);
  }

  const recent: number[] = [];
  let added = 0;
  if (toMove.length > 0 || unknown.length > 0) {
    await trackCur(a, mb, async () => {
      // Loops, not push(...xs): a spread of 150 000 arguments overflows the stack.
      if (!opts.keepNew) for (const u of await moveNewToCur(a, mb, toMove)) recent.push(u);
      const picked = await pickup(ctx, a, mb, { inNew: unknown, inCur: [] }, opts.keepNew === true);
      if (!opts.keepNew) for (const u of picked) recent.push(u);
      added += picked.length;
    });
  }
  recent.sort((x, y) => x - y);
  let removed = 0;
  if (needCur) {
    const r = await rescanCur(ctx, a, mb);
    added += r.added;
    removed += r.removed;
  }
  return { recent, added, removed };
}

/** Runs fn (a look at cur/ or new/ of dir); when one is missing, makes cur/ new/ tmp/ and runs it again. */
async function orRemake<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (!isEnoent(e)) throw e;
    await makeMaildirDirs(dir);
    return fn();
  }
}

/** Dovecot semantics: a message leaves new/ the first time a mailbox is opened. Returns the UIDs moved. */
async function moveNewToCur(a: Acct, mb: MailboxRow, rows: MsgKey[]): Promise<number[]> {
  const dir = dirOf(a, mb.folder);
  const res = await settleLimit(rows, FS_PARALLEL, async (r) => {
    const target = curName(baseOf(r.filename), r.flags);
    await rename(path.join(dir, 'new', r.filename), path.join(dir, 'cur', target));
    return [r, target] as const;
  });
  const ok = res.flatMap((x) => (x.ok ? [x.value] : []));
  a.ix.tx(() => {
    for (const [r, target] of ok) a.ix.setMovedToCur(mb.id, r.uid, target);
  });
  return ok.map(([r]) => r.uid);
}

/** Names and rows are compared this many at a time, with a turn of the event loop between: 100 000 at once held it 250-300 ms. */
const SCAN_SLICE = 4096;

/**
 * The names in cur/ against the rows: renames (same base, other flags), unknown files,
 * rows whose file is gone. It works a slice at a time, so that other accounts' sessions
 * run meanwhile. The account lock is held, so only deliveries change the rows in between,
 * and they only add rows, each under a modseq above the one read first, and with its
 * path in `inflight` from before its file is linked until after its row is in:
 * - a listed name whose row came after its slice was read is found at the end among the
 *   names of the rows changed since that modseq;
 * - a row whose file was linked after the listing began is not listed; the file is
 *   found by a stat before the row counts as gone.
 */
async function classifyCur(a: Acct, mb: MailboxRow, names: string[]) {
  const dir = dirOf(a, mb.folder);
  const since = a.ix.highestModseq(mb.id);
  const left = new Set<string>();
  for (let i = 0; i < names.length; i++) {
    left.add(names[i]!);
    if (i % SCAN_SLICE === SCAN_SLICE - 1) await nextTurn();
  }
  // A row whose file is listed under its own name is in step (rows in new/ are not in cur/).
  const unmatched: MsgKey[] = [];
  for (let after = 0; ; ) {
    const page = a.ix.keysAfter(mb.id, after, SCAN_SLICE);
    for (const r of page) if (r.in_new || !left.delete(r.filename)) unmatched.push(r);
    if (page.length < SCAN_SLICE) break;
    after = page[page.length - 1]!.uid;
    await nextTurn();
  }
  // The rest by base name: a file another tool renamed (other flags) or moved from new/.
  const byBase = new Map<string, MsgKey>();
  for (const r of unmatched) byBase.set(baseOf(r.filename), r);
  const renamed: Array<{ r: MsgKey; name: string; bits: number }> = [];
  const taken = new Set<number>();
  let unknown: string[] = [];
  for (const n of left) {
    const base = baseOf(n);
    const r = byBase.get(base);
    if (r) {
      byBase.delete(base);
      taken.add(r.uid);
      renamed.push({ r, name: n, bits: bitsOfLetters(infoOf(n)) });
    } else {
      unknown.push(n);
    }
  }
  const missing = unmatched.filter((r) => !taken.has(r.uid));
  const found = await settleLimit(missing, FS_PARALLEL, (r) => stat(path.join(dir, r.in_new ? 'new' : 'cur', r.filename)));
  const gone = missing.filter((_, i) => {
    const s = found[i]!;
    return !s.ok && isEnoent(s.error);
  }).map((r) => r.uid);
  // In one turn with the caller's transaction: a name with no row that is not in flight
  // now is nobody's (a delivery's file is in flight until its row is in).
  if (unknown.length > 0) {
    const fresh = new Set(a.ix.namesChangedSince(mb.id, since));
    unknown = unknown.filter((n) => !fresh.has(n) && (a.inflight.size === 0 || !a.inflight.has(path.join(dir, 'cur', n))));
  }
  return { renamed, unknown, gone };
}

/** Full scan of cur/ (and the rows still in new/). */
async function rescanCur(ctx: StoreCtx, a: Acct, mb: MailboxRow): Promise<{ added: number; removed: number }> {
  const dir = dirOf(a, mb.folder);
  const curDir = path.join(dir, 'cur');
  const m0 = (await stat(curDir, { bigint: true })).mtimeNs;
  // A mailbox without rows (the first open of files another tool dropped in): every
  // name is unknown, and the pick-up lists them itself, never holding them all in JS.
  if (a.ix.isEmpty(mb.id)) {
    const added = (await pickup(ctx, a, mb, { inNew: [], inCur: [], curDir })).length;
    await storeCurMtime(a, mb.id, curDir, added > 0 ? undefined : m0);
    return { added, removed: 0 };
  }
  const names = await listNames(curDir);
  const { renamed, unknown, gone } = await classifyCur(a, mb, names);
  const flagChanges: FlagChange[] = [];
  let modseq = 0;
  if (renamed.length > 0 || gone.length > 0) {
    a.ix.tx(() => {
      modseq = a.ix.bumpModseq(mb.id);
      for (const x of renamed) {
        a.ix.setRenamedByOther(mb.id, x.r.uid, x.name, x.bits, modseq);
        if (x.bits !== x.r.flags) {
          const kw = a.ix.keywordsOf(mb.id, x.r.uid);
          flagChanges.push({ uid: x.r.uid as Uid, flags: flagList(x.bits, kw ? (JSON.parse(kw) as string[]) : []), modseq });
        }
      }
      for (const uid of gone) a.ix.deleteMessage(mb.id, uid);
      if (gone.length > 0) trimExpunged(a.ix.db, mb.id, ctx.expungedKept);
    });
  }
  const added = (await pickup(ctx, a, mb, { inNew: [], inCur: unknown })).length;
  await storeCurMtime(a, mb.id, curDir, added > 0 ? undefined : m0);
  if (gone.length > 0) {
    await coverUids(ctx, a, mb.id, 0);
    ctx.changes.publish({ kind: 'expunged', account: a.id, mailboxId: mb.id as MailboxId, uids: gone as Uid[], modseq });
  }
  if (flagChanges.length > 0) ctx.changes.publish({ kind: 'flags', account: a.id, mailboxId: mb.id as MailboxId, changes: flagChanges });
  return { added, removed: gone.length };
}

// ---------------------------------------------------------------- the account

/**
 * `reindex`: every folder and every message, under the account lock. The report counts
 * what the recovery at this account's open took in too (files another tool dropped in
 * are found there first), so the operator sees them either way.
 */
export async function reindexReported(ctx: StoreCtx, a: Acct): Promise<ReindexReport> {
  const report = await reindexLocked(ctx, a);
  report.added += a.recovered?.added ?? 0;
  report.removed += a.recovered?.removed ?? 0;
  a.recovered = undefined;
  return report;
}

/** Every folder and every message, under the account lock (`reindex`, and the first open of an account). */
export async function reindexLocked(ctx: StoreCtx, a: Acct): Promise<ReindexReport> {
  const report: ReindexReport = { mailboxes: 0, messages: 0, added: 0, removed: 0 };
  for (const row of await syncFolders(ctx, a)) {
    const uf = await readUidFile(dirOf(a, row.folder));
    if (uf.uidnext !== undefined && uf.uidvalidity === row.uidvalidity) {
      // N is at or above every UID ever given (uidlist.ts): a rebuilt or restored index starts there.
      if (uf.uidnext > row.uidnext) raiseUidNext(a, row.id, uf.uidnext);
      a.uidFileNext.set(row.id, uf.uidnext);
    }
    const r = await syncMailbox(ctx, a, row.id, true);
    report.mailboxes++;
    report.added += r.added;
    report.removed += r.removed;
  }
  report.messages = a.ix.usage().messages ?? 0;
  return report;
}

/**
 * Brings the mailbox list in line with the folders on disk: folders made by other
 * tools (mbsync, Dovecot) are added, keeping the UIDVALIDITY of their
 * mailserver-uidvalidity file when there is one; rows of vanished folders are removed.
 * Returns the rows of all folders on disk.
 */
export async function syncFolders(ctx: StoreCtx, a: Acct): Promise<MailboxRow[]> {
  const m0 = (await stat(a.root, { bigint: true })).mtimeNs;
  const entries = await readdir(a.root, { withFileTypes: true });
  const folders = [''];
  for (const e of entries) {
    if (!e.isDirectory() || !e.name.startsWith('.') || e.name === '.' || e.name === '..') continue;
    if (await stat(path.join(a.root, e.name, 'cur')).then((st) => st.isDirectory(), () => false)) folders.push(e.name);
  }
  const onDisk = new Set(folders);
  for (const row of a.ix.mailboxes()) {
    if (onDisk.has(row.folder)) continue;
    a.ix.removeMailbox(row.id);
    ctx.changes.publish({ kind: 'mailboxRemoved', account: a.id, name: row.name });
  }
  const rows: MailboxRow[] = [];
  for (const folder of folders) {
    const row = a.ix.mailboxByFolder(folder) ?? (await adoptFolder(ctx, a, folder));
    if (row) rows.push(row);
  }
  a.ix.setMeta('root_mtime', String(m0));
  return rows;
}

/** A folder another tool made: its mailbox row (undefined when its name cannot be decoded or collides). */
async function adoptFolder(ctx: StoreCtx, a: Acct, folder: string): Promise<MailboxRow | undefined> {
  const name = nameOfFolder(folder);
  if (name === undefined || a.ix.mailboxByName(name)) {
    ctx.log?.warn({ account: a.id, folder }, 'skipping a folder whose name cannot be decoded or collides');
    return undefined;
  }
  const dir = dirOf(a, folder);
  const uf = await readUidFile(dir);
  const uidvalidity = nextUidValidity(a, uf.uidvalidity);
  a.ix.insertMailbox({ name, folder, uidvalidity, uidnext: uf.uidnext ?? 1, subscribed: false });
  const row = a.ix.mailboxByName(name)!;
  if (uf.uidvalidity === undefined) await writeUidFile(ctx, dir, uidvalidity, row.uidnext);
  a.uidFileNext.set(row.id, uf.uidvalidity === undefined ? row.uidnext : (uf.uidnext ?? 0));
  ctx.changes.publish({ kind: 'mailboxAdded', account: a.id, name });
  return row;
}

// ---------------------------------------------------------------- recovery at start

/**
 * Opens the account's index; an index SQLite cannot read (corrupt, not a database) is
 * moved aside and a fresh one is built from the files by the first open's reindex (UIDs
 * and UIDVALIDITY come back from the names and mailserver-uidvalidity files).
 */
export async function openIndexOrRebuild(log: Logger | undefined, account: string, root: string): Promise<IndexDb> {
  const file = path.join(root, INDEX_FILE);
  try {
    return openIndex(file);
  } catch (err) {
    const code = (err as { code?: string }).code ?? '';
    if (!/^SQLITE_(CORRUPT|NOTADB)/.test(code)) throw err;
    const aside = `${file}.corrupt-${Date.now()}`;
    log?.error({ err, account, aside }, 'index unreadable; moved aside, rebuilding from the Maildir');
    await rename(file, aside);
    for (const x of ['-wal', '-shm']) await rm(file + x, { force: true });
    return openIndex(file);
  }
}

/**
 * Recovery at every open of an account: files linked by deliveries whose index rows a
 * crash lost (the name carries the reserved UID), and files other tools dropped in
 * while the server was down, are indexed before anyone reads the counters, so STATUS
 * and LIST see them without a SELECT first. New mail stays in new/ (it is still \Recent
 * for the next SELECT); cur/ is rescanned only if it changed since the last scan.
 * Folders gone from the disk are left to the next LIST (syncFolders).
 */
export async function recoverAccount(ctx: StoreCtx, a: Acct): Promise<void> {
  for (const row of a.ix.mailboxes()) {
    const cur = path.join(dirOf(a, row.folder), 'cur');
    if (!(await stat(cur).then((st) => st.isDirectory(), () => false))) continue;
    try {
      const r = await syncMailbox(ctx, a, row.id, false, { keepNew: true });
      if (r.added > 0 || r.removed > 0) {
        a.recovered = { added: (a.recovered?.added ?? 0) + r.added, removed: (a.recovered?.removed ?? 0) + r.removed };
        ctx.log?.info({ account: a.id, mailbox: row.name, added: r.added, removed: r.removed }, 'index brought up to date at open');
      }
    } catch (err) {
      ctx.log?.warn({ err, account: a.id, mailbox: row.name }, 'recovery of a mailbox at open failed');
    }
  }
}

/**
 * Maildir: files in a folder's tmp/ untouched for 36 hours are leftovers of interrupted
 * writes (a crash before the link: deliveries and APPEND write into the target folder's
 * tmp/, copies across file systems too); `.deleted-*` under the account root's tmp/ are
 * mailboxes whose removal was interrupted. Every folder's tmp/ is looked at. Names are
 * read as bytes (a name that is not UTF-8 is still removed), and an entry that vanishes
 * or cannot be removed is passed over, never ending the cleaning.
 */
export async function cleanTmp(a: Acct, log?: Logger): Promise<void> {
  const dirs = [a.root];
  for (const e of await readdir(a.root, { withFileTypes: true })) {
    if (e.isDirectory() && e.name.startsWith('.') && e.name !== '.' && e.name !== '..') dirs.push(path.join(a.root, e.name));
  }
  const cutoff = Date.now() - TMP_STALE_MS;
  for (const dir of dirs) {
    const tmp = Buffer.from(path.join(dir, 'tmp') + path.sep);
    let entries: Dirent<Buffer>[];
    try {
      entries = await readdir(tmp, { withFileTypes: true, encoding: 'buffer' });
    } catch (err) {
      if (!isEnoent(err)) log?.warn({ err, account: a.id, dir }, 'cannot list tmp/');
      continue;
    }
    for (const e of entries) {
      const p = Buffer.concat([tmp, e.name]);
      try {
        if (e.isDirectory() && dir === a.root && e.name.toString('latin1').startsWith('.deleted-')) await rm(p.toString(), { recursive: true, force: true });
        else if (!e.isDirectory() && (await lstat(p)).mtimeMs < cutoff) await unlink(p);
      } catch (err) {
        if (!isEnoent(err)) log?.warn({ err, account: a.id, dir }, 'cannot remove a leftover in tmp/');
      }
    }
  }
}
