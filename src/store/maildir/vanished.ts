/**
 * The expunged-UID record of QRESYNC (RFC 7162 §3.2.5, §3.2.6) in the account index:
 * the rows are written by triggers (index-db.ts) whenever a message row leaves a
 * mailbox; here they are read and bounded.
 *
 * The bound: at most `keep` records per mailbox. Trimming forgets the oldest and raises
 * the mailbox's floor to the highest modseq forgotten, so `vanished(since)` knows
 * whether its answer is whole (since >= floor) or may miss expunges (the IMAP layer then
 * reports every known UID it cannot find, as RFC 7162 §3.2.5.2 allows).
 */
import { StatementCache } from '../../db/statements.js';
import type { AccountId, MailboxId, Uid, Vanished } from '../types.js';
import { mustMailboxId, type StoreCtx } from './context.js';
import type { IndexDb } from './index-db.js';

const caches = new WeakMap<IndexDb, StatementCache>();

function q(db: IndexDb, sql: string): ReturnType<StatementCache['get']> {
  let c = caches.get(db);
  if (!c) caches.set(db, (c = new StatementCache(db)));
  return c.get(sql);
}

/** The UIDs expunged from a mailbox with a modseq above `since`, and whether none was forgotten. */
export function vanishedSince(db: IndexDb, mailboxId: number, since: number): Vanished {
  const uids = q(db, 'SELECT uid FROM expunged WHERE mailbox_id = ? AND modseq > ? ORDER BY uid').pluck().all(mailboxId, since) as Uid[];
  const floor = (q(db, 'SELECT modseq FROM expunged_floor WHERE mailbox_id = ?').pluck().get(mailboxId) as number | undefined) ?? 0;
  return { uids, complete: since >= floor };
}

/**
 * Keeps the `keep` most recent records of a mailbox: call in the transaction that
 * removed message rows. Costs one index walk of `keep` entries when over the bound.
 */
export function trimExpunged(db: IndexDb, mailboxId: number, keep: number): void {
  const cut = q(db, 'SELECT modseq FROM expunged WHERE mailbox_id = ? ORDER BY modseq DESC LIMIT 1 OFFSET ?').pluck().get(mailboxId, keep) as number | undefined;
  if (cut === undefined) return;
  q(db, 'DELETE FROM expunged WHERE mailbox_id = ? AND modseq <= ?').run(mailboxId, cut);
  q(db, 'INSERT INTO expunged_floor (mailbox_id, modseq) VALUES (?, ?) ON CONFLICT (mailbox_id) DO UPDATE SET modseq = max(modseq, excluded.modseq)').run(mailboxId, cut);
}

export function vanished(ctx: StoreCtx, account: AccountId, mailboxId: MailboxId, since: number): Promise<Vanished> {
  return ctx.accounts.use(account, async (a) => {
    mustMailboxId(a, mailboxId);
    return vanishedSince(a.ix.db, mailboxId, since);
  });
}
