/**
 * The external programs tests talk to (DESIGN.md "Real parts in tests"), and the Debian
 * package each comes from. A test or a describe block that uses one says so:
 *
 *   it('swaks delivers', needs('swaks'), async () => { ... });
 *   describe('mbsync', needs('mbsync'), () => { ... });
 *
 * When every peer named is there, `needs()` gives no options and the test runs. When
 * one is missing, the test (or every test of the block, whose hooks then do not run
 * either) is skipped, and its metadata names the package; the reporter in
 * test/helpers/peer-reporter.ts prints one line per skipped test and a closing count
 * per package. `.ci/run` installs them all (its PKGS).
 *
 * Presence is what a test would use: a program on PATH (so a PATH without it hides it),
 * a Python module importable by the interpreter the test runs (so a PYTHONPATH that
 * shadows it hides it), a fixed path for Dovecot's imap binary. `TEST_HIDE_PEERS`
 * (comma-separated peer names) hides more, to try the suite as a bare machine runs it.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import path from 'node:path';
import type { TestOptions } from 'vitest';

declare module 'vitest' {
  interface TaskMeta {
    /** "swaks (Debian package swaks)": why the test was skipped (set by needs()). */
    missingPeer?: string;
  }
}

interface PeerSpec {
  /** The Debian package that provides it. */
  pkg: string;
  /** The program (absolute path) the test should run, or undefined when it is missing. */
  find(): string | undefined;
}

function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A program on PATH, like `command -v`. */
function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, name);
    if (executable(p)) return p;
  }
  return undefined;
}

/**
 * The Python interpreter that imports `module`: Debian's own first (its python3-*
 * packages install for /usr/bin/python3 only), then the one on PATH.
 */
function pythonWith(module: string): string | undefined {
  for (const py of ['/usr/bin/python3', onPath('python3')]) {
    if (!py || !executable(py)) continue;
    if (spawnSync(py, ['-c', `import ${module}`], { stdio: 'ignore', timeout: 20_000 }).status === 0) return py;
  }
  return undefined;
}

export const PEERS = {
  swaks: { pkg: 'swaks', find: () => onPath('swaks') },
  mbsync: { pkg: 'isync', find: () => onPath('mbsync') },
  fetchmail: { pkg: 'fetchmail', find: () => onPath('fetchmail') },
  curl: { pkg: 'curl', find: () => onPath('curl') },
  openssl: { pkg: 'openssl', find: () => onPath('openssl') },
  /**
   * Debian's interpreter first, as pythonWith(): a python3 earlier on PATH may be a
   * version manager's shim (pyenv's is a shell script that forks a dozen processes), which
   * cost ~2 s a run at load 10 against 0.06 s, in tests that start python per client.
   */
  python3: { pkg: 'python3', find: () => (executable('/usr/bin/python3') ? '/usr/bin/python3' : onPath('python3')) },
  /** The interpreter to run test scripts that `import dkim` with. */
  'python3-dkim': { pkg: 'python3-dkim', find: () => pythonWith('dkim') },
  /** python3-dkim's signer (a Python script: it needs the module too). */
  dkimsign: { pkg: 'python3-dkim', find: () => (pythonWith('dkim') ? onPath('dkimsign') : undefined) },
  pebble: { pkg: 'pebble', find: () => (onPath('pebble-challtestsrv') ? onPath('pebble') : undefined) },
  'pebble-challtestsrv': { pkg: 'pebble', find: () => onPath('pebble-challtestsrv') },
  doveadm: { pkg: 'dovecot-core', find: () => onPath('doveadm') },
  /** Dovecot's IMAP server binary, run directly on a Maildir (no daemon). */
  'dovecot-imap': { pkg: 'dovecot-imapd', find: () => ['/usr/lib/dovecot/imap'].find(executable) },
  /** Rspamd with the package's config (test/helpers/rspamd.ts builds on /etc/rspamd). */
  rspamd: { pkg: 'rspamd', find: () => (existsSync('/etc/rspamd/rspamd.conf') ? onPath('rspamd') : undefined) },
  'redis-server': { pkg: 'redis-server', find: () => onPath('redis-server') },
} satisfies Record<string, PeerSpec>;

export type PeerName = keyof typeof PEERS;

const found = new Map<PeerName, string | undefined>();

/** The absolute path of a peer, or undefined when it is missing (looked up once per process). */
export function peerPath(name: PeerName): string | undefined {
  if (!found.has(name)) {
    const hidden = (process.env.TEST_HIDE_PEERS ?? '').split(',').map((s) => s.trim());
    found.set(name, hidden.includes(name) ? undefined : PEERS[name].find());
  }
  return found.get(name);
}

export function hasPeer(name: PeerName): boolean {
  return peerPath(name) !== undefined;
}

/** The path of a peer the running test needs (it was checked by needs()). */
export function peer(name: PeerName): string {
  const p = peerPath(name);
  if (!p) throw new Error(`${name} is missing (Debian package ${PEERS[name].pkg}): the test should have been skipped by needs('${name}')`);
  return p;
}

/** What a missing peer is called in skip lines: "swaks (Debian package swaks)". */
export function describePeer(name: PeerName): string {
  return `${name} (Debian package ${PEERS[name].pkg})`;
}

/**
 * Options for it()/describe(): none when every peer is installed; otherwise skip, with
 * the first missing peer and its package in the test's metadata for the reporter.
 */
export function needs(...names: PeerName[]): TestOptions {
  const missing = names.filter((n) => !hasPeer(n));
  if (missing.length === 0) return {};
  return { skip: true, meta: { missingPeer: missing.map(describePeer).join(', ') } };
}
