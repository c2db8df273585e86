/**
 * UIDs and UIDVALIDITY of the Maildir store (the job of Dovecot's maildir-uidlist.c,
 * done with the file names and the index instead of a dovecot-uidlist file).
 *
 * On disk, two places hold them, so the index can always be rebuilt:
 *
 *   <folder>/cur/<base>,S=<size>,U=<uid>:2,<flags>    each message file carries its UID
 *   <folder>/new/<base>,S=<size>,U=<uid>
 *   <folder>/mailserver-uidvalidity                    "V<uidvalidity> N<uidnext>\n"
 *                                                      (INBOX: in the account root)
 *
 * - N is a high-water mark: it is at or above every UID ever given in the mailbox, so
 *   after the index is lost no UID is handed out again under the same UIDVALIDITY
 *   (RFC 9051 §2.3.1.1), even one whose message was expunged or removed by another tool.
 *   Every path that gives UIDs (delivery, APPEND, COPY/MOVE, pick-up of foreign files)
 *   calls coverUids before a file is linked under a new UID; when N is too low it is
 *   rewritten UID_FILE_AHEAD beyond what is needed, so a busy mailbox rewrites it once
 *   per 64 deliveries, not once per delivery. N therefore usually runs ahead of the
 *   index's UIDNEXT; UIDs are only required to ascend, so the UIDNEXT a rebuilt index
 *   takes from N may skip some.
 * - It is written when a mailbox is created, when its UID state is set (import) and by
 *   coverUids: a new file in the folder's tmp/, fsynced, renamed over the old one, then
 *   the folder fsynced. Writes for one mailbox run one at a time.
 * - `reindex` sets UIDNEXT above every `,U=` seen and at least to N.
 * - UIDVALIDITY: the creation time in seconds, and always above the last one given in
 *   this account (meta `last_uidvalidity`), so a mailbox deleted and created again in
 *   the same second gets a new one (RFC 9051 §2.3.1.1).
 *
 * Reservation (a UID is chosen before the file gets its final name, because the name
 * carries it):
 * - in the index (reserveUids): UIDNEXT raised in the transaction that inserts the rows
 *   (or before the files are linked, under the account lock: copy, move, pickup);
 * - in memory (reserveUidInMemory, deliveries, which take no lock): `Acct.uidNext` runs
 *   ahead of the stored UIDNEXT until the delivery's row is inserted with the new
 *   UIDNEXT. Every path that raises UIDNEXT raises `Acct.uidNext` with it, so the two
 *   never hand out the same UID. After a crash in between, the file's `,U=` is above the
 *   stored UIDNEXT and the next scan indexes it under that UID and raises UIDNEXT.
 */
import { readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { StoreError } from '../types.js';
import { writeFileSynced } from '../../util/fs.js';
import { dirOf, type Acct, type StoreCtx } from './context.js';
import type { MailboxRow } from './index-db.js';

export const UIDVALIDITY_FILE = 'mailserver-uidvalidity';
/** RFC 9051 §2.3.1.1: UIDs are 32-bit. */
export const MAX_UID = 0xffffffff;
/** How far beyond the UIDs given coverUids writes N. */
export const UID_FILE_AHEAD = 64;

function exhausted(): StoreError {
  return new StoreError('uidsExhausted', 'this mailbox has used up its UIDs and cannot take more messages');
}

/**
 * Reserves n consecutive UIDs and stores the new UIDNEXT (inside the transaction that
 * uses them, or under the account lock before the files are linked); returns the first.
 * StoreError 'uidsExhausted' (nothing reserved) when they would pass 2^32 - 1.
 */
export function reserveUids(a: Acct, mailboxId: number, n: number): number {
  const row = a.ix.mailboxById(mailboxId);
  if (row && Math.max(row.uidnext, a.uidNext.get(mailboxId) ?? 0) + n - 1 > MAX_UID) throw exhausted();
  const next = a.ix.reserveUids(mailboxId, a.uidNext.get(mailboxId) ?? 0, n);
  a.uidNext.set(mailboxId, next);
  return next - n;
}

/**
 * Reserves one UID for a delivery without a commit: the in-memory counter runs ahead
 * of the stored UIDNEXT until the delivery's row is inserted (which stores it).
 */
export function reserveUidInMemory(a: Acct, mb: MailboxRow): number {
  // mb was read by this delivery moments ago; UIDs reserved since by this process are
  // in a.uidNext (every reserving path updates it).
  const uid = Math.max(mb.uidnext, a.uidNext.get(mb.id) ?? 0);
  if (uid > MAX_UID) throw exhausted();
  a.uidNext.set(mb.id, uid + 1);
  return uid;
}

/**
 * Raises the stored UIDNEXT (UIDs found in file names) and the in-memory one with it:
 * deliveries reserve from the mailbox row they read before their file write plus
 * a.uidNext, so every path that raises UIDNEXT must raise a.uidNext too.
 */
export function raiseUidNext(a: Acct, mailboxId: number, next: number): void {
  a.ix.raiseUidNext(mailboxId, next);
  a.uidNext.set(mailboxId, Math.max(a.uidNext.get(mailboxId) ?? 0, next));
}

/** Sets UIDNEXT to exactly `next` (import: the caller checked it does not go backwards). */
export function setUidNext(a: Acct, mailboxId: number, next: number): void {
  a.ix.setUidNext(mailboxId, next);
  a.uidNext.set(mailboxId, next);
}

/** UIDNEXT including UIDs reserved by deliveries in flight. */
export function uidNextOf(a: Acct, mb: MailboxRow): number {
  return Math.max(mb.uidnext, a.uidNext.get(mb.id) ?? 0);
}

/** A UIDVALIDITY for a new mailbox: `given` (import) or now, above the last one given; recorded as the last. */
export function nextUidValidity(a: Acct, given?: number): number {
  const last = Number(a.ix.meta('last_uidvalidity') ?? 0);
  const v = given ?? Math.max(Math.floor(Date.now() / 1000), last + 1);
  if (v > last) a.ix.setMeta('last_uidvalidity', String(v));
  return v;
}

let tmpSeq = 0;

/** Writes a folder's mailserver-uidvalidity (fsynced file, rename, fsynced folder). */
export async function writeUidFile(ctx: Pick<StoreCtx, 'doFsync' | 'syncer'>, dir: string, uidvalidity: number, uidnext: number): Promise<void> {
  // In the folder's tmp/, so the start-up cleaning removes what a crash leaves.
  const tmp = path.join(dir, 'tmp', `${UIDVALIDITY_FILE}.${process.pid}.${++tmpSeq}`);
  await writeFileSynced(tmp, Buffer.from(`V${uidvalidity} N${uidnext}\n`), ctx.doFsync);
  try {
    await rename(tmp, path.join(dir, UIDVALIDITY_FILE));
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await ctx.syncer.sync(dir);
}

/** Runs the writes of one mailbox's file one at a time (deliveries do not hold the account lock). */
function serialUidWrite(a: Acct, mailboxId: number, fn: () => Promise<void>): Promise<void> {
  a.uidFileWrite ??= new Map();
  const prev = a.uidFileWrite.get(mailboxId) ?? Promise.resolve();
  const p = prev.catch(() => undefined).then(fn);
  a.uidFileWrite.set(mailboxId, p);
  void p.finally(() => {
    if (a.uidFileWrite?.get(mailboxId) === p) a.uidFileWrite.delete(mailboxId);
  }).catch(() => undefined);
  return p;
}

/**
 * Makes N of the mailbox's mailserver-uidvalidity cover every UID below `end` and below
 * its UIDNEXT (reservations in memory included), before a file named with such a UID is
 * linked. Nothing is written when N already does (the common case); otherwise N is set
 * UID_FILE_AHEAD beyond, and never lowered.
 */
export async function coverUids(ctx: StoreCtx, a: Acct, mailboxId: number, end: number): Promise<void> {
  const known = a.uidFileNext.get(mailboxId);
  if (known !== undefined && known >= end) {
    const row = a.ix.mailboxById(mailboxId);
    if (!row || known >= uidNextOf(a, row)) return;
  }
  await serialUidWrite(a, mailboxId, async () => {
    const row = a.ix.mailboxById(mailboxId);
    if (!row) return;
    const dir = dirOf(a, row.folder);
    let have = a.uidFileNext.get(mailboxId);
    if (have === undefined) {
      const uf = await readUidFile(dir);
      have = uf.uidvalidity === row.uidvalidity ? (uf.uidnext ?? 0) : 0;
    }
    const need = Math.max(end, uidNextOf(a, row));
    if (have < need) {
      have = Math.min(need + UID_FILE_AHEAD, MAX_UID + 1);
      await writeUidFile(ctx, dir, row.uidvalidity, have);
    }
    a.uidFileNext.set(mailboxId, Math.max(have, a.uidFileNext.get(mailboxId) ?? 0));
  });
}

/**
 * Writes a mailbox's file with the given UIDVALIDITY (import) and N at least its
 * UIDNEXT and the N already written.
 */
export async function setUidFile(ctx: StoreCtx, a: Acct, row: MailboxRow): Promise<void> {
  await serialUidWrite(a, row.id, async () => {
    const n = Math.max(uidNextOf(a, row), a.uidFileNext.get(row.id) ?? 0);
    await writeUidFile(ctx, dirOf(a, row.folder), row.uidvalidity, n);
    a.uidFileNext.set(row.id, n);
  });
}

/** V and N of a folder's mailserver-uidvalidity; {} when it is missing or unreadable. */
export async function readUidFile(dir: string): Promise<{ uidvalidity?: number; uidnext?: number }> {
  try {
    const s = await readFile(path.join(dir, UIDVALIDITY_FILE), 'utf8');
    const v = /V(\d+)/.exec(s);
    const n = /N(\d+)/.exec(s);
    return { uidvalidity: v ? Number(v[1]) : undefined, uidnext: n ? Number(n[1]) : undefined };
  } catch {
    return {};
  }
}
