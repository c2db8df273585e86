/**
 * A self-contained Dovecot IMAP server for differential tests: Debian's dovecot binary
 * with a config, Maildirs and sockets under a temp dir, listening on a free loopback
 * port, any user with the password given (static passdb). Tests run the same scripted
 * sessions against it and against our server (the strict client must find no
 * violation in Dovecot's answers, which checks the checker).
 *
 * `dovecotMissing()` names the Debian package when the binary is absent, for a skip line.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';

const DOVECOT = '/usr/sbin/dovecot';

export interface DovecotServer {
  port: number;
  /** The POP3 listener (only with `startDovecot(pw, { pop3: true })`). */
  pop3Port?: number;
  /** The master process (its children serve the sessions: RSS per process for benchmarks). */
  pid: number;
  root: string;
  password: string;
  close(): Promise<void>;
}

export function dovecotMissing(): string | undefined {
  return existsSync(DOVECOT) && existsSync('/usr/lib/dovecot/imap') ? undefined : 'dovecot-imapd';
}

/** A loopback port nothing listens on right now (for servers that need a fixed one). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function waitListening(port: number, ms: number, log: string): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`dovecot did not listen on ${port}: ${await readFile(log, 'utf8').catch(() => '')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startDovecot(password = 'pw', opts: { pop3?: boolean } = {}): Promise<DovecotServer> {
  const root = await mkdtemp(path.join(tmpdir(), 'dovecot-'));
  await chmod(root, 0o755); // the login processes run as dovenull
  const isRoot = process.getuid?.() === 0;
  const user = isRoot ? 'nobody' : userInfo().username;
  const group = isRoot ? 'nogroup' : execFileSync('id', ['-gn'], { encoding: 'utf8' }).trim();
  for (const d of ['run', 'state', 'mail', 'home']) await mkdir(path.join(root, d));
  if (isRoot) {
    const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }));
    const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }));
    for (const d of ['mail', 'home']) await chown(path.join(root, d), uid, gid);
  }
  const port = await freePort();
  const pop3Port = opts.pop3 ? await freePort() : undefined;
  const conf = path.join(root, 'dovecot.conf');
  const log = path.join(root, 'dovecot.log');
  await writeFile(
    conf,
    [
      `base_dir = ${root}/run`,
      `state_dir = ${root}/state`,
      `log_path = ${log}`,
      `protocols = imap${pop3Port ? ' pop3' : ''}`,
      'listen = 127.0.0.1',
      'ssl = no',
      'disable_plaintext_auth = no',
      `mail_location = maildir:${root}/mail/%u`,
      'first_valid_uid = 0',
      'first_valid_gid = 0',
      `mail_uid = ${user}`,
      `mail_gid = ${group}`,
      'auth_mechanisms = plain login',
      `passdb {\n  driver = static\n  args = password=${password}\n}`,
      `userdb {\n  driver = static\n  args = uid=${user} gid=${group} home=${root}/home/%u\n}`,
      `service imap-login {\n  inet_listener imap {\n    address = 127.0.0.1\n    port = ${port}\n  }\n  inet_listener imaps {\n    port = 0\n  }\n}`,
      'namespace inbox {\n  inbox = yes\n  separator = /\n}',
      'protocol imap {\n  mail_max_userip_connections = 200\n}',
      ...(pop3Port
        ? [`service pop3-login {\n  inet_listener pop3 {\n    address = 127.0.0.1\n    port = ${pop3Port}\n  }\n  inet_listener pop3s {\n    port = 0\n  }\n}`, 'protocol pop3 {\n  mail_max_userip_connections = 200\n}']
        : []),
      '',
    ].join('\n'),
  );
  const proc = spawn(DOVECOT, ['-F', '-c', conf], { stdio: 'ignore' });
  try {
    await waitListening(port, 10_000, log);
    if (pop3Port) await waitListening(pop3Port, 10_000, log);
  } catch (e) {
    proc.kill('SIGKILL');
    throw e;
  }
  return {
    port,
    pop3Port,
    pid: proc.pid!,
    root,
    password,
    async close() {
      if (proc.exitCode === null && proc.signalCode === null) {
        await new Promise<void>((r) => {
          proc.once('exit', () => r());
          proc.kill('SIGTERM');
        });
      }
      await rm(root, { recursive: true, force: true });
    },
  };
}
