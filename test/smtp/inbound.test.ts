// Port 25 over real sockets: nodemailer, python3 smtplib, swaks and a raw line client
// deliver to the running server; files are checked in the Maildir on disk.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SmtpTestClient } from '../helpers/smtp-client.js';
import { startTestServer, type TestServer } from '../helpers/servers.js';
import { needs, peer } from '../helpers/peers.js';

const run = promisify(execFile);

let t: TestServer;

function inboxFiles(address: string, folder = ''): string[] {
  const [local, domain] = address.split('@') as [string, string];
  const base = path.join(t.dataRoot, 'maildir', domain, local, folder);
  const out: string[] = [];
  for (const sub of ['new', 'cur']) {
    const dir = path.join(base, sub);
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)) out.push(path.join(dir, f));
  }
  return out;
}

function contents(address: string): string[] {
  return inboxFiles(address).map((f) => readFileSync(f, 'utf8'));
}

async function waitFor(fn: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function transport(opts: Record<string, unknown> = {}) {
  return nodemailer.createTransport({
    host: '127.0.0.1',
    port: t.port('smtp'),
    secure: false,
    ignoreTLS: true,
    tls: { rejectUnauthorized: false },
    ...opts,
  });
}

beforeAll(async () => {
  t = await startTestServer({
    configure: (c) => {
      // SPF/DKIM/DMARC have their own tests (test/msgauth); these test the foundation.
      c.checks.enabled = false;
      c.limits.maxMessageSize = 200_000;
      c.limits.maxRecipients = 5;
      c.limits.maxConnectionsPerIp = 8;
    },
  });
  await t.addAccount('alice@example.test');
  await t.addAccount('bob@example.test');
  await t.addAccount('carol@other-local.test');
  t.accounts.addAlias('team@example.test', ['alice@example.test', 'bob@example.test']);
  t.accounts.addAlias('@other-local.test', ['carol@other-local.test']);
});

afterAll(async () => {
  await t?.close();
});

describe('port 25 delivery', () => {
  it('nodemailer delivers into the Maildir with Return-Path and Received added', async () => {
    const info = await transport().sendMail({
      from: 'sender@remote.example',
      to: 'alice@example.test',
      subject: 'hello from nodemailer',
      text: 'first message',
    });
    expect(info.accepted).toEqual(['alice@example.test']);
    expect(info.response).toMatch(/^250 2\.\d\.\d Ok: queued as \w+/);
    const files = contents('alice@example.test');
    const msg = files.find((c) => c.includes('hello from nodemailer'));
    expect(msg).toBeDefined();
    expect(msg!.startsWith('Return-Path: <sender@remote.example>\r\n')).toBe(true);
    expect(msg).toMatch(/^Received: from \S+ \(\[127\.0\.0\.1\]\)\r\n\tby mail\.example\.test with ESMTP id \w+\r\n\tfor <alice@example\.test>;/m);
    expect(msg).toContain('first message');
    // Local mailboxes only, in memory: written once into the Maildir, no spool file, and
    // nothing left in either tmp/.
    const [local, domain] = ['alice', 'example.test'];
    expect(readdirSync(path.join(t.dataRoot, 'maildir', domain, local, 'tmp'))).toEqual([]);
    const spoolTmp = path.join(t.dataRoot, 'spool', 'tmp');
    expect(existsSync(spoolTmp) ? readdirSync(spoolTmp) : []).toEqual([]);
    expect(statSync(inboxFiles('alice@example.test').find((f) => readFileSync(f, 'utf8').includes('hello from nodemailer'))!).nlink).toBe(1);
  });

  it('python3 smtplib delivers, with STARTTLS', needs('python3'), async () => {
    const script = `
import smtplib, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=10)
s.ehlo('py.example.net'); s.starttls(context=ctx); s.ehlo('py.example.net')
s.sendmail('py@remote.example', ['bob@example.test'], b'From: py@remote.example\\r\\nTo: bob@example.test\\r\\nSubject: from python\\r\\n\\r\\nbody over tls\\r\\n')
s.quit()
`;
    await run(peer('python3'), ['-c', script, String(t.port('smtp'))]);
    const msg = contents('bob@example.test').find((c) => c.includes('from python'));
    expect(msg).toBeDefined();
    expect(msg).toMatch(/with ESMTPS id/);
    expect(msg).toMatch(/\(using TLSv1\.[23] with cipher /);
  });

  it('swaks delivers', needs('swaks'), async () => {
    const { stdout } = await run(peer('swaks'), ['--server', '127.0.0.1', '--port', String(t.port('smtp')), '--from', 'swaks@remote.example', '--to', 'alice@example.test', '--header', 'Subject: swaks test', '--body', 'via swaks', '--helo', 'swaks.example.net']);
    expect(stdout).toMatch(/<- {2}250 2\.\d\.\d Ok: queued as/);
    expect(contents('alice@example.test').some((c) => c.includes('Subject: swaks test'))).toBe(true);
  });

  it('an alias to two accounts plus one member directly is delivered once per mailbox, hard-linked', async () => {
    const before = inboxFiles('alice@example.test').length;
    await transport().sendMail({ envelope: { from: 'x@remote.example', to: ['team@example.test', 'alice@example.test', 'Alice@EXAMPLE.test'] }, raw: 'Subject: team\r\n\r\nto the team\r\n' });
    expect(inboxFiles('alice@example.test').length).toBe(before + 1);
    const a = inboxFiles('alice@example.test').find((f) => readFileSync(f, 'utf8').includes('to the team'))!;
    const b = inboxFiles('bob@example.test').find((f) => readFileSync(f, 'utf8').includes('to the team'))!;
    expect(a).toBeDefined();
    expect(b).toBeDefined();
    expect(statSync(a).ino).toBe(statSync(b).ino);
    // More than one recipient: the Received header names none of them.
    expect(readFileSync(a, 'utf8')).not.toMatch(/\tfor </);
  });

  it('plus-addressing and catch-all deliver to the base account', async () => {
    await transport().sendMail({ envelope: { from: 'x@remote.example', to: ['alice+lists@example.test'] }, raw: 'Subject: plus\r\n\r\nplus\r\n' });
    await transport().sendMail({ envelope: { from: 'x@remote.example', to: ['anything@other-local.test'] }, raw: 'Subject: catchall\r\n\r\ncatch\r\n' });
    expect(contents('alice@example.test').some((c) => c.includes('Subject: plus'))).toBe(true);
    expect(contents('carol@other-local.test').some((c) => c.includes('Subject: catchall'))).toBe(true);
  });

  it('8-bit and SMTPUTF8 mail is accepted', async () => {
    const c = await SmtpTestClient.connect(t.port('smtp'));
    const ehlo = await c.hello();
    for (const ext of ['PIPELINING', '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES', 'STARTTLS', 'SIZE 200000']) expect(ehlo.text).toContain(ext);
    expect(ehlo.text).not.toContain('AUTH');
    expect((await c.cmd('MAIL FROM:<jörg@remote.example> SMTPUTF8 BODY=8BITMIME')).code).toBe(250);
    expect((await c.cmd('RCPT TO:<bob@example.test>')).code).toBe(250);
    expect((await c.cmd('DATA')).code).toBe(354);
    const r = await c.cmd('Subject: Grüße\r\n\r\nÜmlaut body\r\n.');
    expect(r.code).toBe(250);
    await c.cmd('QUIT');
    expect(contents('bob@example.test').some((m) => m.includes('Ümlaut body') && m.includes('UTF8SMTP'))).toBe(true);
  });
});

describe('port 25 refusals', () => {
  async function rcpt(address: string) {
    const c = await SmtpTestClient.connect(t.port('smtp'));
    await c.hello();
    await c.cmd('MAIL FROM:<someone@remote.example>');
    const r = await c.cmd(`RCPT TO:<${address}>`);
    c.close();
    return r;
  }

  it('unknown user in a local domain: 550 5.1.1', async () => {
    const r = await rcpt('nobody@example.test');
    expect(r.code).toBe(550);
    expect(r.text).toMatch(/^550 5\.1\.1 /);
  });

  it.each([
    ['a foreign domain', 'user@other.test'],
    ['the percent hack', 'user%other.test@example.test'],
    ['a bang path', 'other.test!user@example.test'],
    ['an IP literal', 'alice@[127.0.0.1]'],
  ])('relaying to %s: 554 5.7.1 (RFC 5321 §3.6.2)', async (_what, address) => {
    const r = await rcpt(address);
    expect(r.code).toBe(554);
    expect(r.text).toMatch(/^554 5\.7\.1 /);
  });

  it('a source route is refused and never relayed', async () => {
    const r = await rcpt('@relay.other.test:user@other.test');
    expect(r.code).toBeGreaterThanOrEqual(500);
    expect(r.code).not.toBe(250);
  });

  it('SIZE= larger than the limit is refused at MAIL (RFC 1870)', async () => {
    const c = await SmtpTestClient.connect(t.port('smtp'));
    await c.hello();
    const r = await c.cmd('MAIL FROM:<a@remote.example> SIZE=300000');
    expect(r.code).toBe(552);
    c.close();
  });

  it('an oversize message is refused with 552 5.3.4 and nothing is stored', async () => {
    const before = inboxFiles('alice@example.test').length;
    const big = 'x'.repeat(998) + '\r\n';
    const body = 'Subject: big\r\n\r\n' + big.repeat(250);
    const err = await transport()
      .sendMail({ envelope: { from: 'a@remote.example', to: ['alice@example.test'] }, raw: body })
      .then(() => undefined, (e: { responseCode?: number; response?: string }) => e);
    expect(err?.responseCode).toBe(552);
    expect(err?.response).toMatch(/^552 5\.3\.4 /);
    expect(inboxFiles('alice@example.test').length).toBe(before);
  });

  it('recipients beyond the limit: 452 4.5.3', async () => {
    const c = await SmtpTestClient.connect(t.port('smtp'));
    await c.hello();
    await c.cmd('MAIL FROM:<a@remote.example>');
    for (let i = 0; i < 5; i++) expect((await c.cmd(`RCPT TO:<alice+${i}@example.test>`)).code).toBe(250);
    const r = await c.cmd('RCPT TO:<alice+6@example.test>');
    expect(r.code).toBe(452);
    expect(r.text).toMatch(/^452 4\.5\.3 /);
    c.close();
  });

  it('a client cut off mid-DATA leaves nothing behind', async () => {
    const before = inboxFiles('alice@example.test').length;
    const c = await SmtpTestClient.connect(t.port('smtp'));
    await c.hello();
    await c.cmd('MAIL FROM:<a@remote.example>');
    await c.cmd('RCPT TO:<alice@example.test>');
    expect((await c.cmd('DATA')).code).toBe(354);
    c.write('Subject: cut off\r\n\r\n' + 'partial line\r\n'.repeat(1000));
    await new Promise((r) => setTimeout(r, 100));
    c.close();
    await new Promise((r) => setTimeout(r, 300));
    expect(inboxFiles('alice@example.test').length).toBe(before);
    expect(contents('alice@example.test').some((m) => m.includes('cut off'))).toBe(false);
    const spoolTmp = path.join(t.dataRoot, 'spool', 'tmp');
    await waitFor(() => !existsSync(spoolTmp) || readdirSync(spoolTmp).length === 0);
  });

  it('a big message cut off mid-DATA (spilled to disk) leaves nothing behind', async () => {
    const c = await SmtpTestClient.connect(t.port('smtp'));
    await c.hello();
    await c.cmd('MAIL FROM:<a@remote.example>');
    await c.cmd('RCPT TO:<bob@example.test>');
    await c.cmd('DATA');
    // Larger than the in-memory threshold? The limit here is 200 kB, so stay below it.
    c.write('Subject: cut off big\r\n\r\n' + ('y'.repeat(900) + '\r\n').repeat(190));
    await new Promise((r) => setTimeout(r, 100));
    c.close();
    await new Promise((r) => setTimeout(r, 300));
    expect(contents('bob@example.test').some((m) => m.includes('cut off big'))).toBe(false);
  });

  it('limits connections per client address (421)', async () => {
    const clients: SmtpTestClient[] = [];
    for (let i = 0; i < 8; i++) {
      const c = await SmtpTestClient.connect(t.port('smtp'));
      expect((await c.reply()).code).toBe(220);
      clients.push(c);
    }
    const extra = await SmtpTestClient.connect(t.port('smtp'));
    const r = await extra.reply();
    expect(r.code).toBe(421);
    extra.close();
    for (const c of clients) c.close();
    // The slots come back once those connections are gone.
    await new Promise((r) => setTimeout(r, 200));
    const again = await SmtpTestClient.connect(t.port('smtp'));
    expect((await again.reply()).code).toBe(220);
    again.close();
  });

  it('garbage commands get errors, and the connection survives until the limit', async () => {
    const c = await SmtpTestClient.connect(t.port('smtp'));
    await c.hello();
    const r = await c.cmd('FOOBAR baz');
    expect(r.code).toBeGreaterThanOrEqual(500);
    expect((await c.cmd('NOOP')).code).toBe(250);
    expect((await c.cmd('AUTH PLAIN AGFsaWNlAHNlY3JldA==')).code).toBeGreaterThanOrEqual(500);
    c.close();
  });
});
