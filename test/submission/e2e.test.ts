// End to end, two instances: alice@a.test (127.0.0.2) submits with nodemailer; the
// queue on A delivers to B (127.0.0.3) found through MX records on a loopback DNS
// server; bob's copy on B carries a DKIM signature that verifies (mailauth and
// python3-dkim over that DNS server); unknown users, null MX and B being down give a
// DSN or a retry as Postfix would.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { authenticate } from 'mailauth';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResolver } from '../../src/dns/resolver.js';
import { getMessage, listMessages } from '../../src/queue/repo.js';
import type { TestDnsServer } from '../helpers/dns-server.js';
import { mailbox, startInstance, startPair, submitter, waitFor, type Instance } from './harness.js';
import { needs, peer } from '../helpers/peers.js';

const VERIFY_PY = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dkim', 'verify-dkim.py');

let dns: TestDnsServer;
let a: Instance;
let b: Instance;

beforeAll(async () => {
  // B is restarted below (a new Instance), so the pair is closed here piece by piece.
  ({ dns, a, b } = await startPair({ aAccounts: ['alice@a.test', 'carol@a.test'], bAccounts: ['bob@b.test'] }));
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  if (b) await import('node:fs/promises').then((fs) => fs.rm(b.t.dataRoot, { recursive: true, force: true }));
  await dns?.close();
});

function pythonVerify(msg: string): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(peer('python3-dkim'), [VERIFY_PY, dns.servers[0]!]);
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('close', (status) => resolve({ status, out: out.trim() }));
    p.stdin.end(msg);
  });
}

/** What B received in the first test, for the python3-dkim check. */
let received: string | undefined;

describe('submission → queue → remote MX', () => {
  it('delivers alice → bob@b.test signed; a local recipient gets the same message at once', async () => {
    const info = await submitter(a, 'alice@a.test').sendMail({
      from: 'Alice <alice@a.test>',
      to: 'bob@b.test',
      cc: 'carol@a.test',
      subject: 'Hello from A',
      text: 'Hi Bob,\n\nthis crossed two servers.\n',
    });
    expect(info.response).toMatch(/^250 /);
    expect(info.accepted).toEqual(['bob@b.test', 'carol@a.test']);

    // Local: carol's copy is there before the 250 (same durable path as port 25).
    expect(mailbox(a, 'carol@a.test')).toHaveLength(1);

    const [raw] = await waitFor('bob to receive the message', () => {
      const m = mailbox(b, 'bob@b.test').filter((x) => x.includes('Hello from A'));
      return m.length ? m : undefined;
    });
    const parsed = await simpleParser(raw!);
    expect(parsed.subject).toBe('Hello from A');
    expect(parsed.text).toContain('this crossed two servers.');
    expect(parsed.messageId).toMatch(/@a\.test>$/);
    expect(parsed.headers.get('date')).toBeInstanceOf(Date);
    // Our Received line (RFC 5321 §4.4) with the authenticated-TLS protocol (RFC 3848).
    expect(raw).toMatch(/Received: from .*\r\n\tby mx\.a\.test with ESMTPSA id/);

    // DKIM: mailauth over the loopback DNS, as B would check it (SPF from 127.0.0.2, DMARC aligned).
    const auth = await authenticate(Buffer.from(raw!), {
      ip: '127.0.0.2',
      helo: 'mx.a.test',
      sender: 'alice@a.test',
      mta: 'mx.b.test',
      resolver: createResolver({ servers: dns.servers, timeoutMs: 2000 }),
    });
    const dkim = auth.dkim.results.find((r) => r.signingDomain === 'a.test');
    expect(dkim?.status.result).toBe('pass');
    expect(auth.spf && auth.spf.status.result).toBe('pass');
    expect(auth.dmarc && auth.dmarc.status.result).toBe('pass');
    // B's own inbound checks (port 25) agree: Authentication-Results by mx.b.test (RFC 8601).
    const ar = /^Authentication-Results: mx\.b\.test;[^]*?(?=\r\n\S)/m.exec(raw!)?.[0] ?? '';
    expect(ar).toMatch(/dkim=pass header\.i=@a\.test/);
    expect(ar).toMatch(/spf=pass/);
    expect(ar).toMatch(/dmarc=pass/);

    received = raw;

    // Delivered rows are gone from the queue.
    await waitFor('queue to empty', () => listMessages(a.t.ctx.db).length === 0);
  });

  it('the same signed message verifies with an independent implementation (python3-dkim)', needs('python3-dkim'), async () => {
    expect(received, 'the delivery above').toBeDefined();
    const py = await pythonVerify(received!);
    expect(py.out.split('\n')[0]).toBe('pass');
  });

  it('submits on 465 (implicit TLS) too', async () => {
    const info = await submitter(a, 'alice@a.test', { implicit: true }).sendMail({ from: 'alice@a.test', to: 'bob@b.test', subject: 'via 465', text: 'x' });
    expect(info.response).toMatch(/^250 /);
    await waitFor('bob to receive the 465 message', () => mailbox(b, 'bob@b.test').some((m) => m.includes('Subject: via 465')));
  });

  it('bounces an unknown user at B with a DSN in alice\'s INBOX naming the user and B\'s reply (RFC 3464)', async () => {
    await submitter(a, 'alice@a.test').sendMail({ from: 'alice@a.test', to: 'nobody@b.test', subject: 'to nobody', text: 'x' });
    const [dsn] = await waitFor('the DSN', () => {
      const m = mailbox(a, 'alice@a.test').filter((x) => x.includes('multipart/report') && x.includes('Subject: to nobody'));
      return m.length ? m : undefined;
    });
    const parsed = await simpleParser(dsn!);
    expect(parsed.subject).toBe('Undelivered Mail Returned to Sender');
    expect(dsn).toMatch(/^Return-Path: <>\r\n/);
    expect(String(parsed.headers.get('content-type') && (parsed.headers.get('content-type') as { value: string }).value)).toBe('multipart/report');
    expect(dsn).toContain('report-type=delivery-status');
    // Per-recipient fields (RFC 3464 §2.3) with B's reply.
    expect(dsn).toContain('Final-Recipient: rfc822; nobody@b.test');
    expect(dsn).toContain('Action: failed');
    expect(dsn).toContain('Status: 5.1.1');
    expect(dsn).toMatch(/Diagnostic-Code: smtp; 550 5\.1\.1 <nobody@b\.test>: Recipient address rejected: no such user here/);
    expect(dsn).toContain('Remote-MTA: dns; mx.b.test');
    // The original headers come back (text/rfc822-headers).
    expect(dsn).toContain('Subject: to nobody');
    await waitFor('queue to empty', () => listMessages(a.t.ctx.db).length === 0);
  });

  it('bounces at once for a null MX domain (RFC 7505) without connecting anywhere', async () => {
    dns.set('nullmx.test', 'MX', [{ priority: 0, exchange: '.' }]);
    await submitter(a, 'alice@a.test').sendMail({ from: 'alice@a.test', to: 'someone@nullmx.test', subject: 'to null mx', text: 'x' });
    // Found by what it names (file names of one second do not sort by arrival).
    const [dsn] = await waitFor('the null MX DSN', () => {
      const m = mailbox(a, 'alice@a.test').filter((x) => x.includes('Final-Recipient: rfc822; someone@nullmx.test'));
      return m.length ? m : undefined;
    });
    expect(dsn).toContain('Status: 5.1.10');
    expect(dsn).toContain('null MX');
  });

  it('retries while B is down and delivers after B comes back on the same port', async () => {
    const dataRoot = b.t.dataRoot;
    const port = b.smtpPort;
    await b.close();
    try {
      await submitter(a, 'alice@a.test').sendMail({ from: 'alice@a.test', to: 'bob@b.test', subject: 'while B was down', text: 'x' });
      // A keeps it queued with a temporary failure and a next try.
      const rec = await waitFor('a failed attempt', () => {
        const m = listMessages(a.t.ctx.db).find((x) => x.recipients.some((r) => r.rcpt === 'bob@b.test'));
        const r = m?.recipients[0];
        return r && r.attempts >= 1 ? { id: m!.id, r } : undefined;
      });
      expect(rec.r.state).toBe('queued');
      expect(rec.r.lastReply).toMatch(/ECONNREFUSED|ECONNECTION|connect/i);
      expect(rec.r.nextAttemptAt.getTime()).toBeGreaterThan(rec.r.lastAttemptAt!.getTime());
    } finally {
      b = await startInstance({ host: '127.0.0.3', domain: 'b.test', dns, accounts: ['bob@b.test'], dataRoot, keepData: true, smtpPort: port });
    }
    await waitFor('bob to receive the retried message', () => mailbox(b, 'bob@b.test').some((m) => m.includes('Subject: while B was down')));
    await waitFor('queue to empty', () => listMessages(a.t.ctx.db).length === 0);
  });
});

describe('expiry', () => {
  it('bounces after the configured lifetime when the destination never answers', async () => {
    // mx.silent.test accepts TCP on the MX port and never says a word.
    const net = await import('node:net');
    const sockets: import('node:net').Socket[] = [];
    const silent = net.createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(b.smtpPort, '127.0.0.4', () => r()));
    dns.set('silent.test', 'MX', [{ priority: 10, exchange: 'mx.silent.test' }]);
    dns.set('mx.silent.test', 'A', ['127.0.0.4']);
    const x = await startInstance({
      host: '127.0.0.5',
      domain: 'x.test',
      dns,
      accounts: ['xavier@x.test'],
      mxPort: b.smtpPort,
      configure(c) {
        c.queue.connectTimeoutMs = 300;
        c.queue.lifetimeSeconds = 2;
      },
    });
    try {
      await submitter(x, 'xavier@x.test').sendMail({ from: 'xavier@x.test', to: 'someone@silent.test', subject: 'into the void', text: 'x' });
      const [dsn] = await waitFor(
        'the expiry DSN',
        () => {
          const m = mailbox(x, 'xavier@x.test').filter((d) => d.includes('someone@silent.test'));
          return m.length ? m : undefined;
        },
        20_000,
      );
      expect(dsn).toContain('Subject: Undelivered Mail Returned to Sender (delivery time expired)');
      expect(dsn).toContain('Status: 5.4.7');
      expect(dsn).toMatch(/Diagnostic-Code: x-unix; .*(timeout|Timeout|ETIMEDOUT)/);
      expect(sockets.length).toBeGreaterThanOrEqual(2); // it did try more than once before giving up
      // The DSN is stored before the queue row goes: wait for the row, not just the DSN.
      await waitFor('the expired message to leave the queue', () => getMessage(x.t.ctx.db, 1) === undefined, 10_000);
    } finally {
      await x.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });
});
