// The setup CLI as a user runs it: the real binary, a temp data root, exit codes,
// one-line errors, --json output, and the database state it leaves behind.
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AccountsRepo } from '../../src/accounts/repo.js';
import { isAdmin } from '../../src/admin/flag.js';
import { dbPath, openDb } from '../../src/db/index.js';
import { createStore } from '../../src/store/index.js';
import { oneErrorLine, run, tempRoot, type RunResult } from './run.js';

let t: ReturnType<typeof tempRoot>;
beforeEach(() => {
  t = tempRoot();
});
afterEach(() => t.cleanup());

function ok(r: RunResult): RunResult {
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  return r;
}

/** The web admin flag of an account, read from the data root's database. */
function adminFlag(address: string): boolean {
  const db = openDb(dbPath(t.dir));
  try {
    return isAdmin(db, address);
  } finally {
    db.close();
  }
}

/** Opens the data root's database in this process, as the server would. */
async function withRepo<T>(fn: (repo: AccountsRepo) => T | Promise<T>): Promise<T> {
  const db = openDb(dbPath(t.dir));
  try {
    return await fn(new AccountsRepo(db));
  } finally {
    db.close();
  }
}

/**
 * Sets up state in-process (fast), for tests whose subject is another verb: the binary
 * is slow to start on a loaded machine, so only the verb under test goes through it.
 */
async function seed(fn: (repo: AccountsRepo) => Promise<void> | void): Promise<void> {
  const db = openDb(dbPath(t.dir));
  const store = createStore({ dataRoot: t.dir });
  try {
    await fn(new AccountsRepo(db, store));
  } finally {
    await store.close();
    db.close();
  }
}

describe('domain', { timeout: 120_000 }, () => {
  it('adds, lists (--json) and removes; duplicates and bad names fail with one line', async () => {
    expect(ok(await t.cli(['domain', 'add', 'Example.TEST'])).stdout).toBe('added domain example.test\n');
    ok(await t.cli(['domain', 'add', 'bücher.example']));
    const dup = await t.cli(['domain', 'add', 'example.test']);
    expect(dup.code).toBe(1);
    expect(oneErrorLine(dup)).toBe('mailserver: error: domain example.test already exists');
    const bad = await t.cli(['domain', 'add', 'not a domain']);
    expect(bad.code).toBe(1);
    expect(oneErrorLine(bad)).toContain('invalid domain');

    const list = JSON.parse(ok(await t.cli(['domain', 'list', '--json'])).stdout);
    expect(list.map((d: { name: string }) => d.name)).toEqual(['example.test', 'xn--bcher-kva.example']);
    expect(list[0]).toMatchObject({ accounts: 0, aliases: 0, quotaBytes: null });
    expect(ok(await t.cli(['domain', 'list'])).stdout).toMatch(/^DOMAIN\s+ACCOUNTS\s+ALIASES\s+QUOTA\s+POSTMASTER\nexample\.test\s+0\s+0\s+-\s+nobody yet: add an account\n/);

    ok(await t.cli(['domain', 'remove', 'xn--bcher-kva.example']));
    const gone = await t.cli(['domain', 'remove', 'xn--bcher-kva.example']);
    expect(gone.code).toBe(1);
    expect(oneErrorLine(gone)).toContain('unknown domain');
  });

  it('removing a domain with accounts needs --force; a refused removal changes nothing', async () => {
    await seed(async (repo) => {
      repo.addDomain('example.test');
      await repo.addAccount('bob@example.test', 'pw');
      repo.addAlias('info@example.test', ['bob@example.test']);
    });
    const refused = await t.cli(['domain', 'remove', 'example.test']);
    expect(refused.code).toBe(1);
    expect(oneErrorLine(refused)).toMatch(/still has 1 account\(s\) and 1 alias\(es\).*--force/);
    expect(JSON.parse(ok(await t.cli(['account', 'list', '--json'])).stdout)).toHaveLength(1);
    expect(ok(await t.cli(['domain', 'remove', 'example.test', '--force'])).stdout).toContain('with 1 account(s) and 1 alias(es)');
    expect(JSON.parse(ok(await t.cli(['domain', 'list', '--json'])).stdout)).toEqual([]);
    expect(JSON.parse(ok(await t.cli(['account', 'list', '--json'])).stdout)).toEqual([]);
    // Mail is kept without --delete-mail.
    expect(existsSync(path.join(t.dir, 'maildir', 'example.test', 'bob'))).toBe(true);
  });
});

describe('account', { timeout: 120_000 }, () => {
  beforeEach(() => seed((repo) => void repo.addDomain('example.test')));

  it('adds with --password-stdin, creates the Maildir, and the password works', async () => {
    const r = ok(await t.cli(['account', 'add', 'Bob@Example.test', '--password-stdin', '--quota', '2G'], { input: 'correct horse\n' }));
    expect(r.stdout).toBe('added account bob@example.test\n');
    expect(r.stderr).toBe('');
    expect(existsSync(path.join(t.dir, 'maildir', 'example.test', 'bob', 'cur'))).toBe(true);
    await withRepo(async (repo) => {
      expect((await repo.verifyCredentials('bob@example.test', 'correct horse'))?.address).toBe('bob@example.test');
      expect(await repo.verifyCredentials('bob@example.test', 'correct horse\n')).toBeUndefined();
    });
    const list = JSON.parse(ok(await t.cli(['account', 'list', '--json'])).stdout);
    expect(list).toEqual([expect.objectContaining({ address: 'bob@example.test', domain: 'example.test', quotaBytes: 2147483648, quotaMessages: null, disabled: false })]);
    expect(ok(await t.cli(['account', 'list', 'example.test'])).stdout).toMatch(/^ADDRESS\s+QUOTA\s+USED\s+MESSAGES\s+STATUS\nbob@example\.test\s+2G\s+0 \(0%\)\s+0\/-\s+active\n$/);
  });

  it('generates a password when stdin is not a terminal, prints it once, and it works', async () => {
    const r = ok(await t.cli(['account', 'add', 'carol@example.test']));
    const m = /^generated password for carol@example\.test: (\S+)$/m.exec(r.stdout);
    expect(m).not.toBeNull();
    const pw = m![1]!;
    expect(pw.length).toBeGreaterThanOrEqual(16);
    expect(r.stdout.split(pw).length - 1).toBe(1);
    expect(r.stderr).not.toContain(pw);
    await withRepo(async (repo) => {
      expect(await repo.verifyCredentials('carol@example.test', pw)).toBeDefined();
    });
  });

  it('takes --password on argv with a warning', async () => {
    const r = ok(await t.cli(['account', 'add', 'dave@example.test', '--password', 'argv pw']));
    expect(r.stderr).toMatch(/^mailserver: warning: .*command line/);
    await withRepo(async (repo) => expect(await repo.verifyCredentials('dave@example.test', 'argv pw')).toBeDefined());
  });

  it('imports a Dovecot hash with --password-hash', async () => {
    const hash = '{SHA512-CRYPT}$6$ASsYo8dTdX8g5PO6$QnnUy.78CYYsoSE7PhKkZ.EeZUrT8VPx7ZG3j5k47JSkoxT6zInSnRTo/i6qP0OiFky8Tez0RVMAjrpAlMtlW1';
    ok(await t.cli(['account', 'add', 'imp@example.test', '--password-hash', hash]));
    await withRepo(async (repo) => expect(await repo.verifyCredentials('imp@example.test', 'Sommer 2024!')).toBeDefined());
    const bad = await t.cli(['account', 'add', 'imp2@example.test', '--password-hash', '{MD5}abc']);
    expect(bad.code).toBe(1);
    expect(oneErrorLine(bad)).toContain('unsupported password hash');
  });

  it('refuses duplicates, unknown domains and bad addresses with one line, writing nothing', async () => {
    await seed((repo) => repo.addAccount('bob@example.test', 'pw').then(() => undefined));
    for (const [args, msg] of [
      [['account', 'add', 'BOB@example.test', '--password-stdin'], 'account bob@example.test already exists'],
      [['account', 'add', 'x@unknown.test', '--password-stdin'], 'unknown domain unknown.test'],
      [['account', 'add', 'not-an-address', '--password-stdin'], 'invalid address'],
      [['account', 'add', 'y@example.test', '--quota', 'lots', '--password-stdin'], 'invalid quota'],
      [['account', 'add', 'z@example.test', '--password-stdin'], 'no password on standard input'],
    ] as const) {
      const r = await t.cli([...args], { input: (args as readonly string[]).includes('z@example.test') ? '' : 'pw\n' });
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(oneErrorLine(r)).toContain(msg);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    }
    const list = JSON.parse(ok(await t.cli(['account', 'list', '--json'])).stdout);
    expect(list.map((a: { address: string }) => a.address)).toEqual(['bob@example.test']);
    expect(existsSync(path.join(t.dir, 'maildir', 'example.test', 'z'))).toBe(false);
  });

  it('leaves no account behind when its Maildir cannot be created', async () => {
    // A plain file where the domain's Maildir directory should be: mkdir fails.
    const { mkdirSync } = await import('node:fs');
    mkdirSync(path.join(t.dir, 'maildir'), { recursive: true });
    writeFileSync(path.join(t.dir, 'maildir', 'example.test'), 'not a directory');
    const r = await t.cli(['account', 'add', 'bob@example.test', '--password-stdin'], { input: 'pw\n' });
    expect(r.code).toBe(1);
    expect(oneErrorLine(r)).toContain('could not create the mailbox of bob@example.test');
    expect(r.stdout).toBe('');
    await withRepo((repo) => expect(repo.getAccount('bob@example.test')).toBeUndefined());
  });

  it('changes the password from stdin', async () => {
    await seed((repo) => repo.addAccount('bob@example.test', 'old pw').then(() => undefined));
    expect(ok(await t.cli(['account', 'passwd', 'bob@example.test', '--password-stdin'], { input: 'new pw\n' })).stdout).toBe('password changed for bob@example.test\n');
    await withRepo(async (repo) => {
      expect(await repo.verifyCredentials('bob@example.test', 'new pw')).toBeDefined();
      expect(await repo.verifyCredentials('bob@example.test', 'old pw')).toBeUndefined();
    });
    const r = await t.cli(['account', 'passwd', 'nobody@example.test', '--password-stdin'], { input: 'x\n' });
    expect(r.code).toBe(1);
    expect(oneErrorLine(r)).toContain('unknown account nobody@example.test');
  });

  it('removes an account, keeping mail unless --delete-mail', async () => {
    await seed(async (repo) => {
      await repo.addAccount('bob@example.test', 'pw');
      await repo.addAccount('eve@example.test', 'pw');
    });
    expect(existsSync(path.join(t.dir, 'maildir', 'example.test', 'eve'))).toBe(true);
    expect(ok(await t.cli(['account', 'remove', 'bob@example.test'])).stdout).toContain('mail kept');
    expect(existsSync(path.join(t.dir, 'maildir', 'example.test', 'bob'))).toBe(true);
    ok(await t.cli(['account', 'remove', 'eve@example.test', '--delete-mail']));
    expect(existsSync(path.join(t.dir, 'maildir', 'example.test', 'eve'))).toBe(false);
    expect(JSON.parse(ok(await t.cli(['account', 'list', '--json'])).stdout)).toEqual([]);
    const again = await t.cli(['account', 'remove', 'bob@example.test']);
    expect(again.code).toBe(1);
    expect(oneErrorLine(again)).toContain('unknown account');
  });

  it('disables and enables logins, and changes quotas', async () => {
    await seed((repo) => repo.addAccount('bob@example.test', 'pw').then(() => undefined));
    ok(await t.cli(['account', 'disable', 'bob@example.test']));
    await withRepo(async (repo) => expect(await repo.verifyCredentials('bob@example.test', 'pw')).toBeUndefined());
    ok(await t.cli(['account', 'enable', 'bob@example.test']));
    await withRepo(async (repo) => expect(await repo.verifyCredentials('bob@example.test', 'pw')).toBeDefined());
    ok(await t.cli(['account', 'quota', 'bob@example.test', '--quota', '500M', '--quota-messages', '1000']));
    expect(JSON.parse(ok(await t.cli(['account', 'list', '--json'])).stdout)[0]).toMatchObject({ quotaBytes: 500 * 1024 * 1024, quotaMessages: 1000 });
    ok(await t.cli(['account', 'quota', 'bob@example.test', '--quota', 'none']));
    expect(JSON.parse(ok(await t.cli(['account', 'list', '--json'])).stdout)[0]).toMatchObject({ quotaBytes: null, quotaMessages: 1000 });
  });

  it('sets, shows and clears the admin flag of the web admin', async () => {
    await seed((repo) => repo.addAccount('bob@example.test', 'pw').then(() => undefined));
    expect(ok(await t.cli(['account', 'admin', 'Bob@Example.test'])).stdout).toBe('bob@example.test: admin off\n');
    expect(ok(await t.cli(['account', 'admin', 'bob@example.test', 'on'])).stdout).toBe('bob@example.test: admin on\n');
    expect(adminFlag('bob@example.test')).toBe(true);
    expect(ok(await t.cli(['account', 'admin', 'bob@example.test'])).stdout).toBe('bob@example.test: admin on\n');
    ok(await t.cli(['account', 'admin', 'bob@example.test', 'off']));
    expect(adminFlag('bob@example.test')).toBe(false);
    const unknown = await t.cli(['account', 'admin', 'nobody@example.test', 'on']);
    expect(unknown.code).toBe(1);
    expect(oneErrorLine(unknown)).toBe('mailserver: error: unknown account nobody@example.test');
    expect((await t.cli(['account', 'admin', 'bob@example.test', 'yes'])).code).toBe(2);
  });
});

describe('alias', { timeout: 120_000 }, () => {
  beforeEach(() =>
    seed(async (repo) => {
      repo.addDomain('example.test');
      await repo.addAccount('bob@example.test', 'pw');
      await repo.addAccount('carol@example.test', 'pw');
    }),
  );

  it('adds, lists (--json) and removes aliases and catch-alls', async () => {
    expect(ok(await t.cli(['alias', 'add', 'team@example.test', 'bob@example.test', 'Carol@example.test', 'ext@remote.test'])).stdout).toBe(
      'alias team@example.test -> bob@example.test, carol@example.test, ext@remote.test\n',
    );
    ok(await t.cli(['alias', 'add', '@example.test', 'bob@example.test']));
    const list = JSON.parse(ok(await t.cli(['alias', 'list', '--json'])).stdout);
    expect(list).toEqual([
      { address: '@example.test', domain: 'example.test', targets: ['bob@example.test'] },
      { address: 'team@example.test', domain: 'example.test', targets: ['bob@example.test', 'carol@example.test', 'ext@remote.test'] },
    ]);
    await withRepo((repo) => {
      const r = repo.resolveRecipient('team@example.test');
      expect(r.kind === 'deliver' && r.forward).toEqual(['ext@remote.test']);
      const c = repo.resolveRecipient('whoever@example.test');
      expect(c.kind === 'deliver' && c.accounts.map((a) => a.address)).toEqual(['bob@example.test']);
    });
    ok(await t.cli(['alias', 'remove', 'team@example.test', 'ext@remote.test']));
    expect(JSON.parse(ok(await t.cli(['alias', 'list', 'example.test', '--json'])).stdout)[1].targets).toEqual(['bob@example.test', 'carol@example.test']);
    ok(await t.cli(['alias', 'remove', 'team@example.test']));
    ok(await t.cli(['alias', 'remove', '@example.test']));
    expect(ok(await t.cli(['alias', 'list'])).stdout).toBe('no aliases\n');
  });

  it('refuses loops, unknown local targets and duplicates, leaving aliases as they were', async () => {
    await seed((repo) => {
      repo.addAlias('a@example.test', ['bob@example.test']);
      repo.addAlias('b@example.test', ['a@example.test']);
    });
    const before = ok(await t.cli(['alias', 'list', '--json'])).stdout;
    for (const [args, msg] of [
      [['alias', 'add', 'a@example.test', 'carol@example.test', 'b@example.test'], 'alias loop'],
      [['alias', 'add', 'c@example.test', 'ghost@example.test'], 'neither an account nor an alias'],
      [['alias', 'add', 'a@example.test', 'bob@example.test'], 'already has target'],
      [['alias', 'add', 'bob@example.test', 'carol@example.test'], 'is an account'],
      [['alias', 'add', 'x@unknown.test', 'bob@example.test'], 'unknown domain'],
      [['alias', 'remove', 'nope@example.test'], 'unknown alias'],
    ] as const) {
      const r = await t.cli([...args]);
      expect(r.code, args.join(' ')).toBe(1);
      expect(oneErrorLine(r)).toContain(msg);
    }
    expect(ok(await t.cli(['alias', 'list', '--json'])).stdout).toBe(before);
  });
});

describe('reindex', { timeout: 120_000 }, () => {
  it('picks up a file another tool dropped into new/, for one account or all', async () => {
    await seed(async (repo) => {
      repo.addDomain('example.test');
      await repo.addAccount('bob@example.test', 'pw');
    });
    writeFileSync(path.join(t.dir, 'maildir', 'example.test', 'bob', 'new', '1700000000.M1P1.othertool'), 'Subject: dropped\r\n\r\nhello\r\n');
    expect(ok(await t.cli(['reindex', 'bob@example.test'])).stdout).toMatch(/^bob@example\.test: \d+ mailbox\(es\), 1 message\(s\), 1 added, 0 removed\n$/);
    expect(ok(await t.cli(['reindex'])).stdout).toMatch(/1 message\(s\), 0 added, 0 removed/);
    const r = await t.cli(['reindex', 'nobody@example.test']);
    expect(r.code).toBe(1);
    expect(oneErrorLine(r)).toContain('unknown account');
  });
});

describe('data root, help and usage', { timeout: 120_000 }, () => {
  it('MAILSERVER_DATA selects the data root, and so does the current directory', async () => {
    ok(await run(['domain', 'add', 'env.test'], { env: { MAILSERVER_DATA: t.dir } }));
    expect(existsSync(dbPath(t.dir))).toBe(true);
    const viaCwd = JSON.parse(ok(await run(['domain', 'list', '--json'], { cwd: t.dir })).stdout);
    expect(viaCwd.map((d: { name: string }) => d.name)).toEqual(['env.test']);
    // --data wins over the environment, before or after the verb.
    const other = tempRoot();
    try {
      ok(await run(['domain', 'add', 'flag.test', '--data', other.dir], { env: { MAILSERVER_DATA: t.dir } }));
      expect(JSON.parse(ok(await run(['--data', other.dir, 'domain', 'list', '--json'])).stdout).map((d: { name: string }) => d.name)).toEqual(['flag.test']);
    } finally {
      other.cleanup();
    }
  });

  it('prints help from the command table', async () => {
    const top = ok(await run(['--help']));
    for (const verb of ['domain add', 'account passwd', 'alias remove', 'serve', 'reindex']) expect(top.stdout).toContain(verb);
    expect(ok(await run([])).stdout).toBe(top.stdout);
    const one = ok(await run(['account', 'add', '--help']));
    expect(one.stdout).toMatch(/^usage: mailserver account add <address>/);
    expect(one.stdout).toContain('--password-stdin');
    expect(ok(await run(['help', 'account', 'add'])).stdout).toBe(one.stdout);
    const group = ok(await run(['alias', '--help']));
    expect(group.stdout).toContain('alias add');
    expect(group.stdout).not.toContain('account add');
  });

  it('usage errors exit 2 with one line', async () => {
    for (const args of [['frobnicate'], ['domain', 'frob'], ['domain', 'add'], ['domain', 'add', 'a.test', 'b.test'], ['domain', 'list', '--bogus'], ['account', 'add', 'a@b.test', '--quota']]) {
      const r = await t.cli(args);
      expect(r.code, args.join(' ')).toBe(2);
      oneErrorLine(r);
    }
  });
});
