/**
 * Management errors of the account database and the input checks that raise them: every
 * address, domain and quota passes through here before it touches SQL, so the tables
 * hold canonical forms only (address.ts) and a bad value fails with one clear line.
 */
import { AddressError, catchAllKey, normalizeDomain, parseAddress } from './address.js';

export type AccountsErrorKind = 'invalid' | 'notFound' | 'exists' | 'notEmpty' | 'loop' | 'storage';

/** A management error with one clear line of text; the CLI prints it as is. */
export class AccountsError extends Error {
  constructor(
    readonly kind: AccountsErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'AccountsError';
  }
}

/** Parses input into a canonical address, turning AddressError into AccountsError. */
export function addr(input: string): { local: string; domain: string; address: string } {
  try {
    return parseAddress(input);
  } catch (err) {
    if (err instanceof AddressError) throw new AccountsError('invalid', err.message);
    throw err;
  }
}

export function dom(input: string): string {
  try {
    return normalizeDomain(input);
  } catch (err) {
    if (err instanceof AddressError) throw new AccountsError('invalid', err.message);
    throw err;
  }
}

/** An alias key: `local@domain`, or `@domain` for a catch-all. */
export function aliasKey(input: string): { address: string; domain: string; catchAll: boolean } {
  const s = input.trim();
  if (s.startsWith('@')) {
    const domain = dom(s.slice(1));
    return { address: catchAllKey(domain), domain, catchAll: true };
  }
  const a = addr(s);
  return { address: a.address, domain: a.domain, catchAll: false };
}

export function validQuota(n: number | null | undefined, what: string): number | null {
  if (n === undefined || n === null) return null;
  if (!Number.isSafeInteger(n) || n < 0) throw new AccountsError('invalid', `invalid ${what} ${n}: must be a whole number >= 0`);
  return n;
}

/** An imported hash must be in a scheme verifyPassword knows, or logins would silently fail. */
export function checkImportedHash(hash: string): void {
  if (!/^(\{(SCRYPT|SHA512-CRYPT|SHA256-CRYPT|CRYPT|BLF-CRYPT|ARGON2ID|ARGON2I)\})?\$(scrypt|6|5|2[aby]?|argon2id|argon2i)\$\S+$/i.test(hash)) {
    throw new AccountsError('invalid', 'unsupported password hash: use {SCRYPT}, {SHA512-CRYPT}, {SHA256-CRYPT}, {BLF-CRYPT}, {ARGON2ID} or {ARGON2I}');
  }
}
