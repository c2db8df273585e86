/**
 * The two servers the benchmark compares, behind one shape: ours (the built server,
 * `dist/`, in its own process) and Dovecot (Debian's binary, self-contained under a temp
 * dir, test/helpers/dovecot.ts). RSS is read from /proc: our whole process, or the sum
 * of Dovecot's session processes (`imap`, `pop3`) of one user, children of its master.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { dovecotMissing, startDovecot } from '../../test/helpers/dovecot.js';
// @ts-expect-error plain JS helper shared with the .mjs benchmarks
import { freePort, procMem, startServer } from '../lib.mjs';

export const PASSWORD = 'bench-password';
export const DOMAIN = 'bench.test';

export interface Target {
  name: string;
  imapPort: number;
  pop3Port: number;
  /** Creates the accounts (local parts) and returns the INBOX Maildir path of each. */
  addAccounts(locals: string[]): string[];
  /** Owner the INBOX directories need (Dovecot running as root serves mail as nobody). */
  owner?: { uid: number; gid: number };
  /** Resident memory in MB of what serves the sessions now. */
  rssMB(): number;
  /** CPU time (user + system, ms) the server has used so far, ended session processes included. */
  cpuMs(): number;
  stop(): Promise<void>;
}

export async function startOurs(): Promise<Target> {
  const imapPort = await freePort();
  const pop3Port = await freePort();
  // As users start it (Dockerfile, npm start): its memory settings are part of what RSS measures.
  const srv = await startServer({ imap: imapPort, pop3: pop3Port }, '', { asInstalled: true });
  let domainMade = false;
  return {
    name: 'ours',
    imapPort,
    pop3Port,
    addAccounts(locals) {
      if (!domainMade) srv.cliRun('domain', 'add', DOMAIN);
      domainMade = true;
      return locals.map((l) => {
        srv.cliRun('account', 'add', `${l}@${DOMAIN}`, '--password-stdin');
        return path.join(srv.data, 'maildir', DOMAIN, l);
      });
    },
    rssMB: () => procMem(srv.pid).rssMB as number,
    cpuMs: () => cpuOf(srv.pid as number, false),
    stop: () => srv.stop(),
  };
}

export function dovecotSkip(): string | undefined {
  if (dovecotMissing()) return 'dovecot-imapd';
  try {
    readFileSync('/usr/lib/dovecot/pop3');
  } catch {
    return 'dovecot-pop3d';
  }
  return undefined;
}

export async function startDovecotTarget(): Promise<Target> {
  const d = await startDovecot(PASSWORD, { pop3: true });
  const isRoot = process.getuid?.() === 0;
  const owner = isRoot ? { uid: Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' })), gid: Number(execFileSync('id', ['-g', 'nobody'], { encoding: 'utf8' })) } : undefined;
  return {
    name: 'Dovecot',
    imapPort: d.port,
    pop3Port: d.pop3Port!,
    owner,
    addAccounts: (locals) => locals.map((l) => path.join(d.root, 'mail', `${l}@${DOMAIN}`)),
    rssMB: () => sessionProcesses(d.pid).reduce((sum, pid) => sum + (procMem(pid).rssMB as number), 0),
    cpuMs: () => cpuOf(d.pid, true) + descendants(d.pid).reduce((sum, pid) => sum + cpuOf(pid, true), 0),
    stop: () => d.close(),
  };
}

/** utime + stime (and with `reaped`, those of waited-for children) of a process, in ms. */
function cpuOf(pid: number, reaped: boolean): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
    // fields 14-17 of proc(5), counted from after the command name (field 3 is index 0)
    const ticks = f[11]! + f[12]! + (reaped ? f[13]! + f[14]! : 0);
    return ticks * 10; // USER_HZ = 100 on Linux
  } catch {
    return 0;
  }
}

/** Children of `parent` (pid and command name), from /proc. */
function childrenOf(parent: number): Array<{ pid: number; comm: string }> {
  const out: Array<{ pid: number; comm: string }> = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const m = /^\d+ \((.*)\) \S (\d+)/.exec(readFileSync(`/proc/${e}/stat`, 'utf8'));
      if (m && Number(m[2]) === parent) out.push({ pid: Number(e), comm: m[1]! });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function descendants(pid: number): number[] {
  const kids = childrenOf(pid).map((c) => c.pid);
  return kids.concat(...kids.map(descendants));
}

/** Children of `parent` running Dovecot's session binaries. */
function sessionProcesses(parent: number): number[] {
  return childrenOf(parent)
    .filter((c) => c.comm === 'imap' || c.comm === 'pop3')
    .map((c) => c.pid);
}
