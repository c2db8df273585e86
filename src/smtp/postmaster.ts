/**
 * Postmaster (RFC 5321 §4.5.1): every SMTP receiver MUST accept mail to "postmaster"
 * (no domain, any case) and to postmaster@ every domain it receives mail for, even a
 * domain made with `domain add` alone, with no account or alias yet. Where it goes:
 *
 * 1. where postmaster@<domain> goes like any address: its alias (quickstart makes one
 *    to the admin), an account of that name, or the domain's catch-all;
 * 2. else the server's admin address (`admin_address`, written by quickstart), when it
 *    is a mailbox here;
 * 3. else the domain's first account (the oldest enabled one);
 * 4. else the server's first account (a domain with no account at all yet).
 *
 * Bare "postmaster" is the postmaster of the server's own domain: the local domain that
 * is its host name or holds it (mail.example.org → example.org), else the admin's
 * domain, else the first local domain with an account. `domain list` shows the route.
 */
import { parseAddress } from '../accounts/address.js';
import type { Accounts, AccountRecord, Resolution } from '../accounts/types.js';

export type PostmasterVia = 'alias' | 'account' | 'admin' | 'first account' | "server's first account";

export interface PostmasterRoute {
  via: PostmasterVia;
  /** The mailbox (or alias) it ends up at, for `domain list` and the logs. */
  target: string;
  resolution: Extract<Resolution, { kind: 'deliver' }>;
}

type PostmasterAccounts = Pick<Accounts, 'resolveRecipient' | 'isLocalDomain' | 'getAccount' | 'listAccounts'>;

/** "postmaster" in any case, with or without a domain (RFC 5321 §4.5.1: case-independent). */
export function isPostmaster(raw: string): boolean {
  const at = raw.lastIndexOf('@');
  return (at < 0 ? raw : raw.slice(0, at)).toLowerCase() === 'postmaster';
}

function oldest(accounts: AccountRecord[]): AccountRecord | undefined {
  return accounts.filter((a) => !a.disabled).sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.id - b.id)[0];
}

function deliverTo(account: AccountRecord): PostmasterRoute['resolution'] {
  return { kind: 'deliver', accounts: [account], forward: [] };
}

/** Where postmaster@<domain> goes; undefined when the domain is not ours or no mailbox exists at all. */
export function postmasterRoute(accounts: PostmasterAccounts, adminAddress: string, domain: string): PostmasterRoute | undefined {
  if (!accounts.isLocalDomain(domain)) return undefined;
  const own = `postmaster@${domain}`;
  const r = accounts.resolveRecipient(own);
  if (r.kind === 'deliver') {
    const target = r.accounts.map((a) => a.address).concat(r.forward).join(', ');
    return { via: accounts.getAccount(own) ? 'account' : 'alias', target, resolution: r };
  }
  if (adminAddress) {
    const admin = accounts.resolveRecipient(adminAddress);
    if (admin.kind === 'deliver') return { via: 'admin', target: adminAddress, resolution: admin };
  }
  const first = oldest(accounts.listAccounts(domain));
  if (first) return { via: 'first account', target: first.address, resolution: deliverTo(first) };
  const any = oldest(accounts.listAccounts());
  if (any) return { via: "server's first account", target: any.address, resolution: deliverTo(any) };
  return undefined;
}

/** The domain whose postmaster a bare "postmaster" is (see the module note). */
export function serverDomain(accounts: PostmasterAccounts, hostname: string, adminAddress: string): string | undefined {
  const labels = hostname.toLowerCase().split('.');
  for (let i = 0; i < labels.length - 1; i++) {
    const d = labels.slice(i).join('.');
    if (accounts.isLocalDomain(d)) return d;
  }
  if (adminAddress) {
    try {
      const d = parseAddress(adminAddress).domain;
      if (accounts.isLocalDomain(d)) return d;
    } catch {
      // not an address: ignored
    }
  }
  return oldest(accounts.listAccounts())?.domain;
}

/**
 * Resolves an envelope recipient for delivery: as any address, except that postmaster
 * of a local domain (or bare postmaster) always reaches a mailbox when one exists.
 */
export function resolveWithPostmaster(accounts: PostmasterAccounts, config: { hostname: string; adminAddress: string }, raw: string): Resolution {
  if (!isPostmaster(raw)) return accounts.resolveRecipient(raw);
  let domain: string | undefined;
  if (raw.includes('@')) {
    try {
      domain = parseAddress(raw).domain;
    } catch {
      return accounts.resolveRecipient(raw);
    }
    if (!accounts.isLocalDomain(domain)) return accounts.resolveRecipient(raw);
  } else {
    domain = serverDomain(accounts, config.hostname, config.adminAddress);
  }
  const route = domain ? postmasterRoute(accounts, config.adminAddress, domain) : undefined;
  return route?.resolution ?? { kind: 'unknownUser' };
}

/** An envelope recipient in canonical form: the parsed address, or "postmaster" for the bare one. */
export function envelopeRecipient(raw: string): string {
  return !raw.includes('@') && isPostmaster(raw) ? 'postmaster' : parseAddress(raw).address;
}
