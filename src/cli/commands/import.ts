/**
 * `import maildir <address> <dir>`: moves an account over from Dovecot (docker-mailserver,
 * mailcow) with its folders, flags, keywords, UIDs and UIDVALIDITY (src/store/maildir/import.ts).
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { supportsImport } from '../../store/types.js';
import { CliError } from '../context.js';
import type { Command } from '../types.js';

export const importCommands: Command[] = [
  {
    name: 'import maildir',
    params: '<address> <dir>',
    args: { min: 2, max: 2 },
    help: `Import a Dovecot Maildir++ tree into an existing account, keeping UIDs.

<dir> is the account's Maildir on the old server (with cur/, new/ and the .Folder
directories), e.g. docker-mailserver's /var/mail/<domain>/<user>. Every folder is created
(or filled, if it is still empty) with its flags, keywords (dovecot-keywords) and,
from dovecot-uidlist, its UIDs and UIDVALIDITY: mail clients keep their caches and
download nothing again as long as the server's name stays the same. A folder that
already holds other mail here gets the new messages with new UIDs. The source is
only read. Run it again later to bring over what arrived meanwhile: messages already
imported (same UID) are skipped.

Run it before the account receives mail here (before the MX points at this server),
with the server running or not; import the password hash with
"account add --password-hash" (see docs/accounts.md).`,
    async run(ctx, [address, dir]) {
      const repo = await ctx.accounts();
      const account = repo.getAccount(address);
      if (!account) throw new CliError(`unknown account ${address}`);
      const root = path.resolve(dir);
      if (!existsSync(root) || !statSync(root).isDirectory()) throw new CliError(`${dir} is not a directory`);
      const { importMaildir } = await import('../../store/maildir/import.js');
      const store = await ctx.store();
      if (!supportsImport(store)) throw new CliError('this message store cannot import with UIDs kept');
      const reports = await importMaildir(store, account.address, root, (r) =>
        ctx.out(
          r.folderSkipped
            ? `${r.mailbox}: skipped: it holds mail here already, and without a dovecot-uidlist nothing tells which messages are new`
            : `${r.mailbox}: ${r.messages} message(s)${r.skipped ? `, ${r.skipped} already here` : ''}, ${r.keptUids ? `UIDs kept (UIDVALIDITY ${r.uidValidity})` : 'new UIDs'}`,
        ),
      );
      if (reports.length === 0) throw new CliError(`no Maildir folders (cur/, new/) found in ${dir}`);
    },
  },
];
