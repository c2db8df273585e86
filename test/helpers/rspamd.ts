/**
 * Debian's rspamd (and redis-server for its statistics), started by a test on free
 * loopback ports with a config under a temp dir: the package's /etc/rspamd as the base,
 * our overrides in LOCAL_CONFDIR (workers' sockets, DNS, Redis, actions), no systemd.
 * The compiled Hyperscan databases are cached across runs (the first start compiles
 * them, which takes a minute on a busy machine; later starts take seconds).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './dovecot.js';
import { hasPeer, peer } from './peers.js';

export interface Rspamd {
  url: string;
  controllerUrl: string;
  /** Stops Rspamd (the test of "Rspamd down"); Redis keeps running. */
  stop(): Promise<void>;
  /** Stops everything and removes the temp dir. */
  close(): Promise<void>;
}

async function waitFor(url: string, ms: number, child: ChildProcess, logFile: string): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (child.exitCode !== null) throw new EarlyExit(`rspamd exited with status ${child.exitCode}: ${logTail(logFile)}`);
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if ((await r.text()).includes('pong')) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`rspamd did not answer ${url} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The last lines Rspamd logged (its log file), for an error message. */
function logTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-5).join(' | ');
  } catch {
    return '(no log)';
  }
}

function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => c.kill('SIGKILL'), 5000);
    c.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    c.kill('SIGTERM');
  });
}

type RspamdOptions = { dns: string; actions?: Record<string, number | null>; redis?: boolean; startMs?: number };

/**
 * Starts Rspamd; a start that exits at once is tried again on new ports (twice): the free
 * ports are picked before Rspamd binds them, and a parallel test file may take one in
 * between. The error names what Rspamd logged.
 */
export async function startRspamd(opts: RspamdOptions): Promise<Rspamd> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      if (!(err instanceof EarlyExit) || attempt >= 3) throw err;
    }
  }
}

class EarlyExit extends Error {}

async function startOnce(opts: RspamdOptions): Promise<Rspamd> {
  const dir = mkdtempSync(path.join(tmpdir(), 'mailserver-rspamd-'));
  const local = path.join(dir, 'local');
  for (const d of ['local.d', 'override.d']) mkdirSync(path.join(local, d), { recursive: true });
  for (const d of ['db', 'run', 'log']) mkdirSync(path.join(dir, d));
  const cache = path.join(tmpdir(), 'mailserver-rspamd-hs-cache');
  mkdirSync(cache, { recursive: true });
  const [normal, controller, proxy] = [await freePort(), await freePort(), await freePort()];
  const w = (f: string, s: string) => writeFileSync(path.join(local, f), s);
  w('override.d/worker-normal.inc', `bind_socket = "127.0.0.1:${normal}";\ncount = 1;\n`);
  w('override.d/worker-controller.inc', `bind_socket = "127.0.0.1:${controller}";\ncount = 1;\n`);
  w('override.d/worker-proxy.inc', `bind_socket = "127.0.0.1:${proxy}";\ncount = 1;\n`);
  w('local.d/options.inc', `dns { nameserver = ["${opts.dns}"]; timeout = 0.5s; retransmits = 1; }\nhs_cache_dir = "${cache}/";\n`);
  if (opts.actions) w('local.d/actions.conf', Object.entries(opts.actions).map(([k, v]) => `${k} = ${v};`).join('\n') + '\n');
  const children: ChildProcess[] = [];
  if (opts.redis) {
    const port = await freePort();
    const redis = spawn(peer('redis-server'), ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    children.push(redis);
    w('local.d/redis.conf', `servers = "127.0.0.1:${port}";\n`);
    // Learn from the first message (the package waits for 200 before classifying).
    w('local.d/classifier-bayes.conf', 'min_learns = 1;\n');
  }
  const vars = ['LOCAL_CONFDIR', local, 'DBDIR', path.join(dir, 'db'), 'RUNDIR', path.join(dir, 'run'), 'LOGDIR', path.join(dir, 'log')];
  const args = ['-f', '-i', '-c', '/etc/rspamd/rspamd.conf'];
  for (let i = 0; i < vars.length; i += 2) args.push('--var', `${vars[i]}=${vars[i + 1]}`);
  const rspamd = spawn(peer('rspamd'), args, { cwd: dir, stdio: 'ignore' });
  children.push(rspamd);
  const url = `http://127.0.0.1:${normal}`;
  const close = async () => {
    for (const c of children.reverse()) await stopChild(c);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(`${url}/ping`, opts.startMs ?? 150_000, rspamd, path.join(dir, 'log', 'rspamd.log'));
  } catch (err) {
    await close();
    throw err;
  }
  return { url, controllerUrl: `http://127.0.0.1:${controller}`, stop: () => stopChild(rspamd), close };
}

/** Rspamd is installed with its package's config (test/helpers/peers.ts). */
export const haveRspamd = (): boolean => hasPeer('rspamd');
