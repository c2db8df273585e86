// Script storage per account (src/sieve/store.ts) in a real SQLite database: RFC 5804
// rules (one active script, the active one cannot be deleted, rename keeps it
// active), names, limits, cascade with the account, and the vacation reply record.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AccountsRepo } from '../../src/accounts/repo.js';
import { openDb, type Db } from '../../src/db/index.js';
import { SieveStore, SieveStoreError } from '../../src/sieve/store.js';

let dir: string;
let db: Db;
let repo: AccountsRepo;
let s: SieveStore;
const A = 'alice@example.test';

beforeEach(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'sieve-store-'));
  db = openDb(path.join(dir, 'mailserver.db'));
  repo = new AccountsRepo(db);
  repo.addDomain('example.test');
  await repo.addAccount(A, 'a long enough password');
  s = new SieveStore(db, () => ({ maxScripts: 3, maxScriptBytes: 100 }));
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const kind = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    if (e instanceof SieveStoreError) return e.kind;
    throw e;
  }
  return 'ok';
};

describe('SieveStore', () => {
  it('keeps one active script, moves it with rename, refuses to delete it (RFC 5804 §2.8, §2.10, §2.11.1)', () => {
    s.put(A, 'one', 'keep;');
    s.put(A, 'two', 'discard;');
    s.setActive(A, 'one');
    s.setActive(A, 'two');
    expect(s.list(A).map((x) => [x.name, x.active])).toEqual([['one', false], ['two', true]]);
    expect(kind(() => s.delete(A, 'two'))).toBe('active');
    s.rename(A, 'two', 'zwei');
    expect(s.active(A)).toMatchObject({ name: 'zwei', content: 'discard;' });
    expect(kind(() => s.rename(A, 'one', 'zwei'))).toBe('exists');
    expect(kind(() => s.setActive(A, 'nope'))).toBe('nonexistent');
    s.setActive(A, '');
    expect(s.active(A)).toBeUndefined();
    s.delete(A, 'zwei');
    expect(s.list(A).map((x) => x.name)).toEqual(['one']);
  });

  it('changes the cache key of a script whenever its content changes, even within one millisecond', () => {
    s.put(A, 'x', 'keep;');
    s.setActive(A, 'x');
    const keys = new Set<string>();
    for (let i = 0; i < 5; i++) {
      s.put(A, 'x', `keep; # ${i}`);
      const a = s.active(A)!;
      keys.add(`${a.id}:${a.updatedAt}`);
    }
    expect(keys.size).toBe(5);
  });

  it.each([
    ['', 'invalidName'],
    ['tab\there', 'invalidName'],
    ['line\u2028sep', 'invalidName'],
    ['x'.repeat(129), 'invalidName'],
    ['Ünïcødé name', 'ok'],
  ])('script name %j → %s (RFC 5804 §1.6)', (name, want) => {
    expect(kind(() => s.put(A, name, 'keep;'))).toBe(want);
  });

  it('enforces the number of scripts and their size; replacing does not count twice', () => {
    s.put(A, 'a', 'keep;');
    s.put(A, 'b', 'keep;');
    s.put(A, 'c', 'keep;');
    expect(kind(() => s.put(A, 'd', 'keep;'))).toBe('quota');
    expect(kind(() => s.put(A, 'a', 'discard;'))).toBe('ok');
    expect(kind(() => s.put(A, 'a', 'x'.repeat(101)))).toBe('quota');
    expect(kind(() => s.list('nobody@example.test'))).toBe('noAccount');
  });

  it('goes away with the account', async () => {
    s.put(A, 'a', 'keep;');
    s.setVacation(A, { enabled: true, message: 'away', days: 3 });
    await repo.removeAccount(A);
    expect(db.prepare('SELECT count(*) FROM sieve_scripts').pluck().get()).toBe(0);
    expect(db.prepare('SELECT count(*) FROM sieve_vacation').pluck().get()).toBe(0);
  });

  it('claims a vacation reply once per sender and handle per period (RFC 5230 §4.2)', () => {
    const t0 = 1_700_000_000_000;
    const day = 86_400_000;
    expect(s.claimVacationReply(A, 'h', 'Bob@Example.org', 3 * day, t0)).toBe(true);
    expect(s.claimVacationReply(A, 'h', 'bob@example.org', 3 * day, t0 + day)).toBe(false);
    expect(s.claimVacationReply(A, 'other', 'bob@example.org', 3 * day, t0 + day)).toBe(true);
    expect(s.claimVacationReply(A, 'h', 'carol@example.org', 3 * day, t0 + day)).toBe(true);
    expect(s.claimVacationReply(A, 'h', 'bob@example.org', 3 * day, t0 + 3 * day)).toBe(true);
  });
});
