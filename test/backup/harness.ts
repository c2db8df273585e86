// Real `mailserver serve` processes on temp data roots, for the backup, rollback and
// log tests: free loopback ports, a config file, start and wait, stop with SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { AccountsRepo } from '../../src/accounts/repo.js';
import { dbPath, openDb } from '../../src/db/index.js';
import { createStore } from '../../src/store/index.js';
import { BIN, ROOT, run, type RunResult } from '../cli/run.js';

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

export const PASSWORD = 'pw-backup-test-1';

/** A data root with a config (SMTP and IMAP on the given ports, checks off) and accounts. */
export async function makeDataRoot(accounts: string[], extra = ''): Promise<{ dir: string; cli: (args: string[], input?: string) => Promise<RunResult>; cleanup: () => void }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mailserver-ops-'));
  mkdirSync(path.join(dir, 'config'), { recursive: true });
  const others = ['submission', 'submissions', 'imaps', 'pop3', 'pop3s', 'http', 'https', 'managesieve'].map((k) => `${k} = -1`).join('\n');
  writeFileSync(
    path.join(dir, 'config', 'mailserver.toml'),
    `hostname = "mail.example.test"\n[listen]\naddress = "127.0.0.1"\nsmtp = 0\nimap = 0\n${others}\n` +
      `[auth]\nallow_plaintext_on_loopback = true\nfailure_delay_ms = 10\npenalty_base_ms = 0\n[checks]\nenabled = false\n[log]\nlevel = "warn"\n${extra}`,
  );
  const cli = (args: string[], input?: string) => run(['--data', dir, ...args], { input });
  // As `domain add` and `account add` would (in-process: a CLI process each costs seconds on a busy machine).
  const db = openDb(dbPath(dir));
  const store = createStore({ dataRoot: dir });
  try {
    const repo = new AccountsRepo(db, store);
    for (const d of new Set(accounts.map((a) => a.slice(a.indexOf('@') + 1)))) repo.addDomain(d);
    for (const a of accounts) await repo.addAccount(a, PASSWORD);
  } finally {
    await store.close();
    db.close();
  }
  return { dir, cli, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Serving {
  child: ChildProcess;
  ports: Record<string, number>;
  output(): string;
  stop(): Promise<number | null>;
}

/** Starts `mailserver serve` on `dir` (ports from the config, 0 = any) and waits until it listens. */
export async function serve(dir: string, env: NodeJS.ProcessEnv = {}): Promise<Serving> {
  const child = spawn(process.execPath, [BIN, '--data', dir, 'serve'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 30_000;
  while (!out.includes('data root:')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`serve did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const ports: Record<string, number> = {};
  for (const m of out.matchAll(/listening: (\w+) on port (\d+)/g)) ports[m[1]!] = Number(m[2]);
  return {
    child,
    ports,
    output: () => out,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

export function killHard(s: Serving | undefined): void {
  if (s && s.child.exitCode === null) s.child.kill('SIGKILL');
}
