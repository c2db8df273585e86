/**
 * OBJECTID (RFC 8474): MAILBOXID, EMAILID and THREADID.
 * - MAILBOXID (§4): derived from what identifies a mailbox in the store and survives a
 *   RENAME (its store id and UIDVALIDITY), hashed with the account so it names nothing.
 *   A mailbox deleted and made again gets another (new id, new UIDVALIDITY); an index
 *   rebuilt by `reindex` may give new ones, as it may give new UIDVALIDITYs.
 * - EMAILID (§5.1): the store's id of the message (MessageMeta.emailId), the same in
 *   every mailbox COPY or MOVE put it.
 * - THREADID (§5.2): NIL; threads are not computed per message (THREAD is a command).
 */
import { createHash } from 'node:crypto';
import type { AccountId, MailboxId } from '../store/types.js';

/** `F` and 24 hex digits: objectid = 1*255(ALPHA / DIGIT / "_" / "-") (RFC 8474 §7). */
export function mailboxObjectId(account: AccountId, mb: { id: MailboxId; uidValidity: number }): string {
  return 'F' + createHash('sha256').update(`${account}\0${mb.id}\0${mb.uidValidity}`).digest('hex').slice(0, 24);
}

/** objectid grammar: what SEARCH EMAILID/THREADID take. */
export const OBJECTID_RE = /^[A-Za-z0-9_-]{1,255}$/;
