/**
 * The built server as a child process (`node dist/cli/main.js serve --data <root>`), for
 * tests that must kill it for real (SIGKILL) and start it again on the same data root.
 * The test writes the data root's config first (writeChildConfig, ports from freePort).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { defaults } from '../../src/config/index.js';
import { ROOT } from '../cli/run.js';

export const BIN = path.join(ROOT, 'dist', 'cli', 'main.js');

/** A port nobody listens on right now (the child binds it a moment later). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, host, () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Starts the server on `dataRoot`; `output()` is everything it printed so far. */
export function startChildServer(dataRoot: string): { proc: ChildProcess; output: () => string } {
  const proc = spawn(process.execPath, [BIN, 'serve', '--data', dataRoot], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MAILSERVER_DATA: '' } });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { proc, output: () => out };
}

/** Sends the signal and resolves once the process has exited (at once if it already has). */
export async function killed(proc: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  await new Promise<void>((r) => {
    proc.once('exit', () => r());
    proc.kill(signal);
  });
}

/**
 * Writes `<dataRoot>/config/mailserver.toml` for a child server: the listeners in
 * `ports` on `address`, every other listener the server has off (-1: none of them
 * binds its default port on a machine where other tests run), plaintext login on
 * loopback, warnings only, then `extra` (more TOML sections).
 */
export async function writeChildConfig(dataRoot: string, opts: { hostname: string; address: string; ports: Record<string, number>; extra?: string }): Promise<void> {
  const listen = Object.keys(defaults(dataRoot, false).ports).map((k) => `${k} = ${opts.ports[k] ?? -1}`);
  const toml = [
    `hostname = "${opts.hostname}"`,
    '[listen]',
    `address = "${opts.address}"`,
    ...listen,
    '[auth]',
    'allow_plaintext_on_loopback = true',
    'failure_delay_ms = 10',
    '[log]',
    'level = "warn"',
    opts.extra ?? '',
  ];
  await mkdir(path.join(dataRoot, 'config'), { recursive: true });
  await writeFile(path.join(dataRoot, 'config', 'mailserver.toml'), toml.join('\n'));
}
