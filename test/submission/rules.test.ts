// Submission rules on a real listener: AUTH only after TLS (RFC 3207, RFC 8314), no
// relaying without AUTH (RFC 4954 §6), sender ownership (RFC 6409 §4.3), per-account
// limits, and the headers the MSA adds (RFC 6409 §8).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SmtpTestClient } from '../helpers/smtp-client.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { PASSWORD, mailbox, startInstance, submitter, type Instance } from './harness.js';

let dns: TestDnsServer;
let a: Instance;
let lo: Instance;

const plain = (user: string, pass: string) => Buffer.from(`\0${user}\0${pass}`).toString('base64');

beforeAll(async () => {
  dns = await startDnsServer({});
  a = await startInstance({
    host: '127.0.0.2',
    domain: 'a.test',
    dns,
    accounts: ['alice@a.test', 'carol@a.test', 'dave@a.test', 'erin@a.test', 'frank@a.test'],
    configure(c) {
      c.auth.allowPlaintextOnLoopback = false;
      c.submission.maxRecipientsPerMessage = 2;
      c.submission.maxMessagesPerHour = 3;
    },
  });
  a.t.accounts.addAlias('sales@a.test', ['alice@a.test']);
  // The loopback exception, switched on (the development profile's default).
  lo = await startInstance({
    host: '127.0.0.6',
    domain: 'lo.test',
    dns,
    accounts: ['lou@lo.test', 'liz@lo.test'],
    configure(c) {
      c.auth.allowPlaintextOnLoopback = true;
    },
  });
});

afterAll(async () => {
  await a?.close();
  await lo?.close();
  await dns?.close();
});

describe('AUTH and TLS', () => {
  it('does not offer AUTH before STARTTLS, and refuses it with 530 5.7.0 (RFC 3207 §4)', async () => {
    const c = await SmtpTestClient.connect(a.submissionPort, a.host);
    try {
      const ehlo = await c.hello();
      expect(ehlo.code).toBe(250);
      expect(ehlo.lines.some((l) => /^250[- ]STARTTLS$/.test(l))).toBe(true);
      expect(ehlo.lines.some((l) => /AUTH/.test(l))).toBe(false);
      const auth = await c.cmd(`AUTH PLAIN ${plain('alice@a.test', PASSWORD)}`);
      expect(auth.text).toBe('530 5.7.0 Must issue a STARTTLS command first');
    } finally {
      c.close();
    }
  });

  it('refuses MAIL without AUTH: 530 5.7.0, no relaying (RFC 4954 §6)', async () => {
    const c = await SmtpTestClient.connect(a.submissionPort, a.host);
    try {
      await c.hello();
      const mail = await c.cmd('MAIL FROM:<alice@a.test>');
      expect(mail.code).toBe(530);
      expect(mail.text).toMatch(/^530 5\.7\.0 /);
      const rcpt = await c.cmd('RCPT TO:<someone@elsewhere.test>');
      expect(rcpt.code).toBe(530);
    } finally {
      c.close();
    }
  });

  it('refuses a wrong password with 535 5.7.8 over TLS', async () => {
    const err = await submitter(a, 'alice@a.test', { pass: 'wrong' })
      .sendMail({ from: 'alice@a.test', to: 'carol@a.test', subject: 'x', text: 'x' })
      .then(() => undefined, (e: { responseCode?: number; response?: string }) => e);
    expect(err?.responseCode).toBe(535);
    expect(err?.response).toMatch(/^535 5\.7\.8 /);
  });

  it('offers and accepts AUTH without TLS on loopback when configured', async () => {
    const c = await SmtpTestClient.connect(lo.submissionPort, lo.host);
    try {
      const ehlo = await c.hello();
      expect(ehlo.lines.some((l) => /AUTH PLAIN LOGIN/.test(l))).toBe(true);
      expect((await c.cmd(`AUTH PLAIN ${plain('lou@lo.test', PASSWORD)}`)).code).toBe(235);
      // RFC 6409 §8: the MSA adds Message-ID and Date when the client did not.
      expect((await c.cmd('MAIL FROM:<lou@lo.test>')).code).toBe(250);
      expect((await c.cmd('RCPT TO:<liz@lo.test>')).code).toBe(250);
      expect((await c.cmd('DATA')).code).toBe(354);
      const done = await c.cmd('From: lou@lo.test\r\nTo: liz@lo.test\r\nSubject: bare\r\n\r\nno id, no date\r\n.');
      expect(done.code).toBe(250);
    } finally {
      c.close();
    }
    const [msg] = mailbox(lo, 'liz@lo.test');
    expect(msg).toMatch(/\r\nMessage-ID: <[^>]+@lo\.test>\r\n/);
    expect(msg).toMatch(/\r\nDate: \w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d \+0000\r\n/);
    expect(msg).toMatch(/^DKIM-Signature: /);
    expect(msg).toMatch(/with ESMTPA id/);
  });
});

describe('sender ownership (553 5.7.1)', () => {
  it('refuses an envelope sender the account does not own', async () => {
    const err = await submitter(a, 'alice@a.test')
      .sendMail({ envelope: { from: 'carol@a.test', to: ['carol@a.test'] }, from: 'alice@a.test', to: 'carol@a.test', subject: 'x', text: 'x' })
      .then(() => undefined, (e: { responseCode?: number; response?: string }) => e);
    expect(err?.responseCode).toBe(553);
    expect(err?.response).toBe('553 5.7.1 <carol@a.test>: Sender address rejected: not owned by user alice@a.test');
  });

  it('refuses a From: header the account does not own', async () => {
    const err = await submitter(a, 'alice@a.test')
      .sendMail({ envelope: { from: 'alice@a.test', to: ['carol@a.test'] }, from: 'The CEO <ceo@a.test>', to: 'carol@a.test', subject: 'urgent', text: 'wire money' })
      .then(() => undefined, (e: { responseCode?: number; response?: string }) => e);
    expect(err?.responseCode).toBe(553);
    expect(err?.response).toBe('553 5.7.1 From: header address <ceo@a.test> is not owned by user alice@a.test');
    expect(mailbox(a, 'carol@a.test').some((m) => m.includes('wire money'))).toBe(false);
  });

  it('accepts an alias that delivers to the account, in the envelope and in From:', async () => {
    const info = await submitter(a, 'alice@a.test').sendMail({ from: 'Sales <sales@a.test>', to: 'carol@a.test', subject: 'from the alias', text: 'x' });
    expect(info.response).toMatch(/^250 /);
    expect(mailbox(a, 'carol@a.test').some((m) => m.includes('Subject: from the alias'))).toBe(true);
  });
});

describe('per-account limits', () => {
  it('refuses recipients beyond the per-message limit with 452 4.5.3 naming the limit', async () => {
    const info = await submitter(a, 'erin@a.test').sendMail({ from: 'erin@a.test', to: ['alice@a.test', 'carol@a.test', 'dave@a.test'], subject: 'three', text: 'x' });
    expect(info.accepted).toEqual(['alice@a.test', 'carol@a.test']);
    expect(info.rejected).toEqual(['dave@a.test']);
    const rej = (info as unknown as { rejectedErrors: Array<{ response: string }> }).rejectedErrors[0]!;
    expect(rej.response).toBe('452 4.5.3 Too many recipients: the limit is 2 recipients per message');
  });

  it('refuses messages beyond the hourly limit with 550 5.4.5 naming the limit', async () => {
    const t = submitter(a, 'frank@a.test');
    for (let i = 0; i < 3; i++) await t.sendMail({ from: 'frank@a.test', to: 'carol@a.test', subject: `n${i}`, text: 'x' });
    const err = await t
      .sendMail({ from: 'frank@a.test', to: 'carol@a.test', subject: 'one too many', text: 'x' })
      .then(() => undefined, (e: { responseCode?: number; response?: string }) => e);
    expect(err?.responseCode).toBe(550);
    expect(err?.response).toBe('550 5.4.5 Sending limit exceeded: the limit is 3 messages per hour for this account; try again later');
    // Another account is not affected.
    const ok = await submitter(a, 'dave@a.test').sendMail({ from: 'dave@a.test', to: 'carol@a.test', subject: 'dave ok', text: 'x' });
    expect(ok.response).toMatch(/^250 /);
  });
});
