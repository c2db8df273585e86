/**
 * COPY and MOVE between mailboxes of one account (the job of Dovecot's maildir-copy.c),
 * and EXPUNGE.
 *
 * Implementation notes
 * - COPY (RFC 9051 §6.4.7) hard-links each file into the destination's cur/ under a new
 *   UID with its flags; MOVE (RFC 6851) renames it, and the source rows go in the same
 *   transaction as the destination rows. Both run under the account lock and are all
 *   or nothing on the files: a failed link or rename undoes those done (a source file
 *   gone meanwhile is only left out of a MOVE), and a UID no longer in the mailbox
 *   (expunged by another session) makes the whole command do nothing.
 * - COPY is all or nothing across a crash too (RFC 9051 §6.4.7: a failed COPY leaves the
 *   destination as it was): before the first link, the names to be linked are written
 *   to the index's `pending_copies` journal (WAL fsynced); the transaction that inserts
 *   the rows deletes them. A kill between the two leaves journal entries without rows,
 *   and the next open of the account unlinks those files (rollbackCopies) before any
 *   scan could index them. A MOVE interrupted that way loses nothing either: each file
 *   is in the source or the destination, and the next scans index it where it is.
 * - Quota: a copy adds usage and is checked; a move within the account does not change
 *   usage and is always allowed (so an over-quota user can still move mail to Trash).
 * - EXPUNGE removes files first, then rows: a crash after the unlink leaves a row the
 *   next scan drops; the other order could bring an expunged message back.
 * - The destination's mailserver-uidvalidity covers the new UIDs before the files are
 *   linked, and the source's covers the removed ones (uidlist.ts coverUids).
 */
import { rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { AccountId, MailboxId, Uid, UidMapping } from '../types.js';
import { fsyncPath, isEnoent, linkOrCopy } from '../../util/fs.js';
import { FS_PARALLEL, checkQuota, dirOf, msgPath, mustMailbox, mustMailboxId, type Acct, type StoreCtx } from './context.js';
import { baseOf, curName, withUid } from './filename.js';
import { settleLocked } from './dates.js';
import { settleLimit } from './fsio.js';
import type { MailboxRow, MessageRow } from './index-db.js';
import { canonicalName } from '../names.js';
import { trackCur } from './sync.js';
import { coverUids, reserveUids } from './uidlist.js';
import { trimExpunged } from './vanished.js';
import { newEmailId } from '../emailid.js';

interface Transfer {
  r: MessageRow;
  uid: number;
  filename: string;
  from: string;
  dest: string;
}

/** COPY (isMove false) or MOVE of the given UIDs of `from` into the mailbox named `to`. */
export async function transfer(ctx: StoreCtx, account: AccountId, from: MailboxId, uids: Uid[], to: string, isMove: boolean): Promise<UidMapping> {
  const canon = canonicalName(to);
  const events: Array<() => void> = [];
  const mapping = await ctx.accounts.locked(account, async (a) => {
    const src = mustMailboxId(a, from);
    const dst = mustMailbox(a, canon);
    await settleLocked(a, from, [...uids].sort((x, y) => x - y)); // the copies keep the source's internal date (RFC 3501 §2.3.3)
    const rows = a.ix.rowsOfUids(from, uids);
    const mapping: UidMapping = { uidValidity: dst.uidvalidity, from: [], to: [] };
    // All or nothing: one UID gone (expunged meanwhile) and nothing is done.
    if (rows.length === 0 || rows.length < new Set(uids).size) return mapping;
    if (!isMove) checkQuota(ctx, a, rows.reduce((s, r) => s + r.size, 0), rows.length);
    const first = reserveUids(a, dst.id, rows.length);
    await coverUids(ctx, a, dst.id, first + rows.length);
    const ddir = dirOf(a, dst.folder);
    const plan = rows.map((r, i): Transfer => {
      const uid = first + i;
      const filename = curName(withUid(baseOf(r.filename), uid), r.flags);
      return { r, uid, filename, from: msgPath(a, src, r), dest: path.join(ddir, 'cur', filename) };
    });
    const work = (): Promise<number> => transferFiles(ctx, a, src, dst, plan, isMove, mapping);
    const srcModseq = await trackCur(a, dst, () => (isMove && src.id !== dst.id ? trackCur(a, src, work) : work()));
    if (isMove) await coverUids(ctx, a, src.id, 0);
    if (mapping.to.length > 0) {
      if (isMove) events.push(() => ctx.changes.publish({ kind: 'expunged', account, mailboxId: from, uids: [...mapping.from], modseq: srcModseq }));
      events.push(() => ctx.changes.publish({ kind: 'added', account, mailboxId: dst.id as MailboxId, uids: [...mapping.to], origin: { via: isMove ? 'move' : 'copy', from } }));
    }
    return mapping;
  });
  for (const e of events) e();
  return mapping;
}

/** The file steps and the index transaction of a transfer; fills `mapping`. */
async function transferFiles(ctx: StoreCtx, a: Acct, src: MailboxRow, dst: MailboxRow, plan: Transfer[], isMove: boolean, mapping: UidMapping): Promise<number> {
  let srcModseq = 0;
  const ddir = dirOf(a, dst.folder);
  for (const p of plan) a.inflight.set(p.dest, [dst.id, p.uid]);
  const journal = plan.map((p) => p.filename);
  try {
    if (!isMove) a.ix.addPendingCopies(dst.id, journal); // before the first link (module notes)
    const res = await settleLimit(plan, FS_PARALLEL, async (p) => {
      if (isMove) await rename(p.from, p.dest);
      else await linkOrCopy(p.from, p.dest, path.join(ddir, 'tmp'), ctx.doFsync);
      return p;
    });
    const ok = res.flatMap((x) => (x.ok ? [x.value] : []));
    const bad = res.find((x) => !x.ok);
    if (bad && !bad.ok && !(isMove && isEnoent(bad.error))) {
      // Undo: nothing of a failed copy/move may stay half done.
      const undone = await Promise.all(ok.map((p) => (isMove ? rename(p.dest, p.from) : unlink(p.dest)).then(() => true, () => false)));
      // A link that could not be undone stays in the journal: the next open removes it.
      if (!isMove) a.ix.removePendingCopies(dst.id, plan.filter((p) => !ok.includes(p) || undone[ok.indexOf(p)]).map((p) => p.filename));
      throw bad.error;
    }
    await Promise.all([ctx.syncer.sync(path.join(ddir, 'cur')), isMove ? ctx.syncer.sync(path.join(dirOf(a, src.folder), 'cur')) : Promise.resolve()]);
    a.ix.tx(() => {
      if (!isMove) a.ix.removePendingCopies(dst.id, journal); // the commit point of a COPY
      const modseq = a.ix.bumpModseq(dst.id);
      if (isMove) srcModseq = a.ix.bumpModseq(src.id);
      for (const p of ok) {
        if (isMove) a.ix.deleteMessage(src.id, p.r.uid);
        // EMAILID travels with the message (RFC 8474 §5.1); one picked up by name gets its first one here.
        const emailId = p.r.email_id ?? newEmailId();
        if (!isMove && !p.r.email_id) a.ix.setEmailId(src.id, p.r.uid, emailId);
        a.ix.insertMessage({ ...p.r, mailbox_id: dst.id, uid: p.uid, filename: p.filename, in_new: 0, modseq, email_id: emailId });
        mapping.from.push(p.r.uid as Uid);
        mapping.to.push(p.uid as Uid);
      }
      if (isMove) trimExpunged(a.ix.db, src.id, ctx.expungedKept);
    });
  } finally {
    for (const p of plan) a.inflight.delete(p.dest);
  }
  return srcModseq;
}

/**
 * At the open of an account, before anything scans its folders: the files of a COPY
 * that never committed (journal entries without a row) are unlinked, so the copy is
 * undone whole (module notes). Returns how many files were removed.
 */
export async function rollbackCopies(a: Acct, doFsync: boolean): Promise<number> {
  const entries = a.ix.pendingCopies();
  if (entries.length === 0) return 0;
  const dirs = new Set<string>();
  let removed = 0;
  for (const e of entries) {
    if (e.indexed) continue; // committed (the journal entry outlived a crash after the commit): keep
    const mb = a.ix.mailboxById(e.mailbox_id);
    if (!mb) continue;
    const cur = path.join(dirOf(a, mb.folder), 'cur');
    try {
      await unlink(path.join(cur, e.filename));
      removed++;
      dirs.add(cur);
    } catch (err) {
      if (!isEnoent(err)) throw err;
    }
  }
  if (doFsync) for (const d of dirs) await fsyncPath(d);
  a.ix.clearPendingCopies();
  return removed;
}

/** EXPUNGE: the given UIDs, or every message flagged \Deleted. Returns the UIDs removed. */
export async function expunge(ctx: StoreCtx, account: AccountId, mailboxId: MailboxId, uids?: Uid[]): Promise<Uid[]> {
  let modseq = 0;
  const removed = await ctx.accounts.locked(account, async (a) => {
    const mb = mustMailboxId(a, mailboxId);
    const rows = uids ? a.ix.keysOfUids(mailboxId, uids) : a.ix.keysDeleted(mailboxId);
    if (rows.length === 0) return [];
    // Files first (see the module notes).
    const res = await trackCur(a, mb, () =>
      settleLimit(rows, FS_PARALLEL, async (r) => {
        try {
          await unlink(msgPath(a, mb, r));
        } catch (e) {
          if (!isEnoent(e)) throw e;
        }
        return r;
      }),
    );
    const ok = res.flatMap((x) => (x.ok ? [x.value] : []));
    for (const x of res) if (!x.ok) ctx.log?.warn({ err: x.error, account: a.id }, 'expunge: unlink failed');
    a.ix.tx(() => {
      modseq = a.ix.bumpModseq(mailboxId); // the modseq the expunged rows are recorded with (vanished.ts)
      for (const r of ok) a.ix.deleteMessage(mailboxId, r.uid);
      trimExpunged(a.ix.db, mailboxId, ctx.expungedKept);
    });
    await coverUids(ctx, a, mb.id, 0);
    return ok.map((r) => r.uid as Uid);
  });
  if (removed.length > 0) ctx.changes.publish({ kind: 'expunged', account, mailboxId, uids: removed, modseq });
  return removed;
}
