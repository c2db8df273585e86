/**
 * `account add|list|passwd|remove|quota|disable|enable`: mailboxes that can log in.
 */
import { parseAddress } from '../../accounts/address.js';
import type { AccountRecord } from '../../accounts/types.js';
import { parseSize } from '../../config/index.js';
import { CliError, type CliContext } from '../context.js';
import { formatSize, table } from '../format.js';
import { newPassword, type PasswordOptions } from '../password.js';
import { JSON_OPTION, type Command, type OptionSpec, type ParsedOptions } from '../types.js';

const PASSWORD_OPTIONS: OptionSpec[] = [
  { name: 'password-stdin', help: 'read the password from standard input (one line)' },
  { name: 'password', value: '<password>', help: 'take the password from the command line (visible in ps; prints a warning)' },
  { name: 'password-hash', value: '<hash>', help: 'store an existing hash, e.g. {SHA512-CRYPT}$6$... from Dovecot' },
];

const PASSWORD_HELP = `The password comes from a prompt without echo when standard input is a terminal, from
standard input with --password-stdin, or is generated and printed once when neither
applies (standard input is not a terminal and no password option is given). Existing
hashes from Dovecot or docker-mailserver ({SHA512-CRYPT}, {BLF-CRYPT}, {ARGON2ID}) can be
imported with --password-hash.`;

/** "2G", "500M", "none" → bytes or null; undefined when not given. */
function quotaOption(v: string | boolean | undefined, what: string): number | null | undefined {
  if (v === undefined || typeof v === 'boolean') return undefined;
  if (/^(none|unlimited)$/i.test(v.trim())) return null;
  const n = parseSize(v);
  if (n === undefined) throw new CliError(`invalid ${what} "${v}": use a size like 500M or 2G, or "none"`, true);
  return n;
}

function countOption(v: string | boolean | undefined, what: string): number | null | undefined {
  if (v === undefined || typeof v === 'boolean') return undefined;
  if (/^(none|unlimited)$/i.test(v.trim())) return null;
  if (!/^\d+$/.test(v.trim())) throw new CliError(`invalid ${what} "${v}": use a whole number, or "none"`, true);
  return Number(v);
}

/** Reads the new secret per the options and hands it to `apply`; prints a generated password once. */
async function withNewSecret(ctx: CliContext, address: string, opts: ParsedOptions, apply: (secret: { password: string } | { hash: string }) => Promise<void>): Promise<void> {
  const pw = await newPassword(ctx, opts as PasswordOptions);
  if (pw.kind === 'hash') return apply({ hash: pw.hash });
  await apply({ password: pw.password });
  if (pw.generated) ctx.out(`generated password for ${address}: ${pw.password}`);
}

function json(a: AccountRecord) {
  return {
    address: a.address,
    domain: a.domain,
    quotaBytes: a.quotaBytes,
    quotaMessages: a.quotaMessages,
    disabled: a.disabled,
    createdAt: a.createdAt.toISOString(),
  };
}

export const accountCommands: Command[] = [
  {
    name: 'account add',
    params: '<address>',
    args: { min: 1, max: 1 },
    options: [
      { name: 'quota', value: '<size>', help: 'storage quota, e.g. 500M or 2G (default: none)' },
      { name: 'quota-messages', value: '<n>', help: 'maximum number of messages (default: none)' },
      ...PASSWORD_OPTIONS,
    ],
    help: `Add an account (a mailbox that can log in) and create its Maildir.

The address is the login name. Its domain must have been added with "domain add". The
address is normalised (see docs): Bob@Example.org and bob@example.org are the same.

${PASSWORD_HELP}`,
    async run(ctx, [address], opts) {
      const quotaBytes = quotaOption(opts.quota, 'quota');
      const quotaMessages = countOption(opts['quota-messages'], 'message quota');
      const canonical = parseAddressOrUsage(address!);
      // Check before asking for a password, so a typo fails at once.
      const repo = await ctx.accounts({ withStore: true });
      if (!repo.getDomain(canonical.domain)) throw new CliError(`unknown domain ${canonical.domain}; add it first with: mailserver domain add ${canonical.domain}`);
      if (repo.getAccount(canonical.address)) throw new CliError(`account ${canonical.address} already exists`);
      await withNewSecret(ctx, canonical.address, opts, async (secret) => {
        const password = 'password' in secret ? secret.password : '';
        const passwordHash = 'hash' in secret ? secret.hash : undefined;
        await repo.addAccount(canonical.address, password, { quotaBytes, quotaMessages, passwordHash });
      });
      ctx.out(`added account ${canonical.address}`);
    },
  },
  {
    name: 'account list',
    params: '[domain]',
    args: { min: 0, max: 1 },
    options: [JSON_OPTION],
    help: `List accounts, all or those of one domain.`,
    async run(ctx, [domain], opts) {
      const accounts = (await ctx.accounts()).listAccounts(domain);
      if (opts.json) return ctx.out(JSON.stringify(accounts.map(json), null, 2));
      if (accounts.length === 0) return ctx.out('no accounts');
      const rows = accounts.map((a) => [a.address, formatSize(a.quotaBytes), a.quotaMessages === null ? '-' : String(a.quotaMessages), a.disabled ? 'disabled' : 'active']);
      for (const line of table([['ADDRESS', 'QUOTA', 'MESSAGES', 'STATUS'], ...rows])) ctx.out(line);
    },
  },
  {
    name: 'account passwd',
    params: '<address>',
    args: { min: 1, max: 1 },
    options: PASSWORD_OPTIONS,
    help: `Set a new password for an account.

${PASSWORD_HELP}`,
    async run(ctx, [address], opts) {
      const canonical = parseAddressOrUsage(address!);
      const repo = await ctx.accounts();
      if (!repo.getAccount(canonical.address)) throw new CliError(`unknown account ${canonical.address}`);
      await withNewSecret(ctx, canonical.address, opts, async (secret) => {
        if ('hash' in secret) repo.setPasswordHash(canonical.address, secret.hash);
        else await repo.setPassword(canonical.address, secret.password);
      });
      ctx.out(`password changed for ${canonical.address}`);
    },
  },
  {
    name: 'account remove',
    params: '<address>',
    args: { min: 1, max: 1 },
    options: [{ name: 'delete-mail', help: "also delete the account's Maildir (cannot be undone)" }],
    help: `Remove an account.

Alias targets that pointed at the account are removed too (and aliases left with no
target). The account's mail stays on disk unless --delete-mail is given; adding the
account again later finds it there.`,
    async run(ctx, [address], opts) {
      const canonical = parseAddressOrUsage(address!);
      const repo = await ctx.accounts({ withStore: Boolean(opts['delete-mail']) });
      await repo.removeAccount(canonical.address, { deleteMail: Boolean(opts['delete-mail']) });
      ctx.out(`removed account ${canonical.address}${opts['delete-mail'] ? ' and its mail' : ' (mail kept on disk)'}`);
    },
  },
  {
    name: 'account quota',
    params: '<address>',
    args: { min: 1, max: 1 },
    options: [
      { name: 'quota', value: '<size>', help: 'storage quota, e.g. 2G, or "none"' },
      { name: 'quota-messages', value: '<n>', help: 'maximum number of messages, or "none"' },
    ],
    help: `Change the quotas of an account; options not given stay as they are.`,
    async run(ctx, [address], opts) {
      const bytes = quotaOption(opts.quota, 'quota');
      const messages = countOption(opts['quota-messages'], 'message quota');
      if (bytes === undefined && messages === undefined) throw new CliError('give --quota and/or --quota-messages', true);
      const a = (await ctx.accounts()).setAccountQuota(address!, { bytes, messages });
      ctx.out(`quota of ${a.address}: ${formatSize(a.quotaBytes)}, messages: ${a.quotaMessages ?? '-'}`);
    },
  },
  {
    name: 'account disable',
    params: '<address>',
    args: { min: 1, max: 1 },
    help: `Disable logins for an account; mail is still delivered to it.`,
    async run(ctx, [address]) {
      const canonical = parseAddressOrUsage(address!);
      (await ctx.accounts()).setDisabled(canonical.address, true);
      ctx.out(`disabled account ${canonical.address}`);
    },
  },
  {
    name: 'account enable',
    params: '<address>',
    args: { min: 1, max: 1 },
    help: `Enable logins for a disabled account.`,
    async run(ctx, [address]) {
      const canonical = parseAddressOrUsage(address!);
      (await ctx.accounts()).setDisabled(canonical.address, false);
      ctx.out(`enabled account ${canonical.address}`);
    },
  },
];

function parseAddressOrUsage(input: string) {
  try {
    return parseAddress(input);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}
