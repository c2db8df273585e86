/**
 * `reindex [address]`: rebuild mailbox indexes from the Maildir files.
 */
import { CliError } from '../context.js';
import type { Command } from '../types.js';

export const reindexCommands: Command[] = [
  {
    name: 'reindex',
    params: '[address]',
    args: { min: 0, max: 1 },
    help: `Rebuild the mailbox index of one account, or of every account, from the files.

Messages the index already knows keep their UIDs, so mail clients keep their caches;
files dropped into new/ or cur/ by other tools are added, and index rows whose file is
gone are removed; the full-text index of SEARCH is rebuilt. Safe to run while the
server runs.`,
    async run(ctx, [address]) {
      const repo = await ctx.accounts();
      let accounts: string[];
      if (address !== undefined) {
        const a = repo.getAccount(address);
        if (!a) throw new CliError(`unknown account ${address}`);
        accounts = [a.address];
      } else {
        accounts = repo.listAccounts().map((a) => a.address);
      }
      const store = await ctx.store();
      for (const a of accounts) {
        const r = await store.reindex(a);
        ctx.out(`${a}: ${r.mailboxes} mailbox(es), ${r.messages} message(s), ${r.added} added, ${r.removed} removed`);
      }
      if (accounts.length === 0) ctx.out('no accounts');
      // The full-text index of SEARCH is emptied by reindex and filled again: done before exit.
      await (store as { ftsIdle?: () => Promise<void> }).ftsIdle?.();
    },
  },
];
