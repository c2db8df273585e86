// METADATA (RFC 5464) in the account's index: the `metadata` table (index-db.ts), server
// entries under mailbox id 0. Setting a mailbox's entries raises its HIGHESTMODSEQ in the
// same transaction (RFC 7162 §3.2).
import type { AccountId, MailboxId, MetadataEntry } from '../types.js';
import { mustMailboxId, type StoreCtx } from './context.js';

export async function getMetadata(ctx: StoreCtx, account: AccountId, mailboxId: MailboxId | null): Promise<MetadataEntry[]> {
  return ctx.accounts.use(account, async (a) => {
    if (mailboxId !== null) mustMailboxId(a, mailboxId);
    return a.ix.metadataOf(mailboxId ?? 0);
  });
}

export async function setMetadata(ctx: StoreCtx, account: AccountId, mailboxId: MailboxId | null, changes: ReadonlyArray<{ entry: string; value: Buffer | null }>): Promise<void> {
  await ctx.accounts.locked(account, async (a) => {
    if (mailboxId !== null) mustMailboxId(a, mailboxId);
    a.ix.tx(() => {
      for (const c of changes) a.ix.setMetadataEntry(mailboxId ?? 0, c.entry, c.value);
      if (mailboxId !== null) a.ix.bumpModseq(mailboxId);
    });
  });
}
