// The account database's two caches (src/accounts/lookup-cache.ts, auth-cache.ts) over
// a real SQLite file: a write through every admin method shows at once in the lookups
// it changes, and a remembered password check never outlives a password change, a
// disabled or removed account, here or in another process (the CLI).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AccountAdmin } from '../../src/accounts/admin.js';
import { AccountsRepo } from '../../src/accounts/repo.js';
import { dbPath, openDb, type Db } from '../../src/db/index.js';

let dir: string;
let db: Db;
let repo: AccountsRepo;

beforeEach(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'accounts-cache-'));
  db = openDb(dbPath(dir));
  repo = new AccountsRepo(db);
  repo.addDomain('example.test');
  await repo.addAccount('bob@example.test', 'bob pw');
  await repo.addAccount('carol@example.test', 'carol pw');
  repo.addAlias('team@example.test', ['bob@example.test']);
});

afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const deliversTo = (address: string): string[] => {
  const r = repo.resolveRecipient(address);
  return r.kind === 'deliver' ? r.accounts.map((a) => a.address).sort() : [r.kind];
};
const loginWorks = async (user: string, pw: string) => (await repo.checkCredentials(user, pw)).kind;

/**
 * For each admin write: read what it will change (so it is cached), write, read again.
 * Every method of AccountAdmin must have a case (the test below checks the list).
 */
const WRITES: Record<string, () => Promise<void>> = {
  async addDomain() {
    expect(repo.isLocalDomain('new.test')).toBe(false);
    expect(deliversTo('x@new.test')).toEqual(['notLocal']);
    repo.addDomain('new.test');
    expect(repo.isLocalDomain('new.test')).toBe(true);
    expect(deliversTo('x@new.test')).toEqual(['unknownUser']);
  },
  async setDomainQuota() {
    expect(repo.getDomain('example.test')?.quotaBytes).toBeNull();
    repo.setDomainQuota('example.test', 1000);
    expect(repo.getDomain('example.test')?.quotaBytes).toBe(1000);
  },
  async removeDomain() {
    repo.addDomain('gone.test');
    await repo.addAccount('x@gone.test', 'x pw');
    expect(await loginWorks('x@gone.test', 'x pw')).toBe('ok');
    expect(deliversTo('x@gone.test')).toEqual(['x@gone.test']);
    await repo.removeDomain('gone.test', { force: true });
    expect(repo.isLocalDomain('gone.test')).toBe(false);
    expect(deliversTo('x@gone.test')).toEqual(['notLocal']);
    expect(await loginWorks('x@gone.test', 'x pw')).toBe('invalid');
  },
  async addAccount() {
    expect(repo.getAccount('dave@example.test')).toBeUndefined();
    expect(deliversTo('dave@example.test')).toEqual(['unknownUser']);
    await repo.addAccount('dave@example.test', 'dave pw');
    expect(repo.getAccount('dave@example.test')?.address).toBe('dave@example.test');
    expect(deliversTo('dave@example.test')).toEqual(['dave@example.test']);
  },
  async setPassword() {
    expect(await loginWorks('bob@example.test', 'bob pw')).toBe('ok');
    await repo.setPassword('bob@example.test', 'new pw');
    expect(await loginWorks('bob@example.test', 'bob pw')).toBe('invalid');
    expect(await loginWorks('bob@example.test', 'new pw')).toBe('ok');
  },
  async setPasswordHash() {
    expect(await loginWorks('bob@example.test', 'bob pw')).toBe('ok');
    // SHA512-CRYPT of "Sommer 2024!", as Dovecot stores it.
    repo.setPasswordHash('bob@example.test', '{SHA512-CRYPT}$6$ASsYo8dTdX8g5PO6$QnnUy.78CYYsoSE7PhKkZ.EeZUrT8VPx7ZG3j5k47JSkoxT6zInSnRTo/i6qP0OiFky8Tez0RVMAjrpAlMtlW1');
    expect(await loginWorks('bob@example.test', 'bob pw')).toBe('invalid');
    expect(await loginWorks('bob@example.test', 'Sommer 2024!')).toBe('ok');
  },
  async setDisabled() {
    expect(await loginWorks('bob@example.test', 'bob pw')).toBe('ok');
    expect(repo.getAccount('bob@example.test')?.disabled).toBe(false);
    repo.setDisabled('bob@example.test', true);
    expect(repo.getAccount('bob@example.test')?.disabled).toBe(true);
    expect(await loginWorks('bob@example.test', 'bob pw')).toBe('disabled');
    repo.setDisabled('bob@example.test', false);
    expect(await loginWorks('bob@example.test', 'bob pw')).toBe('ok');
  },
  async setAccountQuota() {
    expect(repo.getAccount('bob@example.test')?.quotaMessages).toBeNull();
    repo.setAccountQuota('bob@example.test', { messages: 10 });
    expect(repo.getAccount('bob@example.test')?.quotaMessages).toBe(10);
  },
  async removeAccount() {
    expect(await loginWorks('bob@example.test', 'bob pw')).toBe('ok');
    expect(deliversTo('team@example.test')).toEqual(['bob@example.test']);
    await repo.removeAccount('bob@example.test');
    expect(repo.getAccount('bob@example.test')).toBeUndefined();
    expect(deliversTo('bob@example.test')).toEqual(['unknownUser']);
    expect(deliversTo('team@example.test')).toEqual(['unknownUser']); // its only target went with it
    expect(await loginWorks('bob@example.test', 'bob pw')).toBe('invalid');
  },
  async addAlias() {
    expect(deliversTo('sales@example.test')).toEqual(['unknownUser']);
    expect(deliversTo('team@example.test')).toEqual(['bob@example.test']);
    repo.addAlias('sales@example.test', ['carol@example.test']);
    repo.addAlias('team@example.test', ['carol@example.test']);
    expect(deliversTo('sales@example.test')).toEqual(['carol@example.test']);
    expect(deliversTo('team@example.test')).toEqual(['bob@example.test', 'carol@example.test']);
    expect(repo.ownedAddresses(repo.getAccount('carol@example.test')!).addresses.has('sales@example.test')).toBe(true);
  },
  async removeAlias() {
    expect(deliversTo('team@example.test')).toEqual(['bob@example.test']);
    repo.removeAlias('team@example.test');
    expect(deliversTo('team@example.test')).toEqual(['unknownUser']);
  },
};

describe('admin writes invalidate the lookups they change', () => {
  it('has a case for every method of AccountAdmin', () => {
    const methods = Object.getOwnPropertyNames(AccountAdmin.prototype).filter((m) => m !== 'constructor');
    expect(methods.sort()).toEqual(Object.keys(WRITES).sort());
  });

  for (const [name, run] of Object.entries(WRITES)) it(name, run);

  it('a failed write leaves the caches consistent (nothing written, nothing stale)', () => {
    expect(deliversTo('team@example.test')).toEqual(['bob@example.test']);
    expect(() => repo.addAlias('team@example.test', ['carol@example.test', 'nobody@example.test'])).toThrow(/neither an account nor an alias/);
    expect(deliversTo('team@example.test')).toEqual(['bob@example.test']);
  });
});

describe('remembered password checks (auth cache)', () => {
  it('answers a repeated right password from the cache, never a wrong one', async () => {
    const before = repo.authCacheStats();
    expect(await loginWorks('bob@example.test', 'bob pw')).toBe('ok');
    expect(await loginWorks('Bob@Example.TEST', 'bob pw')).toBe('ok');
    expect(await loginWorks('bob@example.test', 'bob pw')).toBe('ok');
    expect(await loginWorks('bob@example.test', 'bob pw ')).toBe('invalid');
    expect(await loginWorks('bob@example.test', 'Bob pw')).toBe('invalid');
    const after = repo.authCacheStats();
    expect(after.hits - before.hits).toBe(2);
    expect(after.misses - before.misses).toBe(3);
  });

  it('does not trust a check once another process changed, disabled or removed the account', async () => {
    // A second connection to the same file, as `mailserver account passwd` in another process.
    const cliDb = openDb(dbPath(dir));
    const cli = new AccountsRepo(cliDb);
    try {
      expect(await loginWorks('bob@example.test', 'bob pw')).toBe('ok');
      await cli.setPassword('bob@example.test', 'changed');
      expect(await loginWorks('bob@example.test', 'bob pw')).toBe('invalid');
      expect(await loginWorks('bob@example.test', 'changed')).toBe('ok');
      cli.setDisabled('bob@example.test', true);
      expect(await loginWorks('bob@example.test', 'changed')).toBe('disabled');
      cli.setDisabled('bob@example.test', false);
      expect(await loginWorks('bob@example.test', 'changed')).toBe('ok');
      await cli.removeAccount('bob@example.test');
      expect(await loginWorks('bob@example.test', 'changed')).toBe('invalid');
    } finally {
      cliDb.close();
    }
  });

  it('is off with cache_ttl_seconds = 0, and forgets after the TTL', async () => {
    const policy = { scryptLn: 14, scryptR: 8, scryptP: 1, cacheTtlSeconds: 0 };
    const own = new AccountsRepo(db, undefined, { passwords: () => policy });
    expect(await own.checkCredentials('bob@example.test', 'bob pw')).toMatchObject({ kind: 'ok' });
    expect(await own.checkCredentials('bob@example.test', 'bob pw')).toMatchObject({ kind: 'ok' });
    expect(own.authCacheStats()).toMatchObject({ hits: 0, entries: 0 });
    policy.cacheTtlSeconds = 1;
    await own.checkCredentials('bob@example.test', 'bob pw');
    await own.checkCredentials('bob@example.test', 'bob pw');
    expect(own.authCacheStats().hits).toBe(1);
    await new Promise((r) => setTimeout(r, 1100));
    await own.checkCredentials('bob@example.test', 'bob pw');
    expect(own.authCacheStats().hits).toBe(1);
  });

  it('hashes new passwords with the configured scrypt cost and rehashes old ones at login', async () => {
    const stored = () => db.prepare('SELECT password_hash FROM accounts WHERE address = ?').pluck().get('bob@example.test') as string;
    const policy = { scryptLn: 12, scryptR: 8, scryptP: 2, cacheTtlSeconds: 300 };
    const own = new AccountsRepo(db, undefined, { passwords: () => policy });
    await own.setPassword('bob@example.test', 'pw 12');
    expect(stored()).toMatch(/^\{SCRYPT\}\$scrypt\$ln=12,r=8,p=2\$/);
    policy.scryptLn = 13;
    expect(await own.checkCredentials('bob@example.test', 'pw 12')).toMatchObject({ kind: 'ok' });
    expect(stored()).toMatch(/^\{SCRYPT\}\$scrypt\$ln=13,r=8,p=2\$/);
    // The rehash is what the cache remembers: the next login is a hit.
    const hits = own.authCacheStats().hits;
    expect(await own.checkCredentials('bob@example.test', 'pw 12')).toMatchObject({ kind: 'ok' });
    expect(own.authCacheStats().hits).toBe(hits + 1);
  });
});
