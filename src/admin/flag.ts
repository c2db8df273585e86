/**
 * The admin flag of accounts (migration 80): who may use the web admin at /admin.
 * Kept out of the account repository (src/accounts/): only the web admin and its CLI
 * verb (`mailserver account admin <address> on|off`) read or change it, and no mail
 * protocol cares. Read from the database on every admin request, so taking the flag
 * away (or disabling or removing the account) ends admin access at the next click.
 */
import { AddressError, parseAddress } from '../accounts/address.js';
import { AccountsError } from '../accounts/repo.js';
import type { Db } from '../db/index.js';

function canonical(address: string): string {
  try {
    return parseAddress(address).address;
  } catch (err) {
    if (err instanceof AddressError) throw new AccountsError('invalid', err.message);
    throw err;
  }
}

/** True when the account exists, is enabled and has the admin flag. */
export function isAdmin(db: Db, address: string): boolean {
  let a: string;
  try {
    a = canonical(address);
  } catch {
    return false;
  }
  return db.prepare('SELECT 1 FROM accounts WHERE address = ? AND admin = 1 AND disabled = 0').get(a) !== undefined;
}

/** Sets or clears the flag; AccountsError('notFound') for an unknown account. */
export function setAdmin(db: Db, address: string, on: boolean): void {
  const a = canonical(address);
  const info = db.prepare('UPDATE accounts SET admin = ? WHERE address = ?').run(on ? 1 : 0, a);
  if (info.changes === 0) throw new AccountsError('notFound', `unknown account ${a}`);
}

/** The addresses flagged admin (disabled ones included). */
export function adminAddresses(db: Db): Set<string> {
  return new Set(db.prepare('SELECT address FROM accounts WHERE admin = 1').pluck().all() as string[]);
}
