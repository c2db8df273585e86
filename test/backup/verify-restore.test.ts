// `mailserver verify` finds what is wrong in a data root and says what --fix would do,
// and --fix repairs it; `mailserver restore` checks a backup before it lays it out,
// refuses a data root that holds something, and unpacks .tar.gz and .tar.zst archives.
import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupDataRoot, restoreBackup } from '../../src/backup/index.js';
import { dbPath, openDb } from '../../src/db/index.js';
import { startTestServer, type TestServer } from '../helpers/servers.js';
import { run } from '../cli/run.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';

const USERS = ['ann@example.test', 'bob@example.test'];
let t: TestServer;
const tmp = (name: string) => path.join(os.tmpdir(), `mailserver-ops-${name}-${process.pid}-${Date.now()}`);
const cleanups: string[] = [];

async function deliver(n: number, size: number): Promise<void> {
  const c = await SmtpTestClient.connect(t.port('smtp'));
  await c.hello();
  for (let i = 0; i < n; i++) {
    expect((await c.cmd('MAIL FROM:<x@remote.test>')).code).toBe(250);
    expect((await c.cmd(`RCPT TO:<${USERS[i % 2]}>`)).code).toBe(250);
    expect((await c.cmd('DATA')).code).toBe(354);
    expect((await c.cmd(`Subject: m${i}\r\n\r\n${'y'.repeat(size)}\r\n.`)).code).toBe(250);
  }
  await c.cmd('QUIT');
}

beforeAll(async () => {
  t = await startTestServer({ keepData: true, configure: (c) => (c.checks.enabled = false) });
  for (const u of USERS) await t.addAccount(u);
  await deliver(6, 1000);
  await deliver(2, 300_000);
  await t.close();
});
afterAll(() => {
  for (const d of [t.dataRoot, ...cleanups]) rmSync(d, { recursive: true, force: true });
});

/** A data root of its own for a test that damages it (in-process: the CLI is under test elsewhere). */
async function copyOf(bk: string, root: string): Promise<void> {
  await backupDataRoot(t.dataRoot, bk);
  expect((await restoreBackup(bk, root, { copy: true })).verify.ok).toBe(true);
}

function inbox(root: string, local: string): string {
  return path.join(root, 'maildir', 'example.test', local);
}
function messageFiles(root: string, local: string): string[] {
  return ['new', 'cur'].flatMap((d) => readdirSync(path.join(inbox(root, local), d)).map((n) => path.join(inbox(root, local), d, n)));
}

describe('verify', () => {
  it('a sound data root has no problems', async () => {
    const r = await run(['--data', t.dataRoot, 'verify']);
    expect(r.stdout).toContain('2 account(s), 8 message(s) indexed; no problems');
    expect(r.code).toBe(0);
  });

  it('finds damage, says what --fix would do, and --fix repairs what it safely can', { timeout: 60_000 }, async () => {
    // Work on a copy (the restore test below uses the original).
    const bk = tmp('vbk');
    const root = tmp('vroot');
    cleanups.push(bk, root);
    await copyOf(bk, root);
    const annFiles = messageFiles(root, 'ann');
    rmSync(annFiles[0]!); // a message file lost
    writeFileSync(path.join(inbox(root, 'bob'), 'new', '1700000000.M1P1.other.host'), 'Subject: dropped in by another tool\r\n\r\nhi\r\n');
    mkdirSync(path.join(root, 'maildir', 'example.test', 'gone', 'cur'), { recursive: true }); // mail of no account
    const db = openDb(dbPath(root));
    db.prepare("INSERT INTO queue_messages (spool_path, mail_from, size, created_at) VALUES ('queue/missing.eml', 'a@example.test', 10, 0)").run();
    db.close();
    mkdirSync(path.join(root, 'queue'), { recursive: true });
    writeFileSync(path.join(root, 'queue', 'stray.eml'), 'x');
    const old = new Date(Date.now() - 3600_000);
    execFileSync('touch', ['-d', old.toISOString(), path.join(root, 'queue', 'stray.eml')]);
    chmodSync(root, 0o755);
    chmodSync(path.join(root, 'config'), 0o755);

    const check = await run(['--data', root, 'verify']);
    expect(check.code).toBe(1);
    const out = check.stdout;
    expect(out).toMatch(/warning: ann@example\.test: index and files disagree: INBOX: 1 indexed message without its file \[would fix: reindex\]/);
    expect(out).toMatch(/warning: bob@example\.test: index and files disagree: INBOX: 1 file not in the index \[would fix: reindex\]/);
    expect(out).toContain('warning: maildir/example.test/gone: mail of no account');
    expect(out).toContain('error: queue message 1: its spool file queue/missing.eml is gone [would fix: remove it from the queue');
    expect(out).toContain('warning: queue/stray.eml: no queue row names this file');
    expect(out).toContain('warning: config: open to other users; it holds password hashes and keys (mode 755) [would fix');
    expect(out).toMatch(/6 problem\(s\), 5 fixable with --fix/);

    const fix = await run(['--data', root, 'verify', '--fix']);
    expect(fix.stdout).toContain('[fixed: reindex]');
    expect(fix.code, 'the orphan Maildir needs a person').toBe(1);
    const again = await run(['--data', root, 'verify']);
    expect(again.stdout).toMatch(/2 account\(s\), 8 message\(s\) indexed; 1 problem\(s\)$/m);
    expect(again.stdout).toContain('mail of no account');
    expect(statSync(path.join(root, 'config')).mode & 0o007).toBe(0);
    expect(existsSync(path.join(root, 'queue', 'stray.eml'))).toBe(false);
  });

  it('rebuilds a damaged index from the files, keeping the UIDs', { timeout: 60_000 }, async () => {
    const bk = tmp('ibk');
    const root = tmp('iroot');
    cleanups.push(bk, root);
    await copyOf(bk, root);
    const index = path.join(inbox(root, 'ann'), 'index.sqlite');
    const uids = messageFiles(root, 'ann').map((f) => /,U=(\d+)/.exec(f)![1]).sort();
    // Scribble over the second page (the schema and tables live past the header).
    const fd = openSync(index, 'r+');
    writeSync(fd, Buffer.alloc(4096, 0xa5), 0, 4096, 4096);
    closeSync(fd);
    const check = await run(['--data', root, 'verify']);
    expect(check.stdout).toMatch(/error: ann@example\.test: index damaged: .*\[would fix: move it aside and rebuild it/);
    const fix = await run(['--data', root, 'verify', '--fix']);
    expect(fix.code, fix.stdout).toBe(0);
    expect(readdirSync(inbox(root, 'ann')).some((n) => n.startsWith('index.sqlite.corrupt-'))).toBe(true);
    expect(messageFiles(root, 'ann').map((f) => /,U=(\d+)/.exec(f)![1]).sort()).toEqual(uids);
    expect((await run(['--data', root, 'verify'])).stdout).toContain('no problems');
  });
});

describe('restore', () => {
  it('refuses a damaged backup, naming the file', { timeout: 60_000 }, async () => {
    const bk = tmp('dbk');
    cleanups.push(bk);
    expect((await run(['--data', t.dataRoot, 'backup', bk, '--copy'])).code).toBe(0);
    const victim = messageFiles(bk, 'bob')[0]!;
    appendFileSync(victim, 'extra');
    const cert = path.join(bk, 'certs', readdirSync(path.join(bk, 'certs')).find((n) => n.endsWith('.pem'))!);
    const pem = readFileSync(cert);
    pem[40] ^= 1; // same size, one bit flipped
    writeFileSync(cert, pem);
    const target = tmp('dtarget');
    cleanups.push(target);
    const r = await run(['--data', target, 'restore', bk]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('the backup is damaged');
    expect(r.stderr).toContain(`${path.relative(bk, victim)}: ${statSync(victim).size} bytes`);
    expect(r.stderr).toContain(`${path.relative(bk, cert)}: content differs from when it was backed up`);
    const unfinished = tmp('ubk');
    cleanups.push(unfinished);
    mkdirSync(unfinished);
    const u = await run(['--data', tmp('utarget'), 'restore', unfinished]);
    expect(u.stderr).toContain('backup.json is missing: not a backup, or one that did not finish');
  });

  it('refuses a data root that holds something unless --force, which moves it aside', { timeout: 60_000 }, async () => {
    const bk = tmp('fbk');
    const target = tmp('ftarget');
    cleanups.push(bk, target);
    expect((await run(['--data', t.dataRoot, 'backup', bk])).code).toBe(0);
    mkdirSync(target);
    writeFileSync(path.join(target, 'precious'), 'keep me');
    const r = await run(['--data', target, 'restore', bk]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('is not empty');
    const f = await run(['--data', target, 'restore', bk, '--force']);
    expect(f.code, f.stderr).toBe(0);
    const aside = /now in (\S+)/.exec(f.stdout)![1]!;
    cleanups.push(aside);
    expect(readFileSync(path.join(aside, 'precious'), 'utf8')).toBe('keep me');
    expect(f.stdout).toContain('2 account(s), 8 message(s) indexed; no problems');
  });

  for (const ext of ['tar.gz', 'tar.zst']) {
    it(`round-trips a .${ext} archive`, { timeout: 60_000 }, async (ctx) => {
      if (ext === 'tar.zst' && !existsSync('/usr/bin/zstd')) ctx.skip(true, 'zstd is not installed (Debian package "zstd")');
      const file = `${tmp('arch')}.${ext}`;
      const target = tmp('atarget');
      cleanups.push(file, target);
      const b = await run(['--data', t.dataRoot, 'backup', file]);
      expect(b.code, b.stderr).toBe(0);
      expect(b.stdout).toMatch(/8 message\(s\).*\(archive: [\d.]+ KiB\)/);
      expect(readdirSync(path.join(t.dataRoot, 'backups')).filter((n) => n.startsWith('.staging'))).toEqual([]);
      const r = await run(['--data', target, 'restore', file]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('2 account(s), 8 message(s) indexed; no problems');
      // The same messages under the same UIDs (restore's reindex moves them from new/ to cur/).
      const bases = (root: string) => messageFiles(root, 'ann').map((f) => path.basename(f).split(':')[0]).sort();
      expect(bases(target)).toEqual(bases(t.dataRoot));
    });
  }
});
