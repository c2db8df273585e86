/**
 * `sieve list|show|put|activate|deactivate|remove` and `vacation`: an account's
 * server-side filters (src/sieve/), in the server database, so they work while the
 * server runs (the next delivery uses the change).
 */
import { readFile } from 'node:fs/promises';
import { loadConfig } from '../../config/index.js';
import { getVacation, putScript, setVacationFrom, SieveScriptInvalid } from '../../sieve/settings.js';
import { SieveStore, SieveStoreError, type SieveLimits } from '../../sieve/store.js';
import { CliError, type CliContext } from '../context.js';
import { table } from '../format.js';
import { readAll } from '../password.js';
import { JSON_OPTION, type Command } from '../types.js';

function limits(ctx: CliContext): SieveLimits {
  const c = loadConfig({ dataRoot: ctx.dataRoot, env: ctx.io.env });
  return { maxScripts: c.sieve.maxScripts, maxScriptBytes: c.sieve.maxScriptSize };
}

/** The canonical account address, or a CliError naming what is wrong. */
async function account(ctx: CliContext, address: string): Promise<string> {
  const a = (await ctx.accounts()).getAccount(address);
  if (!a) throw new CliError(`no account ${address}`);
  return a.address;
}

/** Store errors as one line for the user. */
async function guarded<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof SieveStoreError) throw new CliError(err.message);
    if (err instanceof SieveScriptInvalid) throw new CliError(`the script is not valid Sieve: ${err.reason}`);
    throw err;
  }
}

/** A file's text, or standard input for "-". */
async function textOf(ctx: CliContext, file: string): Promise<string> {
  if (file === '-') return readAll(ctx.io.stdin);
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

export const sieveCommands: Command[] = [
  {
    name: 'sieve list',
    params: '<address>',
    args: { min: 1, max: 1 },
    options: [JSON_OPTION],
    help: `List an account's Sieve scripts and which one is active.

Delivery runs the active script for every message to the account (RFC 5228). Users
manage their scripts from their mail client over ManageSieve (port 4190); these
commands do the same for the admin.`,
    async run(ctx, args, opts) {
      const addr = await account(ctx, args[0]!);
      const list = await guarded(() => new SieveStore(ctx.db()).list(addr));
      if (opts.json) return ctx.out(JSON.stringify(list.map((s) => ({ ...s, updatedAt: s.updatedAt.toISOString() })), null, 2));
      if (list.length === 0) return ctx.out(`${addr} has no Sieve scripts`);
      for (const line of table([['NAME', 'ACTIVE', 'SIZE', 'UPDATED'], ...list.map((s) => [s.name, s.active ? 'yes' : '', `${s.size}`, s.updatedAt.toISOString().replace(/\.\d+Z$/, 'Z')])])) ctx.out(line);
    },
  },
  {
    name: 'sieve show',
    params: '<address> <name>',
    args: { min: 2, max: 2 },
    help: 'Print a Sieve script of an account.',
    async run(ctx, args) {
      const addr = await account(ctx, args[0]!);
      ctx.io.stdout.write(await guarded(() => new SieveStore(ctx.db()).get(addr, args[1]!)));
    },
  },
  {
    name: 'sieve put',
    params: '<address> <name> <file>',
    args: { min: 3, max: 3 },
    options: [{ name: 'activate', help: 'make it the active script too' }],
    help: `Store a Sieve script for an account (creating or replacing it), read from a file or "-" for standard input.

The script is compiled first; a script with an error is refused with the line and
column of the error, and nothing is stored. Replacing the active script keeps it active.`,
    async run(ctx, args, opts) {
      const addr = await account(ctx, args[0]!);
      const text = await textOf(ctx, args[2]!);
      await guarded(() => putScript(ctx.db(), limits(ctx), addr, args[1]!, text, { activate: Boolean(opts.activate) }));
      ctx.out(`stored script "${args[1]}" for ${addr}${opts.activate ? ' (active)' : ''}`);
    },
  },
  {
    name: 'sieve activate',
    params: '<address> <name>',
    args: { min: 2, max: 2 },
    help: 'Make a script the active one (the one delivery runs); the previously active one stays stored.',
    async run(ctx, args) {
      const addr = await account(ctx, args[0]!);
      await guarded(() => new SieveStore(ctx.db()).setActive(addr, args[1]!));
      ctx.out(`"${args[1]}" is now the active script of ${addr}`);
    },
  },
  {
    name: 'sieve deactivate',
    params: '<address>',
    args: { min: 1, max: 1 },
    help: 'Run no script for the account (its scripts stay stored).',
    async run(ctx, args) {
      const addr = await account(ctx, args[0]!);
      await guarded(() => new SieveStore(ctx.db()).setActive(addr, ''));
      ctx.out(`${addr} has no active script`);
    },
  },
  {
    name: 'sieve remove',
    params: '<address> <name>',
    args: { min: 2, max: 2 },
    options: [{ name: 'force', help: 'remove the active script too (the account then runs none)' }],
    help: 'Delete a script. The active script is kept unless --force is given (ManageSieve refuses to delete it, RFC 5804 §2.10).',
    async run(ctx, args, opts) {
      const addr = await account(ctx, args[0]!);
      const store = new SieveStore(ctx.db());
      await guarded(() => {
        if (opts.force && store.list(addr).some((s) => s.name === args[1] && s.active)) store.setActive(addr, '');
        store.delete(addr, args[1]!);
      });
      ctx.out(`removed script "${args[1]}" of ${addr}`);
    },
  },
  {
    name: 'vacation',
    params: '<address> on|off|show',
    args: { min: 2, max: 2 },
    options: [
      { name: 'subject', value: '<text>', help: 'subject of the reply (default: "Auto: " and the original subject)' },
      { name: 'message-file', value: '<file>', help: 'text of the reply, from a file or "-" for standard input' },
      { name: 'days', value: '<n>', help: 'answer each sender at most once in this many days (default 7)' },
    ],
    help: `Switch an account's out-of-office reply on or off, or show it.

The reply (RFC 5230) runs after the account's own Sieve script. It answers each sender
once per --days, never mailing lists, bulk mail, automatic replies, bounces or
MAILER-DAEMON, is DKIM-signed and leaves through the outbound queue. Options not given
keep their previous value.`,
    async run(ctx, args, opts) {
      const addr = await account(ctx, args[0]!);
      const what = args[1]!;
      if (what === 'show') {
        const v = getVacation(ctx.db(), addr);
        if (!v) return ctx.out(`vacation: off (never set) for ${addr}`);
        ctx.out(`vacation: ${v.enabled ? 'on' : 'off'}`);
        ctx.out(`days:     ${v.days}`);
        ctx.out(`subject:  ${v.subject ?? '(Auto: original subject)'}`);
        ctx.out('message:');
        ctx.out(v.message);
        return;
      }
      if (what !== 'on' && what !== 'off') throw new CliError(`expected on, off or show, not "${what}"`, true);
      const days = typeof opts.days === 'string' ? opts.days : undefined;
      const message = typeof opts['message-file'] === 'string' ? await textOf(ctx, opts['message-file']) : undefined;
      const subject = typeof opts.subject === 'string' ? opts.subject : undefined;
      const v = await guarded(() => setVacationFrom(ctx.db(), addr, { enabled: what === 'on', subject, message, days }));
      ctx.out(`vacation ${v.enabled ? `on for ${addr} (one reply per sender per ${v.days} day${v.days === 1 ? '' : 's'})` : `off for ${addr}`}`);
    },
  },
];
