// ManageSieve with a real client: Debian's Net::ManageSieve (libnet-managesieve-perl,
// with libio-socket-ssl-perl for STARTTLS) uploads a script, activates it and reads it
// back over TLS, and sees a broken script refused with the compiler's message; then mail
// on port 25 lands in the folder the script names.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/servers.js';

const run = promisify(execFile);
const CLIENT = path.join(import.meta.dirname, 'net-managesieve.pl');

const perlHas = (module: string) => spawnSync('/usr/bin/perl', [`-M${module}`, '-e1'], { stdio: 'ignore' }).status === 0;
const missing = ['Net::ManageSieve', 'IO::Socket::SSL'].filter((m) => !existsSync('/usr/bin/perl') || !perlHas(m));
if (missing.length) console.log(`ManageSieve client test skipped: install Debian packages libnet-managesieve-perl libio-socket-ssl-perl (missing ${missing.join(', ')})`);

const USER = 'carol@example.test';
const PASS = 'correct horse battery';
let t: TestServer;
let dir: string;

beforeAll(async () => {
  t = await startTestServer({
    configure(c) {
      c.auth.allowPlaintextOnLoopback = false;
      c.checks.enabled = false;
    },
  });
  await t.addAccount(USER, PASS);
  dir = mkdtempSync(path.join(tmpdir(), 'managesieve-client-'));
});
afterAll(async () => {
  await t?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(missing.length > 0)('Net::ManageSieve against our ManageSieve', () => {
  it('uploads, activates and reads back over STARTTLS, a broken script is refused; mail then lands in the named folder', async () => {
    const good = 'require ["fileinto", "mailbox"];\r\nif header :contains "subject" "[acme]" {\r\n  fileinto :create "Lists/Acme";\r\n}\r\n';
    const broken = 'require "fileinto";\r\nif header :contains "subject" {\r\n  fileinto "x";\r\n}\r\n';
    writeFileSync(path.join(dir, 'good.sieve'), good);
    writeFileSync(path.join(dir, 'broken.sieve'), broken);
    const { stdout } = await run('/usr/bin/perl', [CLIENT, String(t.port('managesieve')), USER, PASS, path.join(dir, 'good.sieve'), path.join(dir, 'broken.sieve')], { timeout: 60_000 });
    const lines = stdout.split('\n').filter(Boolean);
    expect(lines.filter((l) => !l.startsWith('broken'))).toEqual(['before-tls starttls=1', 'encrypted 1', 'sasl PLAIN', 'login ok', 'scripts filters active=filters', 'readback same', 'done']);
    // The client shows our NO with the compiler's position and reason.
    expect(lines.find((l) => l.startsWith('broken'))).toMatch(/^broken refused: .*NO.*line 2, column 4: the header test requires 2 positional argument\(s\), but 1 were given/);

    await nodemailer
      .createTransport({ host: '127.0.0.1', port: t.port('smtp'), secure: false, ignoreTLS: true })
      .sendMail({ from: 'coyote@desert.example', to: USER, subject: '[acme] new anvils', text: 'In stock.' });
    const cur = path.join(t.dataRoot, 'maildir', 'example.test', 'carol', '.Lists.Acme');
    const files = ['new', 'cur'].flatMap((s) => (existsSync(path.join(cur, s)) ? readdirSync(path.join(cur, s)).map((f) => path.join(cur, s, f)) : []));
    expect(files).toHaveLength(1);
    expect(readFileSync(files[0]!, 'utf8')).toContain('Subject: [acme] new anvils');
  });
});
