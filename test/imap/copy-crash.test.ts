// COPY is all or nothing across a crash: the server runs as a child process, gets
// `COPY 1:200 Target`, and is killed with SIGKILL as soon as the first copy appears in
// Target's directory. After the restart Target holds all 200 messages or none (RFC 9051
// §6.4.7: a failed COPY leaves the destination as it was), and a retry gives exactly 200.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, watch } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { AccountsRepo } from '../../src/accounts/repo.js';
import { dbPath, openDb } from '../../src/db/index.js';
import { freePort } from '../helpers/dovecot.js';
import { ImapTestClient } from '../helpers/imap-client.js';
import { BIN } from '../cli/run.js';

const USER = 'crash@example.test';
const COUNT = 200;
let dataRoot: string;
let child: ChildProcess | undefined;
let port: number;

async function start(): Promise<ChildProcess> {
  const proc = spawn(process.execPath, [BIN, 'serve', '--data', dataRoot], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MAILSERVER_DATA: '' } });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 30_000;
  while (!out.includes('listening: imap')) {
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`the child server did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return proc;
}

async function kill(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  await new Promise<void>((r) => {
    proc.once('exit', () => r());
    proc.kill('SIGKILL');
  });
}

async function session(): Promise<ImapTestClient> {
  const c = await ImapTestClient.connect(port);
  await c.login(USER, 'pw');
  return c;
}

/** EXISTS of an EXAMINE: the store brings its index in line with the files first. */
async function messagesIn(c: ImapTestClient, box: string): Promise<number> {
  const r = await c.transact('ok', `EXAMINE ${box}`);
  return r.untagged.find((x) => x.type === 'EXISTS')!.num!;
}

beforeAll(async () => {
  expect(existsSync(BIN), 'build first: npm run build').toBe(true);
  dataRoot = await mkdtemp(path.join(tmpdir(), 'mailserver-copy-crash-'));
  port = await freePort();
  const db = openDb(dbPath(dataRoot));
  const repo = new AccountsRepo(db);
  repo.addDomain('example.test');
  await repo.addAccount(USER, 'pw');
  db.close();
  await mkdir(path.join(dataRoot, 'config'), { recursive: true });
  const off = ['smtp', 'submission', 'submissions', 'imaps', 'pop3', 'pop3s', 'http', 'https', 'managesieve'].map((k) => `${k} = -1`).join('\n');
  await writeFile(path.join(dataRoot, 'config', 'mailserver.toml'), `hostname = "mx.example.test"\n[listen]\naddress = "127.0.0.1"\nimap = ${port}\n${off}\n[auth]\nallow_plaintext_on_loopback = true\nfailure_delay_ms = 10\n[log]\nlevel = "warn"\n`);
});

afterAll(async () => {
  if (child) await kill(child);
  await rm(dataRoot, { recursive: true, force: true });
});

it(`a SIGKILL during COPY of ${COUNT} messages leaves all or none in the target after the restart`, async () => {
  // The messages dropped into new/ as a delivery agent would (APPEND × 200 fsyncs each).
  const maildir = path.join(dataRoot, 'maildir', 'example.test', 'crash');
  for (const d of ['cur', 'new', 'tmp']) await mkdir(path.join(maildir, d), { recursive: true });
  for (let i = 1; i <= COUNT; i++) {
    await writeFile(path.join(maildir, 'new', `170000${i}.M${i}P1.test`), `From: a@example.org\r\nSubject: crash ${i}\r\nMessage-ID: <crash${i}@example.org>\r\n\r\n${'body '.repeat(50)}${i}\r\n`);
  }
  const seen: string[] = [];
  // Three kills: how far the COPY got when the signal landed varies from run to run.
  for (let round = 1; round <= 3; round++) {
    child = await start();
    let c = await session();
    const target = `Target${round}`;
    await c.transact('ok', `CREATE ${target}`);
    await c.transact('ok', 'SELECT INBOX');
    // SIGKILL at the first sign of the copy in the target's directory.
    const cur = path.join(maildir, `.${target}`, 'cur');
    const linked = new Promise<void>((resolve) => {
      const w = watch(cur, () => {
        w.close();
        resolve();
      });
    });
    c.write(`k${round} COPY 1:* ${target}\r\n`);
    await linked;
    await kill(child);
    const onDisk = readdirSync(cur).length;
    await c.close();

    child = await start();
    c = await session();
    const after = await messagesIn(c, target);
    seen.push(`${onDisk} file(s) linked when killed → ${after} after the restart`);
    expect([0, COUNT], seen.join('; ')).toContain(after);
    expect(await messagesIn(c, 'INBOX')).toBe(COUNT);
    // The client retries what got no answer: exactly one copy of each message in the end.
    await c.transact('ok', 'SELECT INBOX');
    if (after === 0) await c.transact('ok', `COPY 1:* ${target}`);
    expect(await messagesIn(c, target)).toBe(COUNT);
    await c.transact('ok', 'LOGOUT');
    await c.close();
    await kill(child);
  }
  console.log(`COPY of ${COUNT} killed three times: ${seen.join('; ')}`);
}, 180_000);
