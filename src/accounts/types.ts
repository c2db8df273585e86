/**
 * The account database as the rest of the server sees it. Protocol front ends call
 * `resolveRecipient` (SMTP RCPT TO); logins go through `authenticate` (login.ts), which
 * calls `checkCredentials`; the CLI calls the management methods. The SQLite
 * implementation is AccountsRepo in repo.ts (lookups in lookup.ts, writes in admin.ts);
 * keep this interface small enough that a PostgreSQL one could follow.
 */
import type { AccountId } from '../store/types.js';

export interface DomainRecord {
  id: number;
  name: string;
  quotaBytes: number | null;
  createdAt: Date;
}

export interface AccountRecord {
  id: number;
  /** Canonical `local@domain`; also the store's AccountId. */
  address: AccountId;
  local: string;
  domain: string;
  quotaBytes: number | null;
  quotaMessages: number | null;
  disabled: boolean;
  createdAt: Date;
}

export interface AliasRecord {
  id: number;
  /** `local@domain`, or `@domain` for a catch-all. */
  address: string;
  domain: string;
  targets: string[];
}

/** Where mail for one envelope recipient goes, after aliases, catch-all and plus-addressing. */
export type Resolution =
  /** One or more local accounts (duplicates removed) and remote addresses an alias forwards to. */
  | { kind: 'deliver'; accounts: AccountRecord[]; forward: string[] }
  /** The domain is ours but nobody has that address: `550 5.1.1`. */
  | { kind: 'unknownUser' }
  /** The domain is not ours: for port 25 that is relaying, `554 5.7.1`. */
  | { kind: 'notLocal' };

/** The outcome of a password check (a failing credential store throws instead). */
export type CredentialCheck =
  | { kind: 'ok'; account: AccountRecord }
  /** Unknown login name or wrong password; which one is never told. */
  | { kind: 'invalid' }
  /** The right password for a disabled account. */
  | { kind: 'disabled'; account: AccountRecord };

export interface Accounts {
  isLocalDomain(domain: string): boolean;
  resolveRecipient(address: string): Resolution;
  /** Checks a login name and password; throws when the credential store fails (a temporary failure, not a wrong password). */
  checkCredentials(username: string, password: string): Promise<CredentialCheck>;
  /** The enabled account for a right name and password; undefined on any failure (no reason leaked). */
  verifyCredentials(username: string, password: string): Promise<AccountRecord | undefined>;
  getAccount(address: string): AccountRecord | undefined;
  /** A domain's accounts (every account without a domain); postmaster's fallback (src/smtp/postmaster.ts) takes the oldest. */
  listAccounts(domain?: string): AccountRecord[];
  /** The addresses an account may send as: its own, aliases and catch-alls that deliver to it. */
  ownedAddresses(account: AccountRecord): { addresses: Set<string>; catchAllDomains: Set<string> };
}
