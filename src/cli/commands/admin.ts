/**
 * `account admin <address> [on|off]`: the flag that lets an account log in to the web
 * admin (src/admin/, docs/admin.md).
 */
import { parseAddress } from '../../accounts/address.js';
import { adminAddresses, setAdmin } from '../../admin/flag.js';
import { CliError } from '../context.js';
import type { Command } from '../types.js';

export const adminCommands: Command[] = [
  {
    name: 'account admin',
    params: '<address> [on|off]',
    args: { min: 1, max: 2 },
    help: `Let an account log in to the web admin (on), take that away (off), or show the flag.

The web admin is served at /admin on the HTTPS listener when admin.enabled = true, to
the networks in admin.allow only (loopback by default); see docs/admin.md. An admin logs
in with the account's address and password; a disabled account cannot log in.`,
    run(ctx, [address, value]) {
      let canonical: string;
      try {
        canonical = parseAddress(address!).address;
      } catch (err) {
        throw new CliError((err as Error).message);
      }
      if (value === undefined) {
        if (!ctx.db().prepare('SELECT 1 FROM accounts WHERE address = ?').get(canonical)) throw new CliError(`unknown account ${canonical}`);
        return ctx.out(`${canonical}: admin ${adminAddresses(ctx.db()).has(canonical) ? 'on' : 'off'}`);
      }
      if (value !== 'on' && value !== 'off') throw new CliError(`say "on" or "off", not "${value}"`, true);
      setAdmin(ctx.db(), canonical, value === 'on');
      ctx.out(`${canonical}: admin ${value}`);
    },
  },
];
