// Sieve across two instances (127.0.0.2 = a.test, 127.0.0.3 = b.test) that find each
// other through MX records on a loopback DNS server (the submission/queue rig):
// - vacation: bob@b.test writes to alice@a.test, whose vacation is on; exactly one
//   reply reaches bob, DKIM-signed by a.test (B's own checks say dkim=pass), threaded
//   to the original; a second message within :days and a list message get none;
// - redirect: alice's script redirects to b.test; the copy arrives at B with an SRS
//   envelope sender that passes SPF there; a redirect B later bounces (an alias on B
//   forwarding to a gone address) comes back through the SRS address to the original
//   sender, carol@b.test.
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putScript, setVacation } from '../../src/sieve/settings.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { mailbox, publishDomain, startInstance, submitter, waitFor, type Instance } from '../submission/harness.js';

let dns: TestDnsServer;
let a: Instance;
let b: Instance;

beforeAll(async () => {
  dns = await startDnsServer({});
  publishDomain(dns, 'a.test', '127.0.0.2');
  publishDomain(dns, 'b.test', '127.0.0.3');
  // SPF for the HELO names: bounces (null sender) are checked against them (RFC 7208 §2.3).
  dns.set('mx.a.test', 'TXT', ['v=spf1 ip4:127.0.0.2 -all']);
  dns.set('mx.b.test', 'TXT', ['v=spf1 ip4:127.0.0.3 -all']);
  // The queue's DSNs come from MAILER-DAEMON@<hostname>, unsigned: forwarded back through
  // A they cannot pass DMARC at B, so the host name publishes p=none (as many do).
  dns.set('_dmarc.mx.b.test', 'TXT', ['v=DMARC1; p=none']);
  b = await startInstance({ host: '127.0.0.3', domain: 'b.test', dns, accounts: ['bob@b.test', 'carol@b.test'] });
  a = await startInstance({ host: '127.0.0.2', domain: 'a.test', dns, accounts: ['alice@a.test'], mxPort: b.smtpPort });
  // Each sends to the other's port 25 (the config is read at every delivery attempt).
  b.t.ctx.config.queue.mxPort = a.smtpPort;
  b.t.accounts.addAlias('list@b.test', ['gone@a.test']);
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  await dns?.close();
});

const LIMITS = { maxScripts: 20, maxScriptBytes: 65536 };

describe('vacation through a second instance', () => {
  it('answers the first message once, DKIM-signed; not the second within :days, not a list message', async () => {
    setVacation(a.t.ctx.db, 'alice@a.test', { enabled: true, subject: 'Out of office', message: 'Back on Monday.\nAlice', days: 7 });
    const first = await submitter(b, 'bob@b.test').sendMail({ from: 'bob@b.test', to: 'alice@a.test', subject: 'Lunch?', text: 'Lunch on Friday?' });
    const [reply] = await waitFor('the vacation reply at bob', () => {
      const m = mailbox(b, 'bob@b.test').filter((x) => x.includes('Subject: Out of office'));
      return m.length ? m : undefined;
    });
    const parsed = await simpleParser(reply!);
    expect(parsed.headers.get('auto-submitted')).toMatch(/^auto-replied/);
    expect(parsed.inReplyTo).toBe(first.messageId);
    expect(parsed.text).toContain('Back on Monday.');
    expect(reply).toMatch(/^Return-Path: <>\r\n/);
    // B verified it on arrival (RFC 8601 Authentication-Results by mx.b.test).
    const ar = /^Authentication-Results: mx\.b\.test;[^]*?(?=\r\n\S)/m.exec(reply!)?.[0] ?? '';
    expect(ar).toMatch(/dkim=pass header\.i=@a\.test/);
    expect(ar).toMatch(/dmarc=pass/);

    await submitter(b, 'bob@b.test').sendMail({ from: 'bob@b.test', to: 'alice@a.test', subject: 'Lunch? (again)', text: 'Ping.' });
    await submitter(b, 'bob@b.test').sendMail({ from: 'bob@b.test', to: 'alice@a.test', subject: '[team] weekly', text: 'x', headers: { 'List-Id': 'Team <team.b.test>' } });
    await waitFor('both messages at alice', () => mailbox(a, 'alice@a.test').filter((x) => /Subject: (Lunch\? \(again\)|\[team\] weekly)/.test(x)).length === 2);
    // Give A's queue the time a second reply would take to arrive, then count.
    await new Promise((r) => setTimeout(r, 1500));
    expect(mailbox(b, 'bob@b.test').filter((x) => x.includes('Subject: Out of office'))).toHaveLength(1);
    setVacation(a.t.ctx.db, 'alice@a.test', { enabled: false });
  });
});

describe('redirect with SRS through a second instance', () => {
  it('reaches B with an SRS sender that passes SPF there', async () => {
    putScript(a.t.ctx.db, LIMITS, 'alice@a.test', 'fwd', 'if header :contains "subject" "forward me" { redirect "bob@b.test"; }', { activate: true });
    await submitter(b, 'carol@b.test').sendMail({ from: 'carol@b.test', to: 'alice@a.test', subject: 'please forward me', text: 'x' });
    const [got] = await waitFor('the redirected copy at bob', () => {
      const m = mailbox(b, 'bob@b.test').filter((x) => x.includes('Subject: please forward me'));
      return m.length ? m : undefined;
    });
    expect(got).toMatch(/^Return-Path: <SRS0=[a-z2-7]{6}=[a-z2-7]{2}=b\.test=carol@a\.test>\r\n/);
    expect(got).toContain('X-Sieve-Redirected-From: alice@a.test');
    const ar = /^Authentication-Results: mx\.b\.test;[^]*?(?=\r\n\S)/m.exec(got!)?.[0] ?? '';
    expect(ar).toMatch(/spf=pass .*smtp\.mailfrom="?SRS0=[^"\s]+@a\.test/);
    // The original DKIM signature (b.test's) survives the redirect: nothing signed was changed.
    expect(ar).toMatch(/dkim=pass header\.i=@b\.test/);
    expect(mailbox(a, 'alice@a.test').some((x) => x.includes('please forward me'))).toBe(false);
  });

  it('brings the bounce of a redirected message back to the original sender', async () => {
    putScript(a.t.ctx.db, LIMITS, 'alice@a.test', 'fwd', 'if header :contains "subject" "to the list" { redirect "list@b.test"; }', { activate: true });
    await submitter(b, 'carol@b.test').sendMail({ from: 'carol@b.test', to: 'alice@a.test', subject: 'send this to the list', text: 'x' });
    // B takes it for its alias, forwards to gone@a.test, A refuses (550 5.1.1), B's queue
    // bounces to the SRS address at A, A forwards the bounce to carol.
    const [dsn] = await waitFor(
      'the bounce at carol',
      () => {
        const m = mailbox(b, 'carol@b.test').filter((x) => x.includes('multipart/report'));
        return m.length ? m : undefined;
      },
      30_000,
    );
    expect(dsn).toMatch(/^Return-Path: <>\r\n/);
    expect(dsn).toContain('gone@a.test');
    expect(dsn).toContain('Subject: send this to the list');
  });
});
