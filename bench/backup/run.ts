/**
 * Backup figures: time and size of `backup` (directory with hard links, directory with
 * copies, .tar.zst, .tar.gz), `restore` and `verify` on a data root of N messages.
 *
 *   npx tsx bench/backup/run.ts [messages=10000] [accounts=10]
 *
 * Messages are 2-12 KB of base64 (compressing like attachments do), delivered through the store with
 * fsync off (making the data root is not what is measured); each account's index is
 * the store's own. Runs on an idle server (see test/backup/backup-under-load.test.ts
 * for a backup under SMTP load).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AccountsRepo } from '../../src/accounts/repo.js';
import { backup, restoreBackup, verifyDataRoot } from '../../src/backup/index.js';
import { dbPath, openDb } from '../../src/db/index.js';
import { createStore } from '../../src/store/index.js';

const N = Number(process.argv[2] ?? 10000);
const ACCOUNTS = Number(process.argv[3] ?? 10);
const work = mkdtempSync(path.join(os.tmpdir(), 'mailserver-bench-backup-'));
const root = path.join(work, 'data');

function mib(n: number): string {
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

async function timed<T>(name: string, fn: () => Promise<T>, size?: (r: T) => Promise<string> | string): Promise<T> {
  const t0 = performance.now();
  const r = await fn();
  const ms = performance.now() - t0;
  console.log(`${name.padEnd(26)} ${(ms / 1000).toFixed(2).padStart(7)} s  ${(N / (ms / 1000)).toFixed(0).padStart(7)} msg/s  ${size ? await size(r) : ''}`);
  return r;
}

try {
  const db = openDb(dbPath(root));
  const store = createStore({ dataRoot: root, fsync: false });
  const repo = new AccountsRepo(db, store);
  repo.addDomain('example.test');
  const users: string[] = [];
  for (let i = 0; i < ACCOUNTS; i++) {
    users.push(`user${i}@example.test`);
    await repo.addAccount(users[i]!, 'bench-password-1');
  }
  let bytes = 0;
  for (let i = 0; i < N; i++) {
    // Base64 of random bytes: compresses like the attachments that make most of a mailbox.
    const body = randomBytes(1500 + (i % 11) * 750).toString('base64').replace(/.{76}/g, '$&\r\n');
    const data = Buffer.from(`From: a@remote.test\r\nTo: ${users[i % ACCOUNTS]}\r\nSubject: message ${i}\r\n\r\n${body}\r\n`);
    bytes += data.length;
    await store.deliver([{ account: users[i % ACCOUNTS]! }], { data });
  }
  await store.close();
  db.close();
  console.log(`data root: ${N} messages in ${ACCOUNTS} accounts, ${mib(bytes)} of mail`);

  await timed('backup (dir, hard links)', () => backup(root, path.join(work, 'b-link')), (r) => `${r.files} files, ${mib(r.bytes)} listed, ${r.linked} linked`);
  await timed('backup (dir, --copy)', () => backup(root, path.join(work, 'b-copy'), { copy: true }), (r) => `${mib(r.bytes)}`);
  if (existsSync('/usr/bin/zstd')) await timed('backup (.tar.zst)', () => backup(root, path.join(work, 'b.tar.zst')), (r) => `archive ${mib(r.archiveBytes ?? 0)}`);
  await timed('backup (.tar.gz)', () => backup(root, path.join(work, 'b.tar.gz')), (r) => `archive ${mib(r.archiveBytes ?? 0)}`);
  await timed('restore (dir, hard links)', () => restoreBackup(path.join(work, 'b-link'), path.join(work, 'r1')), (r) => `${r.verify.messages} messages, ${r.verify.ok ? 'verified' : 'PROBLEMS'}`);
  if (existsSync('/usr/bin/zstd')) await timed('restore (.tar.zst)', () => restoreBackup(path.join(work, 'b.tar.zst'), path.join(work, 'r2')), (r) => `${r.verify.ok ? 'verified' : 'PROBLEMS'}`);
  await timed('verify', () => verifyDataRoot(root), (r) => `${r.messages} messages, ${r.findings.length} findings`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
