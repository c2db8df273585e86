// What smtp-server is adapted for (src/smtp/server.ts), on the real listeners:
// - every refusal of our hooks keeps its own enhanced status code (RFC 3463, RFC 2034):
//   one code per reply, never smtp-server's table code for the basic code in front of it,
//   and smtp-server's own replies keep theirs;
// - submission offers AUTH per connection (RFC 8314 §3, RFC 4954 §4): not before TLS
//   (530 5.7.0, RFC 3207 §4, even pipelined right behind EHLO), after STARTTLS yes, and
//   without TLS from loopback only when `auth.allow_plaintext_on_loopback` is on.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SmtpTestClient } from '../helpers/smtp-client.js';
import { startTestServer, type TestServer } from '../helpers/servers.js';
import { needs, peer } from '../helpers/peers.js';

const run = promisify(execFile);
const PASSWORD = 'secret-password';
const plain = (user: string, pass: string) => Buffer.from(`\0${user}\0${pass}`).toString('base64');
/** A reply line with two enhanced codes ("554 5.6.0 5.7.1 ..."): the bug this guards. */
const TWO_CODES = /^\d{3}[ -][245]\.\d{1,3}\.\d{1,3} [245]\.\d{1,3}\.\d{1,3} /;

let tlsOnly: TestServer;
let loopback: TestServer;

beforeAll(async () => {
  tlsOnly = await startTestServer({
    configure: (c) => {
      c.checks.enabled = false;
      c.limits.maxRecipients = 2;
      c.auth.allowPlaintextOnLoopback = false;
    },
  });
  await tlsOnly.addAccount('alice@example.test', PASSWORD);
  loopback = await startTestServer({ configure: (c) => (c.auth.allowPlaintextOnLoopback = true) });
  await loopback.addAccount('lou@example.test', PASSWORD);
});

afterAll(async () => {
  await tlsOnly?.close();
  await loopback?.close();
});

describe('enhanced status codes in replies (port 25)', () => {
  it('each refusal carries its own code once; smtp-server replies keep theirs', async () => {
    const c = await SmtpTestClient.connect(tlsOnly.port('smtp'));
    const seen: string[] = [];
    const cmd = async (line: string) => {
      const r = await c.cmd(line);
      seen.push(...r.lines);
      return r.text;
    };
    try {
      const ehlo = await c.hello();
      expect(ehlo.lines).toContain('250-ENHANCEDSTATUSCODES');
      expect(await cmd('RCPT TO:<alice@example.test>')).toBe('503 5.5.1 Error: need MAIL command');
      expect(await cmd('MAIL FROM:<bad address@remote.example>')).toMatch(/^501 5\.\d\.\d /);
      expect(await cmd('MAIL FROM:<sender@remote.example>')).toBe('250 2.1.0 Accepted');
      expect(await cmd('RCPT TO:<user@other.test>')).toBe('554 5.7.1 Relay access denied');
      expect(await cmd('RCPT TO:<nobody@example.test>')).toBe('550 5.1.1 <nobody@example.test>: Recipient address rejected: no such user here');
      expect(await cmd('RCPT TO:<alice@example.test>')).toBe('250 2.1.5 Accepted');
      expect(await cmd('RSET')).toMatch(/^250 2\.0\.0 /);
      expect(await cmd('NOSUCH')).toMatch(/^500 5\.5\.2 /);
      expect(await cmd('QUIT')).toMatch(/^221 2\.0\.0 /);
    } finally {
      c.close();
    }
    expect(seen.filter((l) => TWO_CODES.test(l))).toEqual([]);
  });

  it('a refusal at connect (421 4.7.0) keeps its code too', async () => {
    const max = tlsOnly.config.limits.maxConnectionsPerIp;
    const held = await Promise.all(Array.from({ length: max }, async () => {
      const c = await SmtpTestClient.connect(tlsOnly.port('smtp'));
      await c.reply();
      return c;
    }));
    try {
      const extra = await SmtpTestClient.connect(tlsOnly.port('smtp'));
      expect((await extra.reply()).text).toBe('421 4.7.0 Too many connections from your address, try again later');
      extra.close();
    } finally {
      for (const c of held) c.close();
    }
  });
});

describe('AUTH per connection (submission)', () => {
  it('without TLS and without the loopback exception: not offered, refused before any credentials, 530 for mail', async () => {
    const c = await SmtpTestClient.connect(tlsOnly.port('submission'));
    try {
      const ehlo = await c.hello();
      expect(ehlo.lines).toContain('250-STARTTLS');
      expect(ehlo.lines.filter((l) => /AUTH/.test(l))).toEqual([]);
      expect((await c.cmd('AUTH PLAIN')).text).toBe('530 5.7.0 Must issue a STARTTLS command first');
      expect((await c.cmd(`AUTH PLAIN ${plain('alice@example.test', PASSWORD)}`)).text).toBe('530 5.7.0 Must issue a STARTTLS command first');
      expect((await c.cmd('MAIL FROM:<alice@example.test>')).text).toBe('530 5.7.0 Authentication required');
      expect((await c.cmd('RCPT TO:<alice@example.test>')).text).toBe('530 5.7.0 Authentication required');
      // Pipelined right behind EHLO (RFC 2920): the command after EHLO is judged as its own.
      c.write(`EHLO again.example.net\r\nAUTH PLAIN ${plain('alice@example.test', PASSWORD)}\r\n`);
      const again = await c.reply();
      expect(again.lines.filter((l) => /AUTH/.test(l))).toEqual([]);
      expect((await c.reply()).text).toBe('530 5.7.0 Must issue a STARTTLS command first');
    } finally {
      c.close();
    }
  });

  it('after STARTTLS: offered and accepted (python3 smtplib, which logs in only when AUTH is offered)', needs('python3'), async () => {
    const script = `
import smtplib, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=10)
s.ehlo('py.example.net')
print('before', s.has_extn('auth'))
s.starttls(context=ctx); s.ehlo('py.example.net')
print('after', s.esmtp_features.get('auth', '').strip())
print(s.login('alice@example.test', sys.argv[2])[0])
s.quit()
`;
    const { stdout } = await run(peer('python3'), ['-c', script, String(tlsOnly.port('submission')), PASSWORD]);
    expect(stdout.split('\n')).toEqual(['before False', 'after PLAIN LOGIN', '235', '']);
  });

  it('without TLS from loopback with the exception on: offered and accepted', needs('python3'), async () => {
    const script = `
import smtplib, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=10)
s.ehlo('py.example.net')
print(s.esmtp_features.get('auth', '').strip())
print(s.login('lou@example.test', sys.argv[2])[0])
s.quit()
`;
    const { stdout } = await run(peer('python3'), ['-c', script, String(loopback.port('submission')), PASSWORD]);
    expect(stdout.split('\n')).toEqual(['PLAIN LOGIN', '235', '']);
  });
});
