// Graceful lifecycle of the real `mailserver serve` process: SIGTERM in the middle of an
// SMTP DATA and an IMAP APPEND either completes and stores each message, or refuses it,
// never half-stores it; the process exits 0. Startup fails fast with one clear line when
// a port is taken or the data root is not writable.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, ROOT, run } from '../cli/run.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

interface Running {
  dir: string;
  child: ChildProcess;
  ports: Record<string, number>;
  output: () => string;
  exited: Promise<number | null>;
}

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function writeConfig(dir: string, ports: Record<string, number>, extra = '[checks]\nenabled = false\n'): void {
  mkdirSync(path.join(dir, 'config'), { recursive: true });
  const all = ['smtp', 'submission', 'submissions', 'imap', 'imaps', 'pop3', 'pop3s', 'http', 'https', 'managesieve'];
  writeFileSync(
    path.join(dir, 'config', 'mailserver.toml'),
    `hostname = "mail.example.test"\n[listen]\naddress = "127.0.0.1"\n${all.map((k) => `${k} = ${ports[k] ?? -1}`).join('\n')}\n` +
      `[auth]\nallow_plaintext_on_loopback = true\nfailure_delay_ms = 10\n${extra}[log]\nlevel = "info"\n`,
  );
}

async function startServe(extra?: string): Promise<Running> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mailserver-life-'));
  const ports = { smtp: await freePort(), imap: await freePort(), http: await freePort() };
  writeConfig(dir, ports, extra);
  expect((await run(['--data', dir, 'domain', 'add', 'example.test'])).code).toBe(0);
  expect((await run(['--data', dir, 'account', 'add', 'alice@example.test', '--password-stdin'], { input: 'pw-alice-1234\n' })).code).toBe(0);
  const child = spawn(process.execPath, [BIN, '--data', dir, 'serve'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  cleanups.push(() => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const deadline = Date.now() + 30_000;
  while (!out.includes('mail server started') && !out.includes('listening: imap')) {
    if (Date.now() > deadline) throw new Error(`server did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 200));
  return { dir, child, ports, output: () => out, exited };
}

function inbox(dir: string): string[] {
  const base = path.join(dir, 'maildir', 'example.test', 'alice');
  return ['new', 'cur'].flatMap((s) => (existsSync(path.join(base, s)) ? readdirSync(path.join(base, s)).map((f) => readFileSync(path.join(base, s, f), 'utf8')) : []));
}

/** A raw IMAP connection: send a line, collect output. */
async function imapConnect(port: number) {
  const sock = net.connect(port, '127.0.0.1');
  let buf = '';
  sock.setEncoding('utf8').on('data', (d: string) => (buf += d));
  sock.on('error', () => undefined);
  const closed = new Promise<void>((r) => sock.on('close', () => r()));
  const waitFor = async (re: RegExp, ms = 10_000) => {
    const end = Date.now() + ms;
    while (!re.test(buf)) {
      if (Date.now() > end) throw new Error(`timeout waiting for ${re}; have ${JSON.stringify(buf)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  await waitFor(/^\* OK/);
  return { sock, waitFor, closed, text: () => buf };
}

describe('graceful stop', () => {
  it('SIGTERM mid-DATA and mid-APPEND: each message stored whole or refused, exit 0', { timeout: 120_000 }, async () => {
    const s = await startServe();
    // SMTP: a transaction with half of its body sent.
    const smtp = await SmtpTestClient.connect(s.ports.smtp!);
    await smtp.hello();
    expect((await smtp.cmd('MAIL FROM:<bob@remote.example>')).code).toBe(250);
    expect((await smtp.cmd('RCPT TO:<alice@example.test>')).code).toBe(250);
    expect((await smtp.cmd('DATA')).code).toBe(354);
    smtp.write('Subject: during shutdown (smtp)\r\n\r\nfirst half\r\n');
    // IMAP: an APPEND with half of its literal sent.
    const imap = await imapConnect(s.ports.imap!);
    imap.sock.write('a1 LOGIN alice@example.test pw-alice-1234\r\n');
    await imap.waitFor(/a1 OK/);
    const msg = 'Subject: during shutdown (imap)\r\n\r\nfirst half\r\nsecond half\r\n';
    imap.sock.write(`a2 APPEND INBOX {${msg.length}}\r\n`);
    await imap.waitFor(/\+ /);
    imap.sock.write(msg.slice(0, 30));
    await new Promise((r) => setTimeout(r, 100));

    s.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    // Both clients finish their command while the server drains.
    smtp.write('second half\r\n.\r\n');
    imap.sock.write(msg.slice(30) + '\r\n');
    const smtpReply = await smtp.reply().catch(() => ({ code: 0, text: 'closed' }));
    await imap.waitFor(/a2 (OK|NO|BAD)|\* BYE/).catch(() => undefined);
    smtp.close();
    imap.sock.destroy();

    expect(await s.exited).toBe(0);
    const stored = inbox(s.dir);
    const smtpStored = stored.filter((m) => m.includes('during shutdown (smtp)'));
    const imapStored = stored.filter((m) => m.includes('during shutdown (imap)'));
    // Never half-stored: a stored message is the whole message.
    for (const m of [...smtpStored, ...imapStored]) expect(m).toContain('second half');
    expect(smtpStored.length).toBe(smtpReply.code === 250 ? 1 : 0);
    expect(imapStored.length).toBe(/a2 OK/.test(imap.text()) ? 1 : 0);
    // The SMTP transaction under way is allowed to finish.
    expect(smtpReply.code).toBe(250);
    expect(s.output()).toMatch(/SIGTERM: stopping/);
  });

  it('a taken port fails the start at once with one clear line', { timeout: 60_000 }, async () => {
    const blocker = net.createServer().listen(0, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    const taken = (blocker.address() as net.AddressInfo).port;
    cleanups.push(() => blocker.close());
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mailserver-life-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    writeConfig(dir, { smtp: taken });
    const r = await run(['--data', dir, 'serve']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n').pop()).toBe(`mailserver: error: smtp: port ${taken} on 127.0.0.1 is already in use`);
  });

  it('a data root that cannot be written fails the start with one clear line', { timeout: 60_000 }, async () => {
    // A path below a regular file: not creatable or writable even for root.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mailserver-life-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(path.join(dir, 'file'), '');
    const r = await run(['--data', path.join(dir, 'file', 'data'), 'serve']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n').pop()).toMatch(/^mailserver: error: data root .* is not writable/);
  });

  it('SIGHUP reloads the config: checks switched off apply to the next message; a bad file is refused', { timeout: 120_000 }, async () => {
    // Checks on, and a DNS server that never answers: SPF is a temporary error → 451.
    const dead = await freePort();
    const s = await startServe(`[checks]\nenabled = true\ntimeout_ms = 1000\n[dns]\nservers = ["127.0.0.1:${dead}"]\ntimeout_ms = 500\n`);
    const send = async () => {
      const c = await SmtpTestClient.connect(s.ports.smtp!);
      await c.hello();
      await c.cmd('MAIL FROM:<bob@remote.example>');
      await c.cmd('RCPT TO:<alice@example.test>');
      await c.cmd('DATA');
      const r = await c.cmd('Subject: reload\r\n\r\nbody\r\n.');
      c.close();
      return r.code;
    };
    expect(await send()).toBe(451);
    writeConfig(s.dir, s.ports, `[checks]\nenabled = false\n[dns]\nservers = ["127.0.0.1:${dead}"]\ntimeout_ms = 500\n`);
    s.child.kill('SIGHUP');
    const until = async (re: RegExp) => {
      const end = Date.now() + 10_000;
      while (!re.test(s.output())) {
        if (Date.now() > end) throw new Error(`no ${re} in ${s.output()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await until(/SIGHUP: config reloaded; applied: checks/);
    expect(await send()).toBe(250);
    // A broken file is refused and the running config kept.
    writeFileSync(path.join(s.dir, 'config', 'mailserver.toml'), '[listen]\nsmtp = "not a port"\n');
    s.child.kill('SIGHUP');
    await until(/SIGHUP: config not reloaded: .*listen\.smtp/);
    expect(await send()).toBe(250);
    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
  });

  it('doctor checks a running installation: listening ports, certificate, DNS; names what to fix', { timeout: 120_000 }, async () => {
    const s = await startServe();
    const ok = await run(['--data', s.dir, 'doctor', '--skip-outbound'], { env: { MAILSERVER_DNS_SERVERS: `127.0.0.1:${await freePort()}`, MAILSERVER_PROFILE: 'dev' } });
    // The ports of this config accept connections; the self-signed certificate and DNS are warnings.
    expect(ok.code).toBe(0);
    for (const name of ['smtp', 'imap', 'http']) expect(ok.stdout).toMatch(new RegExp(`^ok +${name} port ${s.ports[name]}$`, 'm'));
    expect(ok.stdout).toMatch(/^warn +certificate for .* self-signed/m);
    expect(ok.stdout).toMatch(/^warn +DNS records of example\.test: \d+ to fix/m);
    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    // Once stopped, every port is reported with what to do.
    const down = await run(['--data', s.dir, 'doctor', '--skip-outbound'], { env: { MAILSERVER_DNS_SERVERS: `127.0.0.1:${await freePort()}`, MAILSERVER_PROFILE: 'dev' } });
    expect(down.code).toBe(1);
    expect(down.stdout).toMatch(new RegExp(`^FAIL +smtp port ${s.ports.smtp}: nothing listens; is the server running`, 'm'));
    expect(down.stderr).toMatch(/mailserver: error: 3 problems found/);
  });
});
