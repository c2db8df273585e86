// fetchmail (Debian) downloads and deletes a mailbox of a few hundred messages over
// POP3; every message it hands on must be byte-identical to what was delivered.
//
// fetchmail options that keep the bytes as they were (documented in its manual):
// - `set invisible`: no "Received:" header of its own at the top of each message;
// - `no stripcr`: keep CRLF line ends (with an MDA it strips CRs by default);
// - `no rewrite`: leave header addresses alone; `no mimedecode`: leave the body alone;
// - `nokeep` + `fetchall`: download everything and delete it on the server.
// With these it adds nothing, so the comparison is on the whole message, headers and all.
//
// It hands the messages on in one of two ways: to an MDA, a program per message (the
// 20-message run), or appended to one BSMTP file (the 300-message run: a process per
// message was most of that test's time, and what is tested is the POP3 side).
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPop3Env, type Pop3Env } from './env.js';
import { needs, peer } from '../helpers/peers.js';
import { openSnapshot } from '../../src/store/types.js';

const run = promisify(execFile);

/** A varied corpus: plain, dot-stuffing bait, long lines, an attachment-sized one. */
function corpus(n: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const body: string[] = [];
    const lines = 3 + ((i * 7) % 40);
    for (let k = 0; k < lines; k++) {
      if ((i + k) % 11 === 0) body.push('.');
      else if ((i + k) % 13 === 0) body.push(`.starts with a dot ${k}`);
      else if ((i + k) % 17 === 0) body.push('..two dots');
      else body.push(`line ${k} of message ${i} ${'abcdefghij'.repeat((i + k) % 9)}`);
    }
    if (i % 50 === 7) for (let k = 0; k < 2000; k++) body.push(Buffer.from(`chunk ${i}/${k}`).toString('base64').repeat(4));
    const msg =
      `Return-Path: <sender${i}@example.org>\r\n` +
      `From: Sender ${i} <sender${i}@example.org>\r\n` +
      `To: fetch@example.test\r\n` +
      `Subject: corpus message ${i}\r\n` +
      `Message-ID: <corpus-${i}@example.org>\r\n` +
      `Date: Sun, 22 Nov 2026 06:00:00 +0000\r\n` +
      `\r\n` +
      body.join('\r\n') +
      '\r\n';
    out.push(Buffer.from(msg));
  }
  return out;
}

/**
 * The MDA: fetchmail runs it with `sh -c` once per message, the message on stdin. One
 * file per message, named by the shell's pid (unique among the runs of one test); `exec`
 * makes cat that process. Two programs a message, not four (a script of its own and
 * mktemp were 40 % of a 300-message run's time at load 10).
 */
const mda = (out: string): string => `exec cat > ${out}/msg.$$`;

/**
 * fetchmail's own limit for one run, below the test's timeout: a run that overruns is
 * killed by us, not left behind by vitest. Each run has its own FETCHMAILHOME and lock
 * file (--pidfile): as root, fetchmail's default lock is one file for the whole machine
 * (/var/run/fetchmail.pid), so a run left behind by one test (or by another test run on
 * the same machine) made the next fail with "another foreground fetchmail is running".
 */
const RUN_MS = 150_000;

/**
 * The messages of a BSMTP file as fetchmail writes it: per message `MAIL FROM:<…>`,
 * `RCPT TO:<…>` lines, `DATA`, the message dot-stuffed (RFC 5321 §4.5.2), `.`, all
 * CRLF. Anything else in the file fails the test. fetchmail moves a message's
 * Return-Path header into MAIL FROM (the final delivery adds it back, RFC 5321 §4.4);
 * every corpus message starts with one, so it is put back at the top here.
 */
function bsmtpMessages(file: Buffer): Buffer[] {
  const text = file.toString('latin1');
  const out: Buffer[] = [];
  let at = 0;
  const line = (): string => {
    const end = text.indexOf('\r\n', at);
    if (end < 0) throw new Error(`BSMTP: no CRLF after offset ${at}`);
    const l = text.slice(at, end);
    at = end + 2;
    return l;
  };
  while (at < text.length) {
    const from = /^MAIL FROM:<([^>]*)>$/.exec(line());
    expect(from, `BSMTP: no MAIL FROM at offset ${at}`).not.toBeNull();
    let l = line();
    expect(l).toMatch(/^RCPT TO:<[^>]+>$/);
    while ((l = line()) !== 'DATA') expect(l).toMatch(/^RCPT TO:<[^>]+>$/);
    const body = [`Return-Path: <${from![1]}>`];
    while ((l = line()) !== '.') body.push(l.startsWith('.') ? l.slice(1) : l);
    out.push(Buffer.from(body.map((b) => `${b}\r\n`).join(''), 'latin1'));
  }
  return out;
}

describe('fetchmail', needs('fetchmail'), () => {
  let env: Pop3Env;
  let dir: string;
  let runs = 0;
  beforeAll(async () => {
    env = await startPop3Env({ store: 'memory' });
    dir = await mkdtemp(path.join(tmpdir(), 'pop3-fetchmail-'));
  });
  afterAll(async () => {
    await env?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** `out`: a directory for the MDA's files, or a `.bsmtp` file fetchmail appends to. */
  async function fetch(mode: 'pop3' | 'pop3s', user: string, pass: string, out: string): Promise<string> {
    const bsmtp = out.endsWith('.bsmtp');
    if (!bsmtp) await mkdir(out, { recursive: true });
    const home = path.join(dir, `home-${++runs}`);
    await mkdir(home, { mode: 0o700 });
    const rc = path.join(home, 'fetchmailrc');
    const port = mode === 'pop3s' ? env.pop3s : env.pop3;
    // pop3s: TLS without certificate checks (self-signed); pop3: plaintext on loopback,
    // no opportunistic STLS (sslproto '').
    const tls = mode === 'pop3s' ? 'ssl no sslcertck' : "sslproto ''";
    await writeFile(
      rc,
      `set no syslog
set no bouncemail
set invisible
poll ${env.host} service ${port} protocol pop3 auth password timeout 60
  user "${user}" there with password "${pass}" is "fetcher" here
  options ${tls} nokeep fetchall no stripcr no rewrite no mimedecode
  ${bsmtp ? `bsmtp ${out}` : `mda "${mda(out)}"`}
`,
    );
    await chmod(rc, 0o600); // fetchmail refuses a run control file others can read
    const { stdout, stderr } = await run(peer('fetchmail'), ['-f', rc, '--pidfile', path.join(home, 'fetchmail.pid'), '-N', '-d0', '-v', '--nosyslog'], {
      timeout: RUN_MS,
      env: { ...process.env, FETCHMAILHOME: home, HOME: home },
      maxBuffer: 20 * 1024 * 1024,
    });
    return stdout + stderr;
  }

  /** The messages fetchmail handed on, by Message-ID: the MDA's files, or the BSMTP file's transactions. */
  async function collected(out: string): Promise<Map<string, Buffer>> {
    const got = new Map<string, Buffer>();
    const add = (data: Buffer, name: string) => got.set(/Message-ID: <([^>]+)>/.exec(data.toString('latin1'))?.[1] ?? name, data);
    if (out.endsWith('.bsmtp')) bsmtpMessages(await readFile(out)).forEach((m, i) => add(m, `bsmtp ${i}`));
    else for (const f of await readdir(out)) add(await readFile(path.join(out, f)), f);
    return got;
  }

  it('downloads and deletes 300 messages over pop3s, byte-identical', { timeout: RUN_MS + 60_000 }, async () => {
    const { user, pass } = await env.newAccount();
    const msgs = corpus(300);
    for (const m of msgs) await env.deliver(m, user);
    const out = path.join(dir, 'out-300.bsmtp');
    const log = await fetch('pop3s', user, pass, out);
    expect(log).toMatch(/300 messages for/);
    const got = await collected(out);
    expect(got.size).toBe(300);
    msgs.forEach((m, i) => {
      const g = got.get(`corpus-${i}@example.org`);
      expect(g, `message ${i}`).toBeDefined();
      expect(g!.equals(m), `message ${i} differs`).toBe(true);
    });
    // nokeep: all gone from the server after fetchmail's QUIT.
    expect((await openSnapshot(env.t.ctx.store, user, 'INBOX')).messages).toHaveLength(0);
  });

  it('plain pop3 on loopback works too (and a second run finds nothing)', { timeout: 2 * RUN_MS + 30_000 }, async () => {
    const { user, pass } = await env.newAccount();
    const msgs = corpus(20);
    for (const m of msgs) await env.deliver(m, user);
    const out = path.join(dir, 'out-plain');
    await fetch('pop3', user, pass, out);
    const got = await collected(out);
    expect(got.size).toBe(20);
    msgs.forEach((m, i) => expect(got.get(`corpus-${i}@example.org`)?.equals(m), `message ${i}`).toBe(true));
    const again = await fetch('pop3', user, pass, path.join(dir, 'out-plain-2')).catch((e: { stdout?: string; stderr?: string; code?: number }) => {
      // fetchmail exits 1 when there was no mail.
      expect(e.code).toBe(1);
      return `${e.stdout ?? ''}${e.stderr ?? ''}`;
    });
    expect(again).toMatch(/No mail/i);
  });
});
