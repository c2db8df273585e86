// `mailserver sieve …` and `mailserver vacation …` as an admin runs them: the real
// binary against a temp data root; broken scripts are refused with line and column.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AccountsRepo } from '../../src/accounts/repo.js';
import { dbPath, openDb } from '../../src/db/index.js';
import { SieveStore } from '../../src/sieve/store.js';
import { oneErrorLine, tempRoot, type RunResult } from './run.js';

let t: ReturnType<typeof tempRoot>;
beforeEach(async () => {
  t = tempRoot();
  const db = openDb(dbPath(t.dir));
  const repo = new AccountsRepo(db);
  repo.addDomain('example.test');
  await repo.addAccount('alice@example.test', 'a long enough password');
  db.close();
});
afterEach(() => t.cleanup());

function ok(r: RunResult): RunResult {
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  return r;
}

function store<T>(fn: (s: SieveStore) => T): T {
  const db = openDb(dbPath(t.dir));
  try {
    return fn(new SieveStore(db));
  } finally {
    db.close();
  }
}

describe('sieve and vacation commands', { timeout: 120_000 }, () => {
  it('puts (from a file and stdin), lists, shows, activates and removes scripts', async () => {
    const file = path.join(t.dir, 'lists.sieve');
    writeFileSync(file, 'require "fileinto";\nif exists "list-id" { fileinto "Lists"; }\n');
    expect(ok(await t.cli(['sieve', 'put', 'alice@example.test', 'lists', file, '--activate'])).stdout).toBe('stored script "lists" for alice@example.test (active)\n');
    ok(await t.cli(['sieve', 'put', 'Alice@Example.test', 'spare', '-'], { input: 'keep;\n' }));

    const list = JSON.parse(ok(await t.cli(['sieve', 'list', 'alice@example.test', '--json'])).stdout);
    expect(list.map((s: { name: string; active: boolean; size: number }) => [s.name, s.active, s.size])).toEqual([
      ['lists', true, 62],
      ['spare', false, 6],
    ]);
    expect(ok(await t.cli(['sieve', 'show', 'alice@example.test', 'spare'])).stdout).toBe('keep;\n');

    // A broken script is refused with the compiler's position, and nothing is stored.
    const bad = await t.cli(['sieve', 'put', 'alice@example.test', 'broken', '-'], { input: 'require "fileinto";\nfileinto "a" "b";\n' });
    expect(bad.code).toBe(1);
    expect(oneErrorLine(bad)).toBe('mailserver: error: the script is not valid Sieve: line 2, column 1: the fileinto command requires 1 positional argument(s), but 2 were given');
    expect(store((s) => s.list('alice@example.test').map((x) => x.name))).toEqual(['lists', 'spare']);

    ok(await t.cli(['sieve', 'activate', 'alice@example.test', 'spare']));
    expect(store((s) => s.active('alice@example.test')?.name)).toBe('spare');
    const active = await t.cli(['sieve', 'remove', 'alice@example.test', 'spare']);
    expect(oneErrorLine(active)).toContain('"spare" is the active script');
    ok(await t.cli(['sieve', 'remove', 'alice@example.test', 'spare', '--force']));
    expect(store((s) => [s.active('alice@example.test'), s.list('alice@example.test').length])).toEqual([undefined, 1]);

    expect(oneErrorLine(await t.cli(['sieve', 'list', 'nobody@example.test']))).toBe('mailserver: error: no account nobody@example.test');
  });

  it('switches the vacation reply on and off, keeping what was set', async () => {
    const msg = path.join(t.dir, 'away.txt');
    writeFileSync(msg, 'Back on Monday.\n"Quoted" and \\ backslash.\n');
    expect(ok(await t.cli(['vacation', 'alice@example.test', 'on', '--subject', 'Away', '--message-file', msg, '--days', '3'])).stdout).toBe(
      'vacation on for alice@example.test (one reply per sender per 3 days)\n',
    );
    expect(store((s) => s.activeVacation('alice@example.test'))).toMatchObject({ subject: 'Away', days: 3, message: 'Back on Monday.\n"Quoted" and \\ backslash.\n' });
    ok(await t.cli(['vacation', 'alice@example.test', 'off']));
    expect(store((s) => s.activeVacation('alice@example.test'))).toBeUndefined();
    expect(ok(await t.cli(['vacation', 'alice@example.test', 'show'])).stdout).toContain('vacation: off\ndays:     3\nsubject:  Away\n');
    const bad = await t.cli(['vacation', 'alice@example.test', 'on', '--days', '0']);
    expect(oneErrorLine(bad)).toBe('mailserver: error: days must be a whole number from 1 to 365');
  });
});
