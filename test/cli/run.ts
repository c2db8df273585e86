// Runs the real built `mailserver` binary (dist/cli/main.js; the test command builds
// first) against a temp data root.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = path.join(ROOT, 'dist', 'cli', 'main.js');

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function run(args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, ...opts.env };
    if (!opts.env || !('MAILSERVER_DATA' in opts.env)) delete env.MAILSERVER_DATA;
    const child = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(opts.input ?? '');
  });
}

/** A fresh data root, and a runner bound to it with --data. */
export function tempRoot(): { dir: string; cli: (args: string[], opts?: { input?: string }) => Promise<RunResult>; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mailserver-cli-'));
  return {
    dir,
    cli: (args, opts) => run(['--data', dir, ...args], opts),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Asserts the documented error shape: exactly one line, "mailserver: error: ...". */
export function oneErrorLine(r: RunResult): string {
  const lines = r.stderr.split('\n').filter(Boolean);
  if (lines.length !== 1 || !lines[0]!.startsWith('mailserver: error: ')) {
    throw new Error(`expected one error line, got: ${JSON.stringify(r.stderr)}`);
  }
  return lines[0]!;
}
