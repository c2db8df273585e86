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
 * - mailserver-uidvalidity is written when a mailbox is created, when its UID state is
 *   set (import), and when messages are expunged or moved out (N then covers every UID
 *   ever given, so an expunged UID is not handed out again under the same UIDVALIDITY
 *   after the index is lost). It is replaced by rename of `.mailserver-uidvalidity.tmp`;
 *   it is not fsynced (a lost update only lowers N to an older value, and every UID still
 *   on disk is in a file name).
 * - `reindex` sets UIDNEXT above every `,U=` seen and above N.
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
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { StoreError } from '../types.js';
import type { Acct } from './context.js';
import type { MailboxRow } from './index-db.js';

export const UIDVALIDITY_FILE = 'mailserver-uidvalidity';
/** RFC 9051 §2.3.1.1: UIDs are 32-bit. */
export const MAX_UID = 0xffffffff;

/** Reserves n consecutive UIDs and stores the new UIDNEXT (call inside the transaction that uses them); returns the first. */
export function reserveUids(a: Acct, mailboxId: number, n: number): number {
  const next = a.ix.reserveUids(mailboxId, a.uidNext.get(mailboxId) ?? 0, n);
  if (next - 1 > MAX_UID) throw new StoreError('overQuota', 'UID space of the mailbox exhausted');
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
  if (uid > MAX_UID) throw new StoreError('overQuota', 'UID space of the mailbox exhausted');
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

export async function writeUidFile(dir: string, uidvalidity: number, uidnext: number): Promise<void> {
  const tmp = path.join(dir, `.${UIDVALIDITY_FILE}.tmp`);
  await writeFile(tmp, `V${uidvalidity} N${uidnext}\n`);
  await rename(tmp, path.join(dir, UIDVALIDITY_FILE));
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
