// The outbound queue against scripted remote servers (smtp-server sinks on loopback)
// and a real DNS server: MX routing rules, per-recipient replies, null sender, a relay
// host with AUTH, certificate verification, and the retry schedule.
import { existsSync } from 'node:fs';
import { rename, unlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { createResolver } from '../../src/dns/resolver.js';
import { getMessage, insertMessage, listMessages, retryNow } from '../../src/queue/repo.js';
import { routeFor } from '../../src/queue/route.js';
import { nextAttempt, retryDelayMs } from '../../src/queue/schedule.js';
import { writeQueueFile } from '../../src/queue/spool.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { mailbox, startInstance, submitter, waitFor, type Instance } from '../submission/harness.js';

interface Received {
  from: string;
  rcpts: string[];
  user?: string;
  secure: boolean;
  data: string;
}

async function startSink(host: string, port: number, opts: Partial<SMTPServerOptions> & { rcptReply?: (rcpt: string) => { code: number; text: string } | undefined } = {}) {
  const got: Received[] = [];
  const { rcptReply, ...rest } = opts;
  const server = new SMTPServer({
    logger: false,
    authOptional: true,
    disabledCommands: ['AUTH'],
    ...rest,
    onRcptTo(addr, _s, cb) {
      const r = rcptReply?.(addr.address);
      if (r) return cb(Object.assign(new Error(r.text), { responseCode: r.code }));
      cb();
    },
    onData(stream, session, cb) {
      let data = '';
      stream.on('data', (d: Buffer) => (data += d.toString()));
      stream.on('end', () => {
        got.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          rcpts: session.envelope.rcptTo.map((r) => r.address),
          user: session.user as string | undefined,
          secure: session.secure,
          data,
        });
        cb();
      });
    },
  });
  await new Promise<void>((r) => server.listen(port, host, () => r()));
  return { got, port: (server.server.address() as net.AddressInfo).port, close: () => new Promise<void>((r) => server.close(() => r())) };
}

let dns: TestDnsServer;
beforeAll(async () => {
  dns = await startDnsServer({});
});
afterAll(async () => {
  await dns?.close();
});

describe('routing (RFC 5321 §5.1, RFC 7505)', () => {
  it('orders MX hosts by preference, falls back to the domain without MX, and tells permanent from temporary', async () => {
    const resolve = createResolver({ servers: dns.servers, timeoutMs: 1000 });
    dns.set('multi.test', 'MX', [
      { priority: 20, exchange: 'backup.multi.test' },
      { priority: 10, exchange: 'primary.multi.test' },
    ]);
    expect(await routeFor(resolve, 'multi.test', 25)).toEqual({
      kind: 'hosts',
      hosts: [
        { name: 'primary.multi.test', port: 25 },
        { name: 'backup.multi.test', port: 25 },
      ],
    });
    dns.set('nomx.test', 'A', ['127.0.0.9']); // NODATA for MX: the domain itself
    expect(await routeFor(resolve, 'nomx.test', 2525)).toEqual({ kind: 'hosts', hosts: [{ name: 'nomx.test', port: 2525 }] });
    dns.set('null.test', 'MX', [{ priority: 0, exchange: '.' }]);
    expect(await routeFor(resolve, 'null.test', 25)).toMatchObject({ kind: 'permanent', status: '5.1.10' });
    expect(await routeFor(resolve, 'does-not-exist.test', 25)).toMatchObject({ kind: 'permanent', status: '5.1.2' });
    dns.set('slow.test', 'MX', [{ priority: 10, exchange: 'mx.slow.test' }]);
    dns.mode('slow.test', 'servfail');
    expect(await routeFor(resolve, 'slow.test', 25)).toMatchObject({ kind: 'temporary', status: '4.4.3' });
  });
});

describe('retry schedule', () => {
  it('doubles from the base, caps at the maximum, and ends at the lifetime', () => {
    const cfg = { retryBaseSeconds: 300, retryMaxSeconds: 4 * 3600, lifetimeSeconds: 5 * 86_400 };
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => retryDelayMs(cfg, n) / 60_000)).toEqual([5, 10, 20, 40, 80, 160, 240, 240]);
    const created = 1_000_000;
    expect(nextAttempt(cfg, created, 1, created + 1000)).toEqual({ expired: false, at: created + 1000 + 300_000 });
    // The last try is placed at the expiry itself, and after it the message expires.
    const expiry = created + cfg.lifetimeSeconds * 1000;
    expect(nextAttempt(cfg, created, 30, expiry - 60_000)).toEqual({ expired: false, at: expiry });
    expect(nextAttempt(cfg, created, 31, expiry)).toEqual({ expired: true });
  });
});

describe('delivery', () => {
  let a: Instance;
  let port: number;
  const sinks: Array<{ close(): Promise<void> }> = [];

  beforeAll(async () => {
    // One port number for every MX host (queue.mx_port); the hosts differ by address.
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.8', () => r()));
    port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    a = await startInstance({ host: '127.0.0.2', domain: 'a.test', dns, accounts: ['alice@a.test'], mxPort: port });
  });
  afterAll(async () => {
    await a?.close();
    for (const s of sinks) await s.close();
  });

  it('tries the next MX when the preferred one is down, and honours per-recipient replies', async () => {
    // mx1 (preference 10) on 127.0.0.7: nothing listens. mx2 (20) on 127.0.0.8 answers.
    dns.set('per.test', 'MX', [
      { priority: 10, exchange: 'mx1.per.test' },
      { priority: 20, exchange: 'mx2.per.test' },
    ]);
    dns.set('mx1.per.test', 'A', ['127.0.0.7']);
    dns.set('mx2.per.test', 'A', ['127.0.0.8']);
    const sink = await startSink('127.0.0.8', port, {
      rcptReply: (r) => (r.startsWith('busy@') ? { code: 452, text: '4.2.2 Mailbox full, try later' } : r.startsWith('gone@') ? { code: 550, text: '5.1.1 No such user' } : undefined),
    });
    sinks.push(sink);
    await submitter(a, 'alice@a.test').sendMail({ from: 'alice@a.test', to: ['ok@per.test', 'busy@per.test', 'gone@per.test'], subject: 'three fates', text: 'x' });

    await waitFor('the delivery to mx2', () => sink.got.length > 0);
    expect(sink.got[0]!.rcpts).toEqual(['ok@per.test']);
    expect(sink.got[0]!.secure).toBe(true); // STARTTLS offered → used (RFC 3207)
    expect(sink.got[0]!.data).toMatch(/^DKIM-Signature: /);

    const dsn = await waitFor('the DSN for gone@', () => mailbox(a, 'alice@a.test').find((m) => m.includes('gone@per.test')));
    expect(dsn).toContain('Status: 5.1.1');
    expect(dsn).toContain('Remote-MTA: dns; mx2.per.test');
    expect(dsn).not.toContain('Final-Recipient: rfc822; busy@per.test'); // still being retried

    const m = await waitFor('the busy recipient to be deferred', () => {
      const q = listMessages(a.t.ctx.db).find((x) => x.recipients.some((r) => r.rcpt === 'busy@per.test'));
      return q && q.recipients.find((r) => r.rcpt === 'busy@per.test')!.attempts >= 1 ? q : undefined;
    });
    const byRcpt = Object.fromEntries(m.recipients.map((r) => [r.rcpt, r]));
    expect(byRcpt['ok@per.test']!.state).toBe('delivered');
    expect(byRcpt['gone@per.test']!.state).toBe('failed');
    expect(byRcpt['busy@per.test']!.state).toBe('queued');
    expect(byRcpt['busy@per.test']!.lastReply).toBe('452 4.2.2 Mailbox full, try later');
    expect(byRcpt['busy@per.test']!.lastHost).toBe(`mx2.per.test[127.0.0.8]:${port}`);
  });

  it('port 25: an alias with a remote target stores the local copy and forwards once; a failure of either leaves neither', async () => {
    dns.set('fwd.test', 'MX', [{ priority: 10, exchange: 'mx.fwd.test' }]);
    dns.set('mx.fwd.test', 'A', ['127.0.0.12']);
    const sink = await startSink('127.0.0.12', port);
    sinks.push(sink);
    a.t.accounts.addAlias('list@a.test', ['alice@a.test', 'far@fwd.test']);
    const send = (subject: string) =>
      nodemailer
        .createTransport({ host: '127.0.0.2', port: a.smtpPort, secure: false, ignoreTLS: true })
        .sendMail({ envelope: { from: 'x@remote.example', to: ['list@a.test'] }, raw: `From: x@remote.example\r\nTo: list@a.test\r\nSubject: ${subject}\r\n\r\nbody\r\n` });
    const copies = (subject: string) => mailbox(a, 'alice@a.test').filter((m) => m.includes(`Subject: ${subject}`)).length;
    const forwarded = (subject: string) => sink.got.filter((g) => g.data.includes(`Subject: ${subject}`)).length;
    const queued = () => listMessages(a.t.ctx.db).filter((m) => m.recipients.some((r) => r.rcpt === 'far@fwd.test')).length;

    await send('fwd one');
    await waitFor('the forward', () => forwarded('fwd one') === 1);
    expect(copies('fwd one')).toBe(1);
    expect(sink.got.find((g) => g.data.includes('Subject: fwd one'))!.rcpts).toEqual(['far@fwd.test']);

    // The queue cannot take the forward: 451 before anything is stored, so the sender's
    // retry does not leave a second local copy.
    const qdir = path.join(a.t.dataRoot, 'queue');
    await rename(qdir, `${qdir}.aside`);
    await writeFile(qdir, 'not a directory');
    await expect(send('fwd two')).rejects.toMatchObject({ responseCode: 451 });
    expect(copies('fwd two')).toBe(0);
    await unlink(qdir);
    await rename(`${qdir}.aside`, qdir);

    // The local mailbox cannot take it: 451, and the forward queued for it is taken back.
    const inboxNew = path.join(a.t.dataRoot, 'maildir', 'a.test', 'alice', 'new');
    await rename(inboxNew, `${inboxNew}.aside`);
    await writeFile(inboxNew, 'not a directory');
    await expect(send('fwd three')).rejects.toMatchObject({ responseCode: 451 });
    expect(queued()).toBe(0);
    await unlink(inboxNew);
    await rename(`${inboxNew}.aside`, inboxNew);

    // The sender's retries: one copy and one forward each.
    await send('fwd two');
    await send('fwd three');
    await waitFor('both forwards', () => forwarded('fwd two') + forwarded('fwd three') === 2);
    await new Promise((r) => setTimeout(r, 300));
    expect([copies('fwd two'), copies('fwd three'), forwarded('fwd two'), forwarded('fwd three')]).toEqual([1, 1, 1, 1]);
    expect(queued()).toBe(0);
  });

  it('a held message left by a stop (its transaction was never answered) is removed at start, with its file', async () => {
    const r = await startInstance({ host: '127.0.0.13', domain: 'h.test', dns, accounts: ['hank@h.test'], keepData: true });
    const dataRoot = r.t.dataRoot;
    const f = await writeQueueFile(dataRoot, Buffer.from('Subject: held\r\n\r\nx\r\n'));
    const held = insertMessage(r.t.ctx.db, { spoolPath: f.rel, mailFrom: 'hank@h.test', size: f.size, rcpts: ['far@fwd.test'], held: true });
    expect(getMessage(r.t.ctx.db, held)!.recipients[0]!.state).toBe('held');
    await r.close();
    const again = await startInstance({ host: '127.0.0.13', domain: 'h.test', dns, dataRoot });
    try {
      await waitFor('the held message to be removed', () => getMessage(again.t.ctx.db, held) === undefined);
      await waitFor('its file to be removed', () => !existsSync(path.join(dataRoot, f.rel)));
    } finally {
      await again.close();
    }
  });

  it('never bounces a bounce: a null-sender message that fails is dropped without a DSN', async () => {
    dns.set('nb.test', 'MX', [{ priority: 10, exchange: 'mx2.per.test' }]);
    const before = mailbox(a, 'alice@a.test').length;
    const f = await writeQueueFile(a.t.dataRoot, Buffer.from('From: MAILER-DAEMON@mx.a.test\r\nTo: gone@nb.test\r\nSubject: a bounce\r\n\r\nx\r\n'));
    const id = await a.queue.add({ mailFrom: '', rcpts: ['gone@nb.test'], file: `${a.t.dataRoot}/${f.rel}` });
    await waitFor('the null-sender message to leave the queue', () => getMessage(a.t.ctx.db, id) === undefined);
    await new Promise((r) => setTimeout(r, 300));
    expect(mailbox(a, 'alice@a.test').length).toBe(before);
  });
});

describe('relay host and certificate verification', () => {
  it('sends everything through the relay host with AUTH over STARTTLS', async () => {
    const auths: string[] = [];
    const relay = await startSink('127.0.0.10', 0, {
      disabledCommands: [],
      authOptional: false,
      authMethods: ['PLAIN', 'LOGIN'],
      onAuth(auth, _s, cb) {
        auths.push(`${auth.username}:${auth.password}`);
        if (auth.username === 'relayuser' && auth.password === 'relaypass') return cb(null, { user: 'relayuser' });
        cb(new Error('bad credentials'));
      },
    });
    const r = await startInstance({
      host: '127.0.0.11',
      domain: 'r.test',
      dns,
      accounts: ['rita@r.test'],
      configure(c) {
        c.queue.relayHost = `127.0.0.10:${relay.port}`;
        c.queue.relayUsername = 'relayuser';
        c.queue.relayPassword = 'relaypass';
      },
    });
    try {
      // nowhere.test has no DNS at all: with a relay host, the queue never looks.
      await submitter(r, 'rita@r.test').sendMail({ from: 'rita@r.test', to: 'someone@nowhere.test', subject: 'via relay', text: 'x' });
      await waitFor('the relay to receive the message', () => relay.got.length > 0);
      expect(relay.got[0]).toMatchObject({ from: 'rita@r.test', rcpts: ['someone@nowhere.test'], user: 'relayuser', secure: true });
      expect(auths).toEqual(['relayuser:relaypass']);
    } finally {
      await r.close();
      await relay.close();
    }
  });

  it('with verify_tls, refuses a certificate it cannot verify and keeps the message queued', async () => {
    const sink = await startSink('127.0.0.12', 0);
    dns.set('strict.test', 'MX', [{ priority: 10, exchange: 'mx.strict.test' }]);
    dns.set('mx.strict.test', 'A', ['127.0.0.12']);
    const s = await startInstance({
      host: '127.0.0.13',
      domain: 's.test',
      dns,
      accounts: ['sam@s.test'],
      mxPort: sink.port,
      configure(c) {
        c.queue.verifyTls = true;
      },
    });
    try {
      await submitter(s, 'sam@s.test').sendMail({ from: 'sam@s.test', to: 'x@strict.test', subject: 'strict', text: 'x' });
      const r = await waitFor('a failed attempt', () => {
        const rec = listMessages(s.t.ctx.db)[0]?.recipients[0];
        return rec && rec.attempts >= 1 ? rec : undefined;
      });
      expect(r.state).toBe('queued');
      expect(r.lastReply).toMatch(/certificate|TLS/i);
      expect(sink.got).toHaveLength(0);
    } finally {
      await s.close();
      await sink.close();
    }
  });
});

describe('connection reuse', () => {
  it('sends several queued messages for one destination over one connection', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.14', () => r()));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    dns.set('batch.test', 'MX', [{ priority: 10, exchange: 'mx.batch.test' }]);
    dns.set('mx.batch.test', 'A', ['127.0.0.14']);
    const u = await startInstance({
      host: '127.0.0.15',
      domain: 'u.test',
      dns,
      accounts: ['uma@u.test'],
      mxPort: port,
      configure(c) {
        c.queue.concurrency = 1;
        // No automatic retry during the test: base and cap both (the harness caps retries
        // at 2 s). With retries every 2 s, a retry still under way when the test saw all
        // five deferred reached the sink once it was up and delivered its messages over a
        // connection of its own, before the test's kick sent the rest over another.
        c.queue.retryBaseSeconds = 3600;
        c.queue.retryMaxSeconds = 3600;
      },
    });
    let sink: Awaited<ReturnType<typeof startSink>> | undefined;
    try {
      // The destination is down: five messages wait in the queue.
      const t = submitter(u, 'uma@u.test');
      for (let i = 0; i < 5; i++) await t.sendMail({ from: 'uma@u.test', to: `r${i}@batch.test`, subject: `batch ${i}`, text: 'x' });
      await waitFor('five deferred messages', () => {
        const m = listMessages(u.t.ctx.db);
        return m.length === 5 && m.every((x) => x.recipients[0]!.attempts >= 1);
      });
      let connections = 0;
      sink = await startSink('127.0.0.14', port, {
        onConnect(_s, cb) {
          connections++;
          cb();
        },
      });
      retryNow(u.t.ctx.db);
      u.queue.kick();
      await waitFor('the five messages at the destination', () => sink!.got.length === 5);
      expect(sink.got.map((g) => g.rcpts[0]).sort()).toEqual(['r0@batch.test', 'r1@batch.test', 'r2@batch.test', 'r3@batch.test', 'r4@batch.test']);
      expect(connections).toBe(1);
      await waitFor('queue to empty', () => listMessages(u.t.ctx.db).length === 0);
    } finally {
      await u.close();
      await sink?.close();
    }
  });
});
