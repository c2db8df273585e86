// `mailserver serve` from the built binary: it starts, says where it listens, the other
// verbs work against the same data root while it runs (shared SQLite database in WAL
// mode), and SIGTERM stops it with exit status 0. Also the no-echo password prompt on a
// real terminal (python3's pty module).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { AccountsRepo } from '../../src/accounts/repo.js';
import { dbPath, openDb } from '../../src/db/index.js';
import { BIN, ROOT, tempRoot } from './run.js';
import { needs, peer } from '../helpers/peers.js';

let t: ReturnType<typeof tempRoot>;
let server: ChildProcess | undefined;
beforeEach(() => {
  t = tempRoot();
});
afterEach(() => {
  if (server && server.exitCode === null) server.kill('SIGKILL');
  server = undefined;
  t.cleanup();
});

/** One SMTP transaction up to RCPT TO; returns the reply line to RCPT. */
function rcptReply(port: number, rcpt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const script = ['EHLO client.test', 'MAIL FROM:<sender@remote.test>', `RCPT TO:<${rcpt}>`];
    let buf = '';
    let step = 0;
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        if (line[3] === '-') continue; // continuation of a multi-line reply
        if (step === script.length) {
          sock.end('QUIT\r\n');
          return resolve(line);
        }
        sock.write(`${script[step++]}\r\n`);
      }
    });
    sock.on('error', reject);
  });
}

/** A data root whose server listens on SMTP alone, on a free port. */
function smtpOnlyConfig(): void {
  mkdirSync(path.join(t.dir, 'config'), { recursive: true });
  writeFileSync(
    path.join(t.dir, 'config', 'mailserver.toml'),
    ['hostname = "mx.example.test"', '[listen]', 'address = "127.0.0.1"', 'smtp = 0', 'submission = -1', 'submissions = -1', 'imap = -1', 'imaps = -1', 'pop3 = -1', 'pop3s = -1', 'http = -1', 'https = -1', 'managesieve = -1', '[log]', 'level = "silent"', ''].join('\n'),
  );
}

/** Starts `serve` (`cmd args`), resolves with its SMTP port and its exit. */
async function startServe(cmd: string, args: string[]): Promise<{ port: number; exited: Promise<number | null> }> {
  server = spawn(cmd, [...args, '--data', t.dir, 'serve'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  server.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => server!.on('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    server!.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /listening: smtp on port (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    void exited.then((code) => reject(new Error(`serve exited early with ${code}: ${err}`)));
  });
  return { port, exited };
}

it('serves, lets other verbs change the same database meanwhile, and exits 0 on SIGTERM', { timeout: 120_000 }, async () => {
  smtpOnlyConfig();
  const db = openDb(dbPath(t.dir));
  const repo = new AccountsRepo(db);
  repo.addDomain('example.test');

  const { port, exited } = await startServe(process.execPath, [BIN]);

  expect(await rcptReply(port, 'new@example.test')).toMatch(/^550 /);
  // A long-lived reader in this process, as the server has, does not block the CLI.
  db.prepare('BEGIN').run();
  db.prepare('SELECT count(*) FROM accounts').get();
  const add = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const c = execFile(process.execPath, [BIN, '--data', t.dir, 'account', 'add', 'new@example.test', '--password-stdin'], { cwd: ROOT }, (e, stdout, stderr) =>
      resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    c.stdin!.end('pw\n');
  });
  db.prepare('COMMIT').run();
  expect(add.stderr).toBe('');
  expect(add.code).toBe(0);
  // The running server sees the new account at once.
  expect(await rcptReply(port, 'new@example.test')).toMatch(/^250 /);
  db.close();

  server!.kill('SIGTERM');
  expect(await exited).toBe(0);
});

// Issue 16: the start path (Dockerfile, npm start) is the script itself; its first line
// sets glibc's trim threshold and V8's young generation before the process starts.
it('started as dist/cli/main.js itself, runs with the memory settings of its first line', { skip: !existsSync('/proc/self/environ'), timeout: 120_000 }, async () => {
  smtpOnlyConfig();
  const { port, exited } = await startServe(BIN, []);
  const pid = server!.pid!;
  expect(readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0')).toContain('MALLOC_TRIM_THRESHOLD_=131072');
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0');
  expect(argv).toContain('--max-semi-space-size=8');
  expect(argv).toContain(BIN);
  expect(await rcptReply(port, 'nobody@example.test')).toMatch(/^5\d\d /);
  server!.kill('SIGTERM');
  expect(await exited).toBe(0);
});

it('prompts for the password on a terminal without echoing it', { ...needs('python3'), timeout: 120_000 }, async () => {
  const db = openDb(dbPath(t.dir));
  new AccountsRepo(db).addDomain('example.test');
  db.close();
  const py = `
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], sys.argv[2], '--data', sys.argv[3], 'account', 'add', 'tty@example.test'])
out = b''
def until(s):
    global out
    while s not in out:
        d = os.read(fd, 1024)
        if not d: raise SystemExit('eof before ' + s.decode())
        out += d
until(b'New password: ')
os.write(fd, b'tty secret\\r')
until(b'Repeat password: ')
os.write(fd, b'tty secret\\r')
try:
    while True:
        d = os.read(fd, 1024)
        if not d: break
        out += d
except OSError:
    pass
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode())
sys.exit(os.waitstatus_to_exitcode(status))
`;
  const res = await new Promise<{ code: number; stdout: string }>((resolve) => {
    execFile(peer('python3'), ['-c', py, process.execPath, BIN, t.dir], { cwd: ROOT }, (e, stdout) => resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, stdout }));
  });
  expect(res.stdout).toContain('added account tty@example.test');
  expect(res.stdout).not.toContain('tty secret');
  expect(res.code).toBe(0);
  const db2 = openDb(dbPath(t.dir));
  try {
    expect(await new AccountsRepo(db2).verifyCredentials('tty@example.test', 'tty secret')).toBeDefined();
  } finally {
    db2.close();
  }
});
