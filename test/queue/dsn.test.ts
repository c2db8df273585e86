// DSN (RFC 3461) end to end, two instances on loopback (A = a.test on 127.0.0.2, B =
// b.test on 127.0.0.3, each the other's MX) and a next hop without DSN (127.0.0.4):
// DSN is advertised on 25 and submission; RET, ENVID, NOTIFY and ORCPT are checked,
// carried through A's queue to B, and honoured: success reports for local delivery,
// "relayed" when the next hop cannot report, NOTIFY=NEVER silences a bounce, RET=FULL
// returns the message and RET=HDRS its headers, one "delayed" notice when DELAY is
// asked. Clients: nodemailer (its dsn option), raw lines, and swaks.
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import net from 'node:net';
import { promisify } from 'node:util';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { needs, peer } from '../helpers/peers.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';
import { mailbox, PASSWORD, publishDomain, startInstance, submitter, waitFor, type Instance } from '../submission/harness.js';

const run = promisify(execFile);
let dns: TestDnsServer;
let a: Instance;
let b: Instance;
let sink: SMTPServer;
const sunk: Array<{ rcpts: string; data: string }> = [];

/** A port free on every address given (each instance's port 25 and the sink share queue.mx_port). */
async function portFreeOn(hosts: string[]): Promise<number> {
  for (;;) {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, hosts[0], () => r()));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const ok = await Promise.all(
      hosts.map(
        (h) =>
          new Promise<boolean>((resolve) => {
            const s = net.createServer();
            s.once('error', () => resolve(false));
            s.listen(port, h, () => s.close(() => resolve(true)));
          }),
      ),
    );
    if (ok.every(Boolean)) return port;
  }
}

beforeAll(async () => {
  dns = await startDnsServer({});
  publishDomain(dns, 'a.test', '127.0.0.2');
  publishDomain(dns, 'b.test', '127.0.0.3');
  publishDomain(dns, 'nodsn.test', '127.0.0.4');
  dns.set('nodmarc.test', 'MX', [{ priority: 10, exchange: 'mx.nodsn.test' }]); // no SPF, no DMARC; mail for it lands in the sink
  publishDomain(dns, 'down.test', '127.0.0.5'); // nothing listens there
  const port = await portFreeOn(['127.0.0.2', '127.0.0.3', '127.0.0.4']);
  // The next hop without DSN (smtp-server hides DSN unless asked).
  sink = new SMTPServer({
    logger: false,
    authOptional: true,
    disabledCommands: ['AUTH'],
    onData(stream, session, cb) {
      let data = '';
      stream.on('data', (d: Buffer) => (data += d.toString('latin1')));
      stream.on('end', () => {
        sunk.push({ rcpts: session.envelope.rcptTo.map((r) => r.address).join(','), data });
        cb();
      });
    },
  });
  await new Promise<void>((r) => sink.listen(port, '127.0.0.4', () => r()));
  const quick = (c: { queue: { delayWarningSeconds: number } }) => (c.queue.delayWarningSeconds = 1);
  b = await startInstance({ host: '127.0.0.3', domain: 'b.test', dns, accounts: ['bob@b.test', 'carol@b.test'], smtpPort: port, mxPort: port, keepData: true, configure: quick });
  a = await startInstance({ host: '127.0.0.2', domain: 'a.test', dns, accounts: ['alice@a.test'], smtpPort: port, mxPort: port, configure: quick });
  a.t.accounts.addAlias('fwd@a.test', ['bob@b.test']);
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  if (b) await rm(b.t.dataRoot, { recursive: true, force: true });
  await new Promise<void>((r) => (sink ? sink.close(() => r()) : r()));
  await dns?.close();
});

/** The reports in an account's mailbox (From: MAILER-DAEMON), optionally of one reporting host. */
function reports(i: Instance, address: string, by?: string): string[] {
  return mailbox(i, address).filter((m) => m.includes('report-type=delivery-status') && (!by || m.includes(`Reporting-MTA: dns; ${by}`)));
}

/**
 * Mail options with nodemailer's `dsn` (RET as `return`, ENVID as `id`, NOTIFY,
 * ORCPT as `recipient`), which its type definitions lack.
 */
function mail(o: nodemailer.SendMailOptions & { dsn: { id?: string; return?: 'headers' | 'full'; notify?: string | string[]; recipient?: string } }): nodemailer.SendMailOptions {
  return o;
}

/** Waits for the first report that mentions `text` (an ENVID). */
function reportWith(what: string, i: Instance, address: string, text: string, by?: string, ms?: number): Promise<string> {
  return waitFor(what, () => reports(i, address, by).find((m) => m.includes(text)), ms);
}

describe('advertised and checked (RFC 3461 §4)', () => {
  it('DSN is in the EHLO of port 25 and submission; bad values get 501, unknown parameters 555', async () => {
    for (const port of [a.smtpPort, a.submissionPort]) {
      const c = await SmtpTestClient.connect(port, '127.0.0.2');
      expect((await c.hello()).lines).toContain('250-DSN');
      c.close();
    }
    const c = await SmtpTestClient.connect(a.smtpPort, '127.0.0.2');
    await c.hello();
    expect((await c.cmd('MAIL FROM:<x@remote.example> RET=MOST')).code).toBe(501);
    expect((await c.cmd(`MAIL FROM:<x@remote.example> ENVID=${'e'.repeat(101)}`)).text).toMatch(/^501 5\.5\.4 /);
    expect((await c.cmd('MAIL FROM:<x@remote.example> RET=HDRS ENVID=QQ+2Bx')).code).toBe(250);
    expect((await c.cmd('RCPT TO:<fwd@a.test> NOTIFY=NEVER,SUCCESS')).code).toBe(501);
    expect((await c.cmd('RCPT TO:<fwd@a.test> NOTIFY=SOMETIMES')).code).toBe(501);
    expect((await c.cmd('RCPT TO:<fwd@a.test> ORCPT=no-type-here')).code).toBe(501);
    expect((await c.cmd('RCPT TO:<fwd@a.test> NOTIFY=FAILURE NOTIFY=DELAY')).code).toBe(501);
    expect((await c.cmd(`RCPT TO:<fwd@a.test> ORCPT=rfc822;${'o'.repeat(500)}@a.test`)).text).toMatch(/^501 5\.5\.4 /);
    expect((await c.cmd('RCPT TO:<fwd@a.test> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;fwd@a.test')).code).toBe(250);
    c.close();
  });
});

describe('carried through the queue and honoured', () => {
  it('NOTIFY=SUCCESS to a DSN-capable next hop: the parameters go on, B reports "delivered" with ENVID and ORCPT, A reports nothing', async () => {
    await submitter(a, 'alice@a.test').sendMail(mail({
      from: 'alice@a.test',
      to: 'bob@b.test',
      subject: 'success please',
      text: 'x',
      dsn: { id: 'env-success-1', return: 'headers', notify: 'SUCCESS', recipient: 'bob@b.test' },
    }));
    const r = await reportWith('the success report from B', a, 'alice@a.test', 'env-success-1', 'mx.b.test');
    expect(r).toContain('Subject: Successful Mail Delivery Report');
    expect(r).toContain('Original-Envelope-Id: env-success-1');
    expect(r).toContain('Original-Recipient: rfc822;bob@b.test');
    expect(r).toMatch(/Final-Recipient: rfc822; bob@b\.test\r\nAction: delivered\r\nStatus: 2\.0\.0/);
    expect(r).toContain('Content-Type: text/rfc822-headers');
    expect(mailbox(b, 'bob@b.test').some((m) => m.includes('Subject: success please'))).toBe(true);
    await new Promise((res) => setTimeout(res, 500));
    expect(reports(a, 'alice@a.test', 'mx.a.test').filter((m) => m.includes('env-success-1'))).toEqual([]);
  });

  it('NOTIFY=SUCCESS to a next hop without DSN: A reports "relayed" (RFC 3461 §5.2.2)', async () => {
    await submitter(a, 'alice@a.test').sendMail(mail({ from: 'alice@a.test', to: 'someone@nodsn.test', subject: 'relay me', text: 'x', dsn: { id: 'env-relayed', notify: ['SUCCESS', 'FAILURE'] } }));
    const r = await reportWith('the relayed report', a, 'alice@a.test', 'env-relayed', 'mx.a.test');
    expect(r).toMatch(/Final-Recipient: rfc822; someone@nodsn\.test\r\nAction: relayed\r\nStatus: 2\.0\.0\r\nRemote-MTA: dns; mx\.nodsn\.test/);
    expect(sunk.map((x) => x.rcpts)).toContain('someone@nodsn.test');
  });

  it('a failure: a bounce with the whole message for RET=FULL, the headers for RET=HDRS, none for NOTIFY=NEVER', async () => {
    const send = (id: string, ret: 'full' | 'headers', notify: 'NEVER' | 'FAILURE') =>
      submitter(a, 'alice@a.test').sendMail(mail({ from: 'alice@a.test', to: 'nobody@b.test', subject: `bounce ${id}`, text: `the body of ${id}\n`, dsn: { id, return: ret, notify } }));
    await send('env-full', 'full', 'FAILURE');
    await send('env-hdrs', 'headers', 'FAILURE');
    await send('env-never', 'full', 'NEVER');
    const full = await reportWith('the RET=FULL bounce', a, 'alice@a.test', 'env-full');
    expect(full).toMatch(/Action: failed\r\nStatus: 5\.1\.1/);
    expect(full).toContain('Content-Type: message/rfc822');
    expect(full).toContain('the body of env-full');
    const hdrs = await reportWith('the RET=HDRS bounce', a, 'alice@a.test', 'env-hdrs');
    expect(hdrs).toContain('Content-Type: text/rfc822-headers');
    expect(hdrs).toContain('Subject: bounce env-hdrs');
    expect(hdrs).not.toContain('the body of env-hdrs');
    // All three failed at the same next hop in the same way; only NEVER made no report.
    await waitFor('the queue to empty', () => a.t.ctx.queue && (a.t.ctx.db.prepare("SELECT COUNT(*) FROM queue_recipients WHERE state = 'queued'").pluck().get() as number) === 0);
    expect(reports(a, 'alice@a.test').filter((m) => m.includes('env-never'))).toEqual([]);
  });

  it('one "delayed" notice when DELAY is asked (queue.delay_warning_seconds), none without it', async () => {
    await submitter(a, 'alice@a.test').sendMail(mail({ from: 'alice@a.test', to: 'late@down.test', subject: 'slow', text: 'x', dsn: { id: 'env-delay', notify: ['DELAY', 'FAILURE'] } }));
    await submitter(a, 'alice@a.test').sendMail(mail({ from: 'alice@a.test', to: 'quiet@down.test', subject: 'slow', text: 'x', dsn: { id: 'env-nodelay', notify: 'FAILURE' } }));
    const r = await reportWith('the delay notice', a, 'alice@a.test', 'env-delay', undefined, 30_000);
    expect(r).toContain('Subject: Delayed Mail (still being retried)');
    expect(r).toMatch(/Final-Recipient: rfc822; late@down\.test\r\nAction: delayed\r\nStatus: 4\.\d\.\d/);
    expect(r).toMatch(/Will-Retry-Until: /);
    // More attempts (retry every 1-2 s) send no second notice.
    const attempts = () => a.t.ctx.db.prepare("SELECT attempts FROM queue_recipients WHERE rcpt = 'late@down.test'").pluck().get() as number;
    const seen = attempts();
    await waitFor('two more attempts', () => attempts() >= seen + 2, 30_000);
    expect(reports(a, 'alice@a.test').filter((m) => m.includes('env-delay'))).toHaveLength(1);
    expect(reports(a, 'alice@a.test').filter((m) => m.includes('env-nodelay'))).toEqual([]);
    for (const rcpt of ['late@down.test', 'quiet@down.test']) a.t.ctx.db.prepare("DELETE FROM queue_messages WHERE id IN (SELECT message_id FROM queue_recipients WHERE rcpt = ?)").run(rcpt);
  });

  it('port 25 to an alias forwarding outside: ORCPT names the address the sender used; B reports to the sender', async () => {
    // From a domain without SPF or DMARC (forwarding breaks SPF; SRS is not done here).
    const tr = nodemailer.createTransport({ host: '127.0.0.2', port: a.smtpPort, ignoreTLS: true });
    await tr.sendMail(mail({ from: 'someone@nodmarc.test', to: 'fwd@a.test', subject: 'via the alias', text: 'x', dsn: { id: 'env-alias', notify: 'SUCCESS' } }));
    const r = await waitFor('the success report, at the sender domain MX (the sink)', () => sunk.find((x) => x.rcpts === 'someone@nodmarc.test' && x.data.includes('env-alias'))?.data);
    expect(r).toContain('Reporting-MTA: dns; mx.b.test');
    expect(r).toContain('Original-Recipient: rfc822;fwd@a.test');
    expect(r).toMatch(/Final-Recipient: rfc822; bob@b\.test\r\nAction: delivered/);
    expect(r).toMatch(/^DKIM-Signature: .*d=b\.test/m);
  });

  it('port 25, local mailbox, NOTIFY=SUCCESS: a "delivered" report to the remote sender; NOTIFY=NEVER and the null sender: none', async () => {
    // alice@a.test writes from A's address (SPF passes) straight to B's port 25.
    const tr = nodemailer.createTransport({ host: '127.0.0.3', port: b.smtpPort, ignoreTLS: true, localAddress: '127.0.0.2' });
    await tr.sendMail(mail({ from: 'alice@a.test', to: 'bob@b.test', subject: 'local-success', text: 'x', dsn: { id: 'local-success', notify: 'SUCCESS', recipient: 'Bob@B.test' } }));
    await tr.sendMail(mail({ from: 'alice@a.test', to: 'bob@b.test', subject: 'local-never', text: 'x', dsn: { id: 'local-never', notify: 'NEVER' } }));
    const c = await SmtpTestClient.connect(b.smtpPort, '127.0.0.3');
    await c.hello();
    expect((await c.cmd('MAIL FROM:<> ENVID=null-sender')).code).toBe(250);
    expect((await c.cmd('RCPT TO:<bob@b.test> NOTIFY=SUCCESS')).code).toBe(250);
    expect((await c.cmd('DATA')).code).toBe(354);
    expect((await c.cmd('From: <mailer-daemon@remote.example>\r\nSubject: null-sender\r\n\r\nhello\r\n.')).code).toBe(250);
    c.close();
    // B's report travels through B's queue to A, into alice's mailbox.
    const r = await reportWith('the local success report', a, 'alice@a.test', 'local-success', 'mx.b.test');
    expect(r).toContain('Original-Recipient: rfc822;Bob@B.test');
    expect(r).toContain('Original-Envelope-Id: local-success');
    expect(r).toMatch(/Final-Recipient: rfc822; bob@b\.test\r\nAction: delivered\r\nStatus: 2\.0\.0/);
    expect(mailbox(b, 'bob@b.test').filter((m) => m.includes('Subject: null-sender'))).toHaveLength(1);
    await waitFor("B's queue to empty", () => (b.t.ctx.db.prepare('SELECT COUNT(*) FROM queue_messages').pluck().get() as number) === 0);
    expect(reports(a, 'alice@a.test').filter((m) => m.includes('local-never'))).toEqual([]);
  });

  it('swaks: its parameters (written into the address, as swaks 2020 has no option for them) reach B and come back in the report', { ...needs('swaks'), timeout: 60_000 }, async () => {
    const { stdout } = await run(peer('swaks'), [
      '--server', '127.0.0.2', '--port', String(a.submissionPort), '--tls', '--auth', 'PLAIN', '--auth-user', 'alice@a.test', '--auth-password', PASSWORD,
      '--from', 'alice@a.test> ENVID=swaks-env', '--to', 'bob@b.test> NOTIFY=SUCCESS ORCPT=rfc822;bob@b.test', '--header', 'Subject: swaks dsn',
    ]);
    expect(stdout).toMatch(/250-DSN/);
    expect(stdout).toMatch(/<~ {1,2}250 2\.6\.0 /);
    // swaks closes each command with ">": the last parameter of each line carries it.
    const r = await reportWith('the report for swaks', a, 'alice@a.test', 'swaks-env', 'mx.b.test');
    expect(r).toContain('Original-Envelope-Id: swaks-env>');
    expect(r).toMatch(/Action: delivered/);
  });
});
