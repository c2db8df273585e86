// AccountsRepo over a real SQLite file in a temp data root: management rules, recipient
// resolution (aliases, plus-addressing, catch-all, loops, duplicates), credentials.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AccountsError, AccountsRepo, MAX_ALIAS_DEPTH } from '../../src/accounts/repo.js';
import { dbPath, openDb, type Db } from '../../src/db/index.js';

let dir: string;
let db: Db;
let repo: AccountsRepo;

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'accounts-'));
  db = openDb(dbPath(dir));
  repo = new AccountsRepo(db);
});

afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

function addresses(r: ReturnType<AccountsRepo['resolveRecipient']>): string[] {
  if (r.kind !== 'deliver') return [r.kind];
  return r.accounts.map((a) => a.address).sort();
}

function kindOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AccountsError);
    expect((err as Error).message).not.toContain('\n');
    return (err as AccountsError).kind;
  }
  return undefined;
}

async function kindOfAsync(fn: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AccountsError);
    expect((err as Error).message).not.toContain('\n');
    return (err as AccountsError).kind;
  }
  return undefined;
}

describe('domains', () => {
  it('adds, normalises, lists and refuses duplicates', () => {
    expect(repo.addDomain('Bücher.Example').name).toBe('xn--bcher-kva.example');
    repo.addDomain('example.test');
    expect(kindOf(() => repo.addDomain('EXAMPLE.test'))).toBe('exists');
    expect(kindOf(() => repo.addDomain('not a domain'))).toBe('invalid');
    expect(repo.listDomains().map((d) => d.name)).toEqual(['example.test', 'xn--bcher-kva.example']);
    expect(repo.isLocalDomain('BÜCHER.example')).toBe(true);
    expect(repo.isLocalDomain('other.test')).toBe(false);
  });

  it('refuses to remove a domain with accounts or aliases unless forced, and then removes all of it', async () => {
    repo.addDomain('example.test');
    repo.addDomain('other.test');
    await repo.addAccount('bob@example.test', 'pw');
    await repo.addAccount('carol@other.test', 'pw');
    repo.addAlias('info@example.test', ['bob@example.test']);
    repo.addAlias('team@other.test', ['carol@other.test', 'bob@example.test']);
    expect(await kindOfAsync(() => repo.removeDomain('example.test'))).toBe('notEmpty');
    expect(repo.listAccounts('example.test')).toHaveLength(1);
    const removed = await repo.removeDomain('example.test', { force: true });
    expect(removed).toEqual({ accounts: ['bob@example.test'], aliases: ['info@example.test'] });
    expect(repo.listDomains().map((d) => d.name)).toEqual(['other.test']);
    expect(repo.listAccounts().map((a) => a.address)).toEqual(['carol@other.test']);
    // The target into the removed domain is gone; it must not turn into a forward.
    expect(repo.getAlias('team@other.test')!.targets).toEqual(['carol@other.test']);
    expect(await kindOfAsync(() => repo.removeDomain('example.test'))).toBe('notFound');
  });

  it('removes an empty domain without force', async () => {
    repo.addDomain('example.test');
    await repo.removeDomain('example.test');
    expect(repo.listDomains()).toEqual([]);
  });
});

describe('accounts', () => {
  beforeEach(() => {
    repo.addDomain('example.test');
  });

  it('adds with normalisation and quotas; refuses duplicates and unknown domains', async () => {
    const a = await repo.addAccount('Bob.Smith@EXAMPLE.test', 'pw', { quotaBytes: 2 * 1024 ** 3 });
    expect(a).toMatchObject({ address: 'bob.smith@example.test', local: 'bob.smith', domain: 'example.test', quotaBytes: 2147483648, quotaMessages: null, disabled: false });
    expect(await kindOfAsync(() => repo.addAccount('bob.smith@example.test', 'pw'))).toBe('exists');
    expect(await kindOfAsync(() => repo.addAccount('x@unknown.test', 'pw'))).toBe('notFound');
    expect(await kindOfAsync(() => repo.addAccount('not-an-address', 'pw'))).toBe('invalid');
    expect(await kindOfAsync(() => repo.addAccount('y@example.test', ''))).toBe('invalid');
    expect(await kindOfAsync(() => repo.addAccount('y@example.test', 'pw', { quotaBytes: -1 }))).toBe('invalid');
    expect(repo.listAccounts().map((x) => x.address)).toEqual(['bob.smith@example.test']);
  });

  it('verifies credentials by normalised full address; disabled and unknown fail', async () => {
    await repo.addAccount('bob@example.test', 's3cret');
    expect((await repo.verifyCredentials('BOB@Example.Test', 's3cret'))?.address).toBe('bob@example.test');
    expect(await repo.verifyCredentials('bob@example.test', 'S3cret')).toBeUndefined();
    expect(await repo.verifyCredentials('bob', 's3cret')).toBeUndefined();
    expect(await repo.verifyCredentials('nobody@example.test', 's3cret')).toBeUndefined();
    expect(await repo.verifyCredentials('', '')).toBeUndefined();
    repo.setDisabled('bob@example.test', true);
    expect(await repo.verifyCredentials('bob@example.test', 's3cret')).toBeUndefined();
    repo.setDisabled('bob@example.test', false);
    await repo.setPassword('bob@example.test', 'new pw');
    expect(await repo.verifyCredentials('bob@example.test', 's3cret')).toBeUndefined();
    expect(await repo.verifyCredentials('bob@example.test', 'new pw')).toBeDefined();
    expect(await kindOfAsync(() => repo.setPassword('nobody@example.test', 'x'))).toBe('notFound');
  });

  it('accepts imported Dovecot hashes', async () => {
    await repo.addAccount('bob@example.test', 'placeholder');
    repo.setPasswordHash('bob@example.test', '{SHA512-CRYPT}$6$ASsYo8dTdX8g5PO6$QnnUy.78CYYsoSE7PhKkZ.EeZUrT8VPx7ZG3j5k47JSkoxT6zInSnRTo/i6qP0OiFky8Tez0RVMAjrpAlMtlW1');
    expect(await repo.verifyCredentials('bob@example.test', 'Sommer 2024!')).toBeDefined();
    expect(await repo.verifyCredentials('bob@example.test', 'placeholder')).toBeUndefined();
  });

  it('upgrades an imported hash to scrypt at the first successful login, never at a failed one', async () => {
    const imported = '{SHA512-CRYPT}$6$ASsYo8dTdX8g5PO6$QnnUy.78CYYsoSE7PhKkZ.EeZUrT8VPx7ZG3j5k47JSkoxT6zInSnRTo/i6qP0OiFky8Tez0RVMAjrpAlMtlW1';
    const stored = () => db.prepare('SELECT password_hash FROM accounts WHERE address = ?').pluck().get('bob@example.test') as string;
    await repo.addAccount('bob@example.test', 'placeholder');
    repo.setPasswordHash('bob@example.test', imported);
    expect(await repo.verifyCredentials('bob@example.test', 'wrong')).toBeUndefined();
    expect(stored()).toBe(imported);
    expect(await repo.verifyCredentials('bob@example.test', 'Sommer 2024!')).toBeDefined();
    expect(stored()).toMatch(/^\{SCRYPT\}\$scrypt\$/);
    expect(await repo.verifyCredentials('bob@example.test', 'Sommer 2024!')).toBeDefined();
    expect(await repo.verifyCredentials('bob@example.test', 'wrong')).toBeUndefined();
  });

  it('sets quotas and removes accounts with the alias targets that pointed at them', async () => {
    await repo.addAccount('bob@example.test', 'pw');
    await repo.addAccount('carol@example.test', 'pw');
    expect(repo.setAccountQuota('bob@example.test', { messages: 1000 })).toMatchObject({ quotaBytes: null, quotaMessages: 1000 });
    repo.addAlias('team@example.test', ['bob@example.test', 'carol@example.test']);
    repo.addAlias('solo@example.test', ['bob@example.test']);
    repo.addAlias('chain@example.test', ['solo@example.test']);
    await repo.removeAccount('bob@example.test');
    expect(repo.getAccount('bob@example.test')).toBeUndefined();
    expect(repo.getAlias('team@example.test')!.targets).toEqual(['carol@example.test']);
    expect(repo.getAlias('solo@example.test')).toBeUndefined();
    expect(repo.getAlias('chain@example.test')).toBeUndefined();
    expect(await kindOfAsync(() => repo.removeAccount('bob@example.test'))).toBe('notFound');
  });
});

describe('aliases and resolution', () => {
  beforeEach(async () => {
    repo.addDomain('example.test');
    repo.addDomain('other.test');
    await repo.addAccount('bob@example.test', 'pw');
    await repo.addAccount('carol@example.test', 'pw');
    await repo.addAccount('dave@other.test', 'pw');
  });

  it('resolves an exact account, case-insensitively', () => {
    expect(addresses(repo.resolveRecipient('BOB@EXAMPLE.TEST'))).toEqual(['bob@example.test']);
  });

  it('unknown user in a local domain vs a domain that is not ours', () => {
    expect(repo.resolveRecipient('nobody@example.test')).toEqual({ kind: 'unknownUser' });
    expect(repo.resolveRecipient('bob@elsewhere.test')).toEqual({ kind: 'notLocal' });
    expect(repo.resolveRecipient('bob%elsewhere.test@example.test')).toEqual({ kind: 'unknownUser' });
    expect(repo.resolveRecipient('bob@[127.0.0.1]')).toEqual({ kind: 'notLocal' });
    expect(repo.resolveRecipient('garbage')).toEqual({ kind: 'notLocal' });
  });

  it('expands alias chains and removes duplicate mailboxes; remote targets are forwarded', () => {
    repo.addAlias('team@example.test', ['bob@example.test', 'carol@example.test']);
    repo.addAlias('all@example.test', ['team@example.test', 'bob@example.test', 'dave@other.test', 'Ext@Remote.test']);
    const r = repo.resolveRecipient('all@example.test');
    expect(r.kind).toBe('deliver');
    if (r.kind !== 'deliver') return;
    expect(r.accounts.map((a) => a.address).sort()).toEqual(['bob@example.test', 'carol@example.test', 'dave@other.test']);
    expect(r.forward).toEqual(['ext@remote.test']);
  });

  it('plus-addressing: exact address first, then the base account or alias (RFC 5233)', async () => {
    expect(addresses(repo.resolveRecipient('bob+news@example.test'))).toEqual(['bob@example.test']);
    repo.addAlias('team@example.test', ['carol@example.test']);
    expect(addresses(repo.resolveRecipient('team+x@example.test'))).toEqual(['carol@example.test']);
    await repo.addAccount('bob+special@example.test', 'pw');
    expect(addresses(repo.resolveRecipient('bob+special@example.test'))).toEqual(['bob+special@example.test']);
    expect(repo.resolveRecipient('nobody+x@example.test')).toEqual({ kind: 'unknownUser' });
  });

  it('catch-all applies last, only to otherwise unknown addresses', () => {
    repo.addAlias('@example.test', ['carol@example.test']);
    expect(addresses(repo.resolveRecipient('random@example.test'))).toEqual(['carol@example.test']);
    expect(addresses(repo.resolveRecipient('bob@example.test'))).toEqual(['bob@example.test']);
    expect(addresses(repo.resolveRecipient('bob+x@example.test'))).toEqual(['bob@example.test']);
    expect(repo.resolveRecipient('random@other.test')).toEqual({ kind: 'unknownUser' });
    expect(repo.listAliases('example.test').map((a) => a.address)).toEqual(['@example.test']);
  });

  it('refuses loops, self-targets, unknown local targets, shadowing aliases, duplicates', () => {
    repo.addAlias('a@example.test', ['bob@example.test']);
    repo.addAlias('b@example.test', ['a@example.test']);
    expect(kindOf(() => repo.addAlias('a@example.test', ['b@example.test']))).toBe('loop');
    // nothing half-written: a still has only its first target
    expect(repo.getAlias('a@example.test')!.targets).toEqual(['bob@example.test']);
    expect(kindOf(() => repo.addAlias('c@example.test', ['c@example.test']))).toBe('loop');
    expect(kindOf(() => repo.addAlias('c@example.test', ['ghost@example.test']))).toBe('notFound');
    expect(repo.getAlias('c@example.test')).toBeUndefined();
    expect(kindOf(() => repo.addAlias('bob@example.test', ['carol@example.test']))).toBe('exists');
    expect(kindOf(() => repo.addAlias('a@example.test', ['bob@example.test']))).toBe('exists');
    expect(kindOf(() => repo.addAlias('x@unknown.test', ['bob@example.test']))).toBe('notFound');
    expect(kindOf(() => repo.addAlias('x@example.test', []))).toBe('invalid');
    expect(kindOf(() => repo.addAlias('x@example.test', ['not an address']))).toBe('invalid');
    // an account where an alias exists is refused too
    return expect(repo.addAccount('a@example.test', 'pw')).rejects.toThrow(/already an alias/);
  });

  it('detects a loop through plus-addressing', () => {
    repo.addAlias('a@example.test', ['bob@example.test']);
    repo.addAlias('b@example.test', ['a+x@example.test']);
    expect(kindOf(() => repo.addAlias('a@example.test', ['b+y@example.test']))).toBe('loop');
  });

  it('stops at the depth limit and on loops written behind its back', () => {
    // A chain longer than the limit: the far end is not reached, no error.
    let prev = 'bob@example.test';
    for (let i = 0; i <= MAX_ALIAS_DEPTH + 1; i++) {
      repo.addAlias(`l${i}@example.test`, [prev]);
      prev = `l${i}@example.test`;
    }
    expect(repo.resolveRecipient(prev)).toEqual({ kind: 'unknownUser' });
    expect(addresses(repo.resolveRecipient('l3@example.test'))).toEqual(['bob@example.test']);
    // A loop inserted directly in SQL (as an older version or a hand edit might) resolves finitely.
    const id = (address: string) => (db.prepare('SELECT id FROM aliases WHERE address = ?').get(address) as { id: number }).id;
    repo.addAlias('p@example.test', ['carol@example.test']);
    repo.addAlias('q@example.test', ['p@example.test']);
    db.prepare('INSERT INTO alias_targets (alias_id, target) VALUES (?, ?)').run(id('p@example.test'), 'q@example.test');
    expect(addresses(repo.resolveRecipient('q@example.test'))).toEqual(['carol@example.test']);
  });

  it('removes one target or a whole alias', () => {
    repo.addAlias('team@example.test', ['bob@example.test']);
    repo.addAlias('team@example.test', ['carol@example.test']);
    expect(repo.getAlias('team@example.test')!.targets).toEqual(['bob@example.test', 'carol@example.test']);
    repo.removeAlias('team@example.test', 'BOB@example.test');
    expect(repo.getAlias('team@example.test')!.targets).toEqual(['carol@example.test']);
    expect(kindOf(() => repo.removeAlias('team@example.test', 'bob@example.test'))).toBe('notFound');
    repo.removeAlias('team@example.test', 'carol@example.test');
    expect(repo.getAlias('team@example.test')).toBeUndefined();
    repo.addAlias('@example.test', ['bob@example.test']);
    repo.removeAlias('@EXAMPLE.test');
    expect(repo.listAliases()).toEqual([]);
    expect(kindOf(() => repo.removeAlias('nope@example.test'))).toBe('notFound');
  });

  it('ownedAddresses: own address, aliases reaching it (also through chains), catch-all domains', () => {
    repo.addAlias('info@example.test', ['bob@example.test']);
    repo.addAlias('sales@example.test', ['info@example.test', 'carol@example.test']);
    repo.addAlias('@other.test', ['bob@example.test']);
    repo.addAlias('carolonly@example.test', ['carol@example.test']);
    const bob = repo.getAccount('bob@example.test')!;
    const owned = repo.ownedAddresses(bob);
    expect([...owned.addresses].sort()).toEqual(['bob@example.test', 'info@example.test', 'sales@example.test']);
    expect([...owned.catchAllDomains]).toEqual(['other.test']);
  });

  it('ownedAddresses follows aliases that target a plus-address of the account', async () => {
    repo.addAlias('lists@example.test', ['bob+lists@example.test']);
    await repo.addAccount('carol+own@example.test', 'pw');
    repo.addAlias('notbob@example.test', ['carol+own@example.test']);
    const owned = repo.ownedAddresses(repo.getAccount('bob@example.test')!);
    expect([...owned.addresses].sort()).toEqual(['bob@example.test', 'lists@example.test']);
    const carol = repo.ownedAddresses(repo.getAccount('carol@example.test')!);
    expect([...carol.addresses]).toEqual(['carol@example.test']);
  });
});
