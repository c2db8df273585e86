// Schema upgrades behind a snapshot: a migration that fails halfway puts the database
// back and the server does not start; an upgrade left halfway (a crash) is refused
// until `mailserver rollback`; rollback is refused while a server runs, names what
// changed since the upgrade, and returns the database to the snapshot.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { takeSnapshot, writeMarker, listSnapshots } from '../../src/backup/snapshots.js';
import { dbPath, migrate, openDb, openRaw } from '../../src/db/index.js';
import { MIGRATIONS, type Migration } from '../../src/db/migrations.js';
import { startServer, StartupError } from '../../src/server.js';
import { makeTestConfig } from '../helpers/servers.js';
import { silentLogger } from '../../src/log.js';
import { makeDataRoot, serve, killHard, type Serving } from './harness.js';

const OK_990: Migration = { version: 990, name: 'test: a table', sql: 'CREATE TABLE upgrade_test_a (x INTEGER); INSERT INTO upgrade_test_a VALUES (1);' };
// Fails halfway: the first statement runs, the second names a table that does not exist.
const FAILS_991: Migration = { version: 991, name: 'test: fails halfway', sql: 'CREATE TABLE upgrade_test_b (x INTEGER); INSERT INTO no_such_table VALUES (1);' };

const cleanups: Array<() => void> = [];
let running: Serving | undefined;
afterEach(() => {
  killHard(running);
  running = undefined;
  for (const c of cleanups.splice(0)) c();
});

/** One column of a query on the data root's database, opened read-only. */
function column<T>(dir: string, sql: string): T[] {
  const db = new Database(dbPath(dir), { readonly: true });
  try {
    return db.prepare(sql).pluck().all() as T[];
  } finally {
    db.close();
  }
}
const tables = (dir: string) => column<string>(dir, "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'upgrade_test%' ORDER BY name");
const versions = (dir: string) => column<number>(dir, 'SELECT version FROM schema_migrations ORDER BY version');

async function start(dir: string, migrations?: readonly Migration[]) {
  const config = await makeTestConfig(dir);
  return startServer({ dataRoot: dir, config, log: silentLogger, migrations });
}

const deadPid = () =>
  new Promise<number>((resolve) => {
    const c = spawn(process.execPath, ['-e', '']);
    c.on('exit', () => resolve(c.pid!));
  });

describe('schema upgrades', () => {
  it('a migration failing halfway puts the snapshot back; the server does not start, then starts on the old schema', { timeout: 60_000 }, async () => {
    const root = await makeDataRoot(['ann@example.test']);
    cleanups.push(root.cleanup);
    const before = versions(root.dir);

    await expect(start(root.dir, [...MIGRATIONS, OK_990, FAILS_991])).rejects.toThrow(StartupError);
    await expect(start(root.dir, [...MIGRATIONS, OK_990, FAILS_991])).rejects.toThrow(/migration 991 \(test: fails halfway\) failed: no such table: no_such_table; the database was put back/);
    // 990 had been committed before 991 failed: the snapshot took it back too.
    expect(versions(root.dir)).toEqual(before);
    expect(tables(root.dir)).toEqual([]);
    expect(existsSync(path.join(root.dir, 'backups', 'migrating.json'))).toBe(false);
    expect(listSnapshots(root.dir, 'pre-migrate')).toEqual([]);
    expect(existsSync(path.join(root.dir, 'mailserver.pid')), 'the pid file is released').toBe(false);

    const s = await start(root.dir);
    try {
      expect(await s.ctx.accounts.verifyCredentials('ann@example.test', 'pw-backup-test-1')).toBeTruthy();
    } finally {
      await s.close(0);
    }
  });

  it('refuses a half-migrated database until rollback puts the snapshot back', { timeout: 60_000 }, async () => {
    const root = await makeDataRoot(['ann@example.test']);
    cleanups.push(root.cleanup);
    const before = versions(root.dir);
    // What a process that crashed between migrations 990 and 991 leaves behind.
    const db = openRaw(dbPath(root.dir));
    const snap = takeSnapshot(db, root.dir, 'pre-migrate', { applied: before, pending: [990, 991] });
    writeMarker(root.dir, { pid: await deadPid(), snapshot: snap.name, pending: [990, 991], since: new Date().toISOString() });
    migrate(db, [...MIGRATIONS, OK_990]);
    db.close();

    await expect(start(root.dir, [...MIGRATIONS, OK_990, { ...FAILS_991, sql: 'CREATE TABLE upgrade_test_b (x INTEGER);' }])).rejects.toThrow(/half-migrated.*mailserver rollback/);
    const refused = await root.cli(['account', 'list']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/half-migrated/);
    const v = await root.cli(['verify']);
    expect(v.stdout).toMatch(/error: backups\/migrating.json: an upgrade to schema version 991 did not finish/);

    const r = await root.cli(['rollback']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`put back ${snap.name}`);
    expect(versions(root.dir)).toEqual(before);
    expect(tables(root.dir)).toEqual([]);
    const s = await start(root.dir);
    await s.close(0);
  });

  it('rollback: refused while a server runs; names what changed; returns to the snapshot and keeps the state it replaced', { timeout: 90_000 }, async () => {
    const root = await makeDataRoot(['ann@example.test']);
    cleanups.push(root.cleanup);
    const before = versions(root.dir);
    // The upgrade: a new version with migration 990 starts, takes a snapshot, migrates.
    const up = await start(root.dir, [...MIGRATIONS, OK_990]);
    await up.close(0);
    const snaps = listSnapshots(root.dir, 'pre-migrate');
    expect(snaps.map((x) => x.name)).toEqual([expect.stringMatching(/^pre-migrate-990-\d{8}T\d{9}Z$/)]);
    expect(tables(root.dir)).toEqual(['upgrade_test_a']);
    // Life goes on after the upgrade: a new account.
    expect((await root.cli(['account', 'add', 'late@example.test', '--password-stdin'], 'pw-late-12345\n')).code).toBe(0);

    running = await serve(root.dir);
    const busy = await root.cli(['rollback']);
    expect(busy.code).toBe(1);
    expect(busy.stderr).toMatch(/a mail server \(pid \d+\) is using the data root .*; stop it first/);
    expect(await running.stop()).toBe(0);
    running = undefined;

    // A message queued after the upgrade: the snapshot does not know it.
    const db = openDb(dbPath(root.dir), { migrations: [...MIGRATIONS, OK_990] });
    mkdirSync(path.join(root.dir, 'queue'), { recursive: true });
    writeFileSync(path.join(root.dir, 'queue', 'late.eml'), 'Subject: queued late\r\n\r\nx\r\n');
    db.prepare("INSERT INTO queue_messages (spool_path, mail_from, size, created_at) VALUES ('queue/late.eml', 'ann@example.test', 30, 0)").run();
    db.close();

    const dry = await root.cli(['rollback', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('accounts added since the upgrade, unknown after it: late@example.test');
    expect(dry.stdout).toContain('nothing changed');
    expect(tables(root.dir)).toEqual(['upgrade_test_a']);

    expect(dry.stdout).toContain('queued messages the snapshot does not hold: 1');
    const refused = await root.cli(['rollback']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('1 queued message(s) arrived after the snapshot');
    expect(tables(root.dir)).toEqual(['upgrade_test_a']);

    const r = await root.cli(['rollback', '--force']);
    expect(r.code, r.stderr).toBe(0);
    expect(versions(root.dir)).toEqual(before);
    expect(tables(root.dir)).toEqual([]);
    const saved = readdirSync(path.join(root.dir, 'backups')).filter((n) => n.startsWith('pre-rollback-'));
    expect(saved).toHaveLength(1);
    expect(r.stdout).toContain(`backups/${saved[0]}`);
    // The late message's file is kept with the replaced state, not left for the start-up clean-up.
    expect(readFileSync(path.join(root.dir, 'backups', saved[0]!, 'queue', 'late.eml'), 'utf8')).toContain('queued late');
    expect(existsSync(path.join(root.dir, 'queue', 'late.eml'))).toBe(false);
    const list = await root.cli(['account', 'list', '--json']);
    expect(list.stdout).not.toContain('late@example.test');
    // verify points at the mail of the account the rollback forgot.
    const v = await root.cli(['verify']);
    expect(v.stdout).toContain('maildir/example.test/late: mail of no account');
  });

  it('keeps the newest backup.keep_snapshots snapshots', { timeout: 60_000 }, async () => {
    const root = await makeDataRoot([]);
    cleanups.push(root.cleanup);
    const extra = (v: number): Migration => ({ version: 990 + v, name: `test ${v}`, sql: `CREATE TABLE upgrade_test_${v} (x INTEGER);` });
    const all: Migration[] = [...MIGRATIONS];
    for (let v = 0; v < 4; v++) {
      all.push(extra(v));
      openDb(dbPath(root.dir), { migrations: all, keepSnapshots: 2 }).close();
    }
    expect(listSnapshots(root.dir, 'pre-migrate').map((s) => s.name.split('-')[2])).toEqual(['993', '992']);
  });
});
