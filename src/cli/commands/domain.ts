/**
 * `domain add|list|quota|remove`: the mail domains this server receives mail for.
 */
import { normalizeDomain } from '../../accounts/address.js';
import type { AccountsRepo } from '../../accounts/repo.js';
import type { DomainRecord } from '../../accounts/types.js';
import type { Db } from '../../db/index.js';
import { loadConfig } from '../../config/index.js';
import { ensureDomainKey } from '../../dkim/keys.js';
import { postmasterRoute } from '../../smtp/postmaster.js';
import { quotaOption } from './account.js';
import { formatSize, table } from '../format.js';
import { JSON_OPTION, type Command } from '../types.js';

export interface DomainSetupResult {
  domain: DomainRecord;
  /** Lines for the user after the domain is added (e.g. DNS records to publish). */
  notes: string[];
}

/**
 * Adds a domain with everything a new domain gets by default. Extend this (not the
 * command) when a domain should get more at creation, e.g. a DKIM key and the DNS
 * records to publish; `domain add` prints the notes. The web admin adds domains here too.
 */
export function addDomainWithDefaults(db: Db, repo: AccountsRepo, name: string): DomainSetupResult {
  // One transaction: a domain never exists without its defaults (nested transactions
  // become savepoints in better-sqlite3).
  const domain = db.transaction(() => {
    const d = repo.addDomain(name);
    // Every domain signs its mail from the start (RFC 6376): an RSA-2048 key; `dkim show`
    // prints the record to publish.
    ensureDomainKey(db, d.name);
    return d;
  }).immediate();
  return { domain, notes: [] };
}

export interface DomainSummary {
  name: string;
  quotaBytes: number | null;
  accounts: number;
  aliases: number;
  /** Where mail to postmaster@ goes (RFC 5321 §4.5.1), and why; null when the server has no account yet. */
  postmaster: { to: string; via: string } | null;
  createdAt: Date;
}

/** Every domain with its number of accounts and aliases (`domain list`, the web admin). */
export function domainSummaries(db: Db, repo: AccountsRepo, adminAddress: string): DomainSummary[] {
  const count = (table: string, id: number) => db.prepare(`SELECT count(*) FROM ${table} WHERE domain_id = ?`).pluck().get(id) as number;
  return repo.listDomains().map((d) => {
    const pm = postmasterRoute(repo, adminAddress, d.name);
    return { name: d.name, quotaBytes: d.quotaBytes, accounts: count('accounts', d.id), aliases: count('aliases', d.id), postmaster: pm ? { to: pm.target, via: pm.via } : null, createdAt: d.createdAt };
  });
}

export const domainCommands: Command[] = [
  {
    name: 'domain add',
    params: '<domain>',
    args: { min: 1, max: 1 },
    help: `Add a domain to receive mail for.

The name is normalised: lower-cased, with international names converted to punycode
(Bücher.example becomes xn--bcher-kva.example). Adding a domain that exists is an error.

Point the domain's MX record at this server so mail arrives here.`,
    async run(ctx, [name]) {
      const { domain, notes } = addDomainWithDefaults(ctx.db(), await ctx.accounts(), name!);
      ctx.out(`added domain ${domain.name}`);
      for (const n of notes) ctx.out(n);
    },
  },
  {
    name: 'domain list',
    params: '',
    args: { min: 0, max: 0 },
    options: [JSON_OPTION],
    help: `List the domains, with their number of accounts and aliases, and where mail to
their postmaster goes (RFC 5321 §4.5.1: every domain takes it): its postmaster alias or
account, else the admin address (admin_address, set by quickstart), else the domain's
first account, else the server's first account.`,
    async run(ctx, _args, opts) {
      const adminAddress = loadConfig({ dataRoot: ctx.dataRoot, env: ctx.io.env }).adminAddress;
      const rows = domainSummaries(ctx.db(), await ctx.accounts(), adminAddress);
      if (opts.json) return ctx.out(JSON.stringify(rows.map((r) => ({ ...r, createdAt: r.createdAt.toISOString() })), null, 2));
      if (rows.length === 0) return ctx.out('no domains; add one with: mailserver domain add <domain>');
      const pmText = (p: (typeof rows)[number]['postmaster']) => (p ? `${p.to} (${p.via})` : 'nobody yet: add an account');
      for (const line of table([['DOMAIN', 'ACCOUNTS', 'ALIASES', 'QUOTA', 'POSTMASTER'], ...rows.map((r) => [r.name, String(r.accounts), String(r.aliases), formatSize(r.quotaBytes), pmText(r.postmaster)])])) {
        ctx.out(line);
      }
    },
  },
  {
    name: 'domain quota',
    params: '<domain> <size|none>',
    args: { min: 2, max: 2 },
    help: `Set the total storage quota of a domain: all its accounts together may use at
most this much (e.g. 50G, or "none" for unlimited). Each account's own quota (account
quota) still applies; the smaller remaining room wins.`,
    async run(ctx, [name, size]) {
      const bytes = quotaOption(size, 'quota');
      const d = (await ctx.accounts()).setDomainQuota(name!, bytes ?? null);
      ctx.out(`quota of ${d.name}: ${formatSize(d.quotaBytes)}`);
    },
  },
  {
    name: 'domain remove',
    params: '<domain>',
    args: { min: 1, max: 1 },
    options: [
      { name: 'force', help: 'also remove the accounts and aliases of the domain' },
      { name: 'delete-mail', help: 'with --force: also delete the Maildirs of the removed accounts' },
    ],
    help: `Remove a domain.

A domain that still has accounts or aliases is only removed with --force, which removes
them too, in one step (nothing is removed if anything fails). Alias targets in other
domains that pointed into it are removed as well, so they do not turn into forwards.

Mail on disk is kept unless --delete-mail is given.`,
    async run(ctx, [name], opts) {
      const repo = await ctx.accounts({ withStore: Boolean(opts['delete-mail']) });
      const removed = await repo.removeDomain(name!, { force: Boolean(opts.force), deleteMail: Boolean(opts['delete-mail']) });
      const extra = removed.accounts.length + removed.aliases.length > 0 ? ` with ${removed.accounts.length} account(s) and ${removed.aliases.length} alias(es)` : '';
      ctx.out(`removed domain ${normalizeDomain(name!)}${extra}`);
    },
  },
];
