/**
 * AccountsRepo: the account database (domains, accounts, aliases) over SQLite, the
 * implementation of `Accounts` (types.ts) the server and the CLI use. It is made of two
 * halves, as mox splits lookup.go from admin.go:
 *
 * - lookup.ts (AccountLookup): what the protocol front ends ask on every message and
 *   login (recipient resolution, owned addresses, credentials), behind an explicit read
 *   cache (lookup-cache.ts) and the cache of recent password checks (auth-cache.ts);
 * - admin.ts (AccountAdmin): the management writes, each through the one write path
 *   that empties both caches.
 *
 * Every address passes through address.ts normalisation before it touches SQL, so the
 * tables only hold canonical forms and lookups are plain equality.
 */
export { AccountsError, type AccountsErrorKind } from './errors.js';
export { MAX_ALIAS_DEPTH, type AccountsOptions, type PasswordPolicy } from './lookup.js';
export { AccountAdmin as AccountsRepo } from './admin.js';
