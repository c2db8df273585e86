// Bare CR, bare LF and CR CR LF in message headers (RFC 5322 §2.2, RFC 5321 §4.1.1.4),
// against each of the three checks that read headers: the submission From-ownership
// rule, the port-25 check against spoofing our own domains, and the removal of forged
// Authentication-Results. A bare CR in the header is refused (554 5.6.0) before any
// check reads it; bare LF and CR CR LF are made CRLF, so each check sees the field a
// mail client sees, and no stored or queued copy carries a bare CR or LF.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { startTestServer, type TestServer } from '../helpers/servers.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';
import { LOCAL_DOMAIN, makeKeys, OUR_HOST, senderZone } from '../msgauth/fixtures.js';

const RCPT = `user@${LOCAL_DOMAIN}`;
const SENDER = `sender@${LOCAL_DOMAIN}`;
const PASSWORD = 'bare-cr-password';

/** The three forms, each placed where a line end separates two header fields. */
const FORMS = [
  ['bare CR', '\r'],
  ['bare LF', '\n'],
  ['CR CR LF', '\r\r\n'],
] as const;

let dns: TestDnsServer;
let t: TestServer;

beforeAll(async () => {
  dns = await startDnsServer(senderZone(makeKeys()));
  t = await startTestServer({
    configure: (c) => {
      c.hostname = OUR_HOST;
      c.dns.servers = dns.servers;
      c.checks.timeoutMs = 5000;
      c.auth.allowPlaintextOnLoopback = true;
      c.queue.mxPort = 9; // nobody listens there: queued mail stays queued (deferred)
    },
  });
  dns.set('remote.test', 'MX', [{ priority: 10, exchange: 'mx.remote.test' }]);
  dns.set('mx.remote.test', 'A', ['127.0.0.1']);
  await t.addAccount(RCPT);
  await t.addAccount(SENDER, PASSWORD);
});

afterAll(async () => {
  await t?.close();
  await dns?.close();
});

function stored(): string[] {
  const out: string[] = [];
  for (const sub of ['new', 'cur']) {
    const dir = path.join(t.dataRoot, 'maildir', LOCAL_DOMAIN, 'user', sub);
    if (existsSync(dir)) for (const f of readdirSync(dir)) out.push(readFileSync(path.join(dir, f), 'latin1'));
  }
  return out;
}

/** Whether `s` has a CR or LF that is not part of a CRLF. */
function hasBareLineEnd(s: string): boolean {
  return /\r(?!\n)|(?<!\r)\n/.test(s);
}

/** One transaction over a raw socket (so the bytes go out exactly as written); the DATA reply. */
async function send(listener: 'smtp' | 'submission', mailFrom: string, data: string, rcpts = [RCPT]): Promise<{ code: number; text: string }> {
  const c = await SmtpTestClient.connect(t.port(listener));
  try {
    await c.hello('client.sender.test');
    if (listener === 'submission') {
      const auth = await c.cmd(`AUTH PLAIN ${Buffer.from(`\0${SENDER}\0${PASSWORD}`).toString('base64')}`);
      expect(auth.code).toBe(235);
    }
    expect((await c.cmd(`MAIL FROM:<${mailFrom}>`)).code).toBe(250);
    for (const rcpt of rcpts) expect((await c.cmd(`RCPT TO:<${rcpt}>`)).code).toBe(250);
    expect((await c.cmd('DATA')).code).toBe(354);
    c.write(Buffer.from(data + '\r\n.\r\n', 'latin1'));
    const r = await c.reply();
    return { code: r.code, text: r.text };
  } finally {
    c.close();
  }
}

function msg(headers: string, body = 'hello\r\n'): string {
  return `${headers}Subject: bare line ends\r\nDate: Sun, 22 Nov 2026 06:00:00 +0000\r\nMessage-ID: <${Math.random().toString(36).slice(2)}@x.test>\r\n\r\n${body}`;
}

describe('submission: the From-ownership check (RFC 6409 §4.3) sees every From', () => {
  it.each(FORMS)('%s', async (name, eol) => {
    const before = stored().length;
    // A From the user does not own, behind the line end; an owned one after it.
    const r = await send('submission', SENDER, msg(`X-Note: hi${eol}From: ceo@bank.test\r\nFrom: <${SENDER}>\r\n`));
    if (name === 'bare CR') expect(r.text).toMatch(/^554 5\.6\.0 .*bare CR/);
    else expect(r.text).toMatch(/^553 5\.7\.1 From: header address <ceo@bank\.test> is not owned/);
    expect(stored().length).toBe(before);
  });
});

describe('port 25: the check against spoofing our own domains sees every From', () => {
  it.each(FORMS)('%s', async (name, eol) => {
    const before = stored().length;
    // SPF and DMARC pass for the visible From (dmarc-spf.test allows 127.0.0.1); a From in
    // our own domain hides behind the line end.
    const r = await send('smtp', 'x@dmarc-spf.test', msg(`From: <x@dmarc-spf.test>${eol}From: <boss@${LOCAL_DOMAIN}>\r\nTo: <${RCPT}>\r\n`));
    if (name === 'bare CR') expect(r.text).toMatch(/^554 5\.6\.0 .*bare CR/);
    else expect(r.code).toBe(550);
    expect(stored().length).toBe(before);
  });
});

describe('port 25: forged Authentication-Results are removed whatever the line ends (RFC 8601 §5)', () => {
  it.each(FORMS)('%s', async (name, eol) => {
    const before = stored().length;
    const forged = `Authentication-Results: ${OUR_HOST}; dkim=pass header.d=bank.test`;
    const r = await send('smtp', 'x@dmarc-spf.test', msg(`X-Note: hi${eol}${forged}\r\nFrom: <x@dmarc-spf.test>\r\nTo: <${RCPT}>\r\n`));
    if (name === 'bare CR') {
      expect(r.text).toMatch(/^554 5\.6\.0 .*bare CR/);
      expect(stored().length).toBe(before);
      return;
    }
    expect(r.code).toBe(250);
    const all = stored();
    expect(all.length).toBe(before + 1);
    const got = all.find((m) => m.includes('X-Note: hi'))!;
    expect(got).not.toContain('bank.test');
    expect(hasBareLineEnd(got)).toBe(false);
  });
});

describe('what is stored or queued never carries a bare CR or LF (RFC 5321 §4.1.1.4)', () => {
  it.each(FORMS)('%s in the body, submission: the stored and the queued copy', async (_name, eol) => {
    const marker = `X-Body-Test: ${JSON.stringify(eol)}`;
    const r = await send('submission', SENDER, msg(`From: <${SENDER}>\r\n${marker}\r\n`, `line one${eol}line two\r\n`), [RCPT, 'someone@remote.test']);
    expect(r.code).toBe(250);
    const queueDir = path.join(t.dataRoot, 'queue');
    const queued = readdirSync(queueDir).map((f) => readFileSync(path.join(queueDir, f), 'latin1'));
    for (const got of [stored().find((m) => m.includes(marker)), queued.find((m) => m.includes(marker))]) {
      expect(got).toContain('line one\r\nline two\r\n');
      expect(hasBareLineEnd(got!)).toBe(false);
    }
  });
});
