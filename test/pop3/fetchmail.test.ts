// fetchmail (Debian) downloads and deletes a mailbox of a few hundred messages over
// POP3; every message it hands to its MDA must be byte-identical to what was delivered.
//
// fetchmail options that keep the bytes as they were (documented in its manual):
// - `set invisible`: no "Received:" header of its own at the top of each message;
// - `no stripcr`: keep CRLF line ends (with an MDA it strips CRs by default);
// - `no rewrite`: leave header addresses alone; `no mimedecode`: leave the body alone;
// - `nokeep` + `fetchall`: download everything and delete it on the server.
// With these it adds nothing, so the comparison is on the whole message, headers and all.
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
 * mktemp were 40 % of the 300-message run's time at load 10).
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

  async function fetch(mode: 'pop3' | 'pop3s', user: string, pass: string, out: string): Promise<string> {
    await mkdir(out, { recursive: true });
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
  mda "${mda(out)}"
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

  async function collected(out: string): Promise<Map<string, Buffer>> {
    const got = new Map<string, Buffer>();
    for (const f of await readdir(out)) {
      const data = await readFile(path.join(out, f));
      const id = /Message-ID: <([^>]+)>/.exec(data.toString('latin1'))?.[1] ?? f;
      got.set(id, data);
    }
    return got;
  }

  // 300 deliveries, then fetchmail starting its MDA (sh, mktemp, cat) once per message:
  // 30-48 s on this 2-core machine at load 15-25, over the default 30 s.
  it('downloads and deletes 300 messages over pop3s, byte-identical', { timeout: RUN_MS + 60_000 }, async () => {
    const { user, pass } = await env.newAccount();
    const msgs = corpus(300);
    for (const m of msgs) await env.deliver(m, user);
    const out = path.join(dir, 'out-300');
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
