/**
 * `account add|list|passwd|remove|quota|disable|enable`: mailboxes that can log in.
 */
import { parseAddress } from '../../accounts/address.js';
import type { AccountRecord } from '../../accounts/types.js';
import { parseSize } from '../../config/index.js';
import type { MailStore, Usage } from '../../store/types.js';
import { CliError, type CliContext } from '../context.js';
import { formatSize, formatUsage, table } from '../format.js';
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
export function quotaOption(v: string | boolean | undefined, what: string): number | null | undefined {
  if (v === undefined || typeof v === 'boolean') return undefined;
  if (/^(none|unlimited)$/i.test(v.trim())) return null;
  const n = parseSize(v);
  if (n === undefined) throw new CliError(`invalid ${what} "${v}": use a size like 500M or 2G, or "none"`, true);
  return n;
}

export function countOption(v: string | boolean | undefined, what: string): number | null | undefined {
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

function json(a: AccountRecord, u: Usage | undefined) {
  return {
    address: a.address,
    domain: a.domain,
    quotaBytes: a.quotaBytes,
    quotaMessages: a.quotaMessages,
    /** What the account's Maildir holds now (null when it cannot be read). */
    usageBytes: u ? u.bytes : null,
    usageMessages: u ? u.messages : null,
    disabled: a.disabled,
    createdAt: a.createdAt.toISOString(),
  };
}

/** Exact usage per account from the store's index (undefined when the Maildir is missing or unreadable). */
async function usages(ctx: CliContext, accounts: AccountRecord[]): Promise<Map<string, Usage | undefined>> {
  return accounts.length === 0 ? new Map() : accountUsages(await ctx.store(), accounts);
}

/** Usage of each account (`account list`, the web admin's disk page). */
export async function accountUsages(store: MailStore, accounts: AccountRecord[]): Promise<Map<string, Usage | undefined>> {
  const out = new Map<string, Usage | undefined>();
  for (const a of accounts) out.set(a.address, await store.usage(a.address).catch(() => undefined));
  return out;
}

/** "1.2M (61%)" or "1.2M"; "?" when unknown. */
function usedColumn(used: number | undefined, limit: number | null, size: boolean): string {
  if (used === undefined) return '?';
  const text = size ? formatUsage(used) : String(used);
  return limit != null && limit > 0 ? `${text} (${Math.floor((used * 100) / limit)}%)` : text;
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
    help: `List accounts, all or those of one domain, with their quotas and usage.

USED is the storage the account's mailboxes take now (with the share of its quota), and
MESSAGES the number of messages "used/limit" ("-" = no limit).`,
    async run(ctx, [domain], opts) {
      const accounts = (await ctx.accounts()).listAccounts(domain);
      const used = await usages(ctx, accounts);
      if (opts.json) return ctx.out(JSON.stringify(accounts.map((a) => json(a, used.get(a.address))), null, 2));
      if (accounts.length === 0) return ctx.out('no accounts');
      const rows = accounts.map((a) => {
        const u = used.get(a.address);
        return [
          a.address,
          formatSize(a.quotaBytes),
          usedColumn(u?.bytes, a.quotaBytes, true),
          `${u ? u.messages : '?'}/${a.quotaMessages === null ? '-' : String(a.quotaMessages)}`,
          a.disabled ? 'disabled' : 'active',
        ];
      });
      for (const line of table([['ADDRESS', 'QUOTA', 'USED', 'MESSAGES', 'STATUS'], ...rows])) ctx.out(line);
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
    params: '<address> [size|none]',
    args: { min: 1, max: 2 },
    options: [
      { name: 'messages', value: '<n>', help: 'maximum number of messages, or "none"' },
      { name: 'quota', value: '<size>', help: 'storage quota, e.g. 2G, or "none" (same as the size argument)' },
      { name: 'quota-messages', value: '<n>', help: 'same as --messages' },
    ],
    help: `Change the quotas of an account; what is not given stays as it is.

The size is the storage quota (e.g. 500M, 2G, or "none" for unlimited); --messages
limits the number of messages. A domain quota (domain quota) applies on top.

When the mailbox is full, SMTP refuses new mail with 452 4.2.2 (senders retry later) and
IMAP APPEND/COPY answer NO [OVERQUOTA]. The account gets a warning message once when it
reaches quota.warn_percent (90% by default).`,
    async run(ctx, [address, size], opts) {
      if (size !== undefined && opts.quota !== undefined) throw new CliError('give the size either as argument or with --quota', true);
      const bytes = quotaOption(size ?? opts.quota, 'quota');
      if (opts.messages !== undefined && opts['quota-messages'] !== undefined) throw new CliError('give --messages once', true);
      const messages = countOption(opts.messages ?? opts['quota-messages'], 'message quota');
      if (bytes === undefined && messages === undefined) throw new CliError('give a size and/or --messages', true);
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
