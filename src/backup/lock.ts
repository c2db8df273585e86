/**
 * The data root's pid file (`<data>/mailserver.pid`): who is using the data root in a
 * way nothing else may at the same time. `serve` holds it while it runs; `rollback` and
 * `restore` hold it while they replace databases, and refuse when someone else does.
 * The other CLI verbs ignore it (they share the database with a running server).
 *
 * The first line is the pid alone (for `kill -HUP $(head -1 mailserver.pid)` and
 * tools that read pid files); the second is JSON: pid, what holds it, and the process start time from
 * /proc/<pid>/stat, so a pid reused by another program after a crash (containers
 * restart with small pids) is not mistaken for a running server. A file whose process
 * is gone is stale and simply taken over.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const LOCK_FILE = 'mailserver.pid';

export interface LockInfo {
  pid: number;
  /** What holds it: "serve", "rollback", "restore". */
  what: string;
  /** Field 22 of /proc/<pid>/stat (clock ticks since boot), when /proc exists. */
  start?: string;
  since: string;
  /** Tells two holders of one process apart (in-process restarts). */
  token?: string;
}

export class DataRootBusyError extends Error {
  constructor(
    readonly holder: LockInfo,
    dataRoot: string,
  ) {
    super(`${holder.what === 'serve' ? 'a mail server' : `"mailserver ${holder.what}"`} (pid ${holder.pid}) is using the data root ${dataRoot}; stop it first`);
    this.name = 'DataRootBusyError';
  }
}

export function lockPath(dataRoot: string): string {
  return path.join(dataRoot, LOCK_FILE);
}

export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may contain spaces.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** True when the process is running and is the one that started at `start` (when known). */
export function processAlive(info: { pid: number; start?: string }): boolean {
  try {
    process.kill(info.pid, 0);
  } catch (err) {
    // EPERM: it exists, owned by someone else.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const now = processStartTime(info.pid);
  return info.start === undefined || now === undefined || now === info.start;
}

function parseLock(text: string): LockInfo {
  return JSON.parse(text.trim().split('\n').pop()!) as LockInfo;
}

/** The live holder of the data root, if any (a stale file counts as none). */
export function lockHolder(dataRoot: string): LockInfo | undefined {
  let info: LockInfo;
  try {
    info = parseLock(readFileSync(lockPath(dataRoot), 'utf8'));
  } catch {
    return undefined;
  }
  if (typeof info.pid !== 'number') return undefined;
  return processAlive(info) ? info : undefined;
}

export interface DataRootLock {
  release(): void;
}

/**
 * Takes the data root for `what`; throws DataRootBusyError when another live process
 * holds it. The same process may take it again (tests start servers in-process one
 * after another on one data root).
 */
export function lockDataRoot(dataRoot: string, what: string): DataRootLock {
  const file = lockPath(dataRoot);
  const mine: LockInfo = { pid: process.pid, what, start: processStartTime(process.pid), since: new Date().toISOString(), token: randomBytes(6).toString('hex') };
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(file, `${mine.pid}\n${JSON.stringify(mine)}\n`, { flag: 'wx', mode: 0o640 });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 2) throw err;
      const holder = lockHolder(dataRoot);
      if (holder && holder.pid !== process.pid) throw new DataRootBusyError(holder, dataRoot);
      // Stale (or our own): replace it. Two processes racing here both unlink; only one
      // wins the next exclusive create.
      rmSync(file, { force: true });
    }
  }
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      try {
        const now = parseLock(readFileSync(file, 'utf8'));
        if (now.pid === mine.pid && now.token === mine.token) rmSync(file, { force: true });
      } catch {
        // gone already
      }
    },
  };
}
