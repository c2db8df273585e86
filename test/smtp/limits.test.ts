// Port 25 limits: refused recipients (Postfix smtpd_soft_error_limit /
// smtpd_hard_error_limit), connections per client (IPv6 per /64) and per listener, and
// that one client holding its share of connections does not slow anyone else down.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PerIpLimit } from '../../src/util/per-ip-limit.js';
import { startTestServer, type TestServer } from '../helpers/servers.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A client bound to a loopback address of its own (127.0.0.0/8 is all ours on Linux). */
async function connectFrom(port: number, localAddress: string): Promise<SmtpTestClient> {
  return SmtpTestClient.fromSocket(net.connect({ port, host: '127.0.0.1', localAddress }));
}

describe('refused recipients (Postfix smtpd_soft_error_limit / smtpd_hard_error_limit)', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({
      configure: (c) => {
        c.checks.enabled = false;
        c.limits.smtpSoftErrorLimit = 3;
        c.limits.smtpHardErrorLimit = 6;
        c.limits.smtpErrorDelayMs = 300;
      },
    });
    await t.addAccount('known@example.test');
  });
  afterAll(() => t?.close());

  it('past the soft limit each refusal comes late; at the hard limit 421 and the connection is closed', async () => {
    const c = await SmtpTestClient.connect(t.port('smtp'));
    await c.hello();
    expect((await c.cmd('MAIL FROM:<probe@remote.example>')).code).toBe(250);
    const times: number[] = [];
    for (let i = 1; i <= 5; i++) {
      const started = Date.now();
      expect((await c.cmd(`RCPT TO:<nobody${i}@example.test>`)).text).toMatch(/^550 5\.1\.1 /);
      times.push(Date.now() - started);
    }
    // The 4th and 5th waited the configured delay (a lower bound: a delay is never shorter).
    expect(times[3]).toBeGreaterThanOrEqual(290);
    expect(times[4]).toBeGreaterThanOrEqual(290);
    // A known recipient is still taken (it is not an error).
    expect((await c.cmd('RCPT TO:<known@example.test>')).code).toBe(250);
    expect((await c.cmd('RCPT TO:<nobody6@example.test>')).text).toMatch(/^421 4\.7\.0 Too many errors/);
    expect(await c.waitClosed(3000)).toBe(true);
  });

  it('an accepted message starts the count again ("without delivering mail")', async () => {
    const c = await SmtpTestClient.connect(t.port('smtp'));
    await c.hello();
    for (let round = 0; round < 2; round++) {
      expect((await c.cmd('MAIL FROM:<probe@remote.example>')).code).toBe(250);
      for (let i = 0; i < 5; i++) expect((await c.cmd(`RCPT TO:<nobody${i}@example.test>`)).code).toBe(550);
      expect((await c.cmd('RCPT TO:<known@example.test>')).code).toBe(250);
      expect((await c.cmd('DATA')).code).toBe(354);
      expect((await c.cmd('Subject: counted\r\n\r\nhi\r\n.')).code).toBe(250);
    }
    c.close();
  });
});

describe('connections', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({
      configure: (c) => {
        c.checks.enabled = false;
        c.limits.maxConnectionsPerIp = 20;
        c.limits.maxConnections = 22;
      },
    });
    await t.addAccount('busy@example.test');
  });
  afterAll(() => t?.close());

  it('20 connections held open by a slow client on 127.0.0.1: 127.0.0.2 is still served within a second; the 21st from .1 gets 421', async () => {
    const port = t.port('smtp');
    const slow: SmtpTestClient[] = [];
    for (let i = 0; i < 20; i++) {
      const c = await connectFrom(port, '127.0.0.1');
      expect((await c.reply()).code).toBe(220);
      c.write('EHLO slow'); // a line that never ends
      slow.push(c);
    }
    const dripping = setInterval(() => slow.forEach((c) => c.write('w')), 200);
    try {
      const started = Date.now();
      const other = await connectFrom(port, '127.0.0.2');
      await other.hello();
      expect((await other.cmd('MAIL FROM:<a@remote.example>')).code).toBe(250);
      expect((await other.cmd('RCPT TO:<busy@example.test>')).code).toBe(250);
      expect((await other.cmd('DATA')).code).toBe(354);
      expect((await other.cmd('Subject: served\r\n\r\nhello\r\n.')).code).toBe(250);
      expect(Date.now() - started).toBeLessThan(1000);
      other.close();

      const extra = await connectFrom(port, '127.0.0.1');
      expect((await extra.reply()).text).toMatch(/^421 4\.7\.0 Too many connections from your address/);
      extra.close();
    } finally {
      clearInterval(dripping);
      slow.forEach((c) => c.close());
    }
  });

  it('each listener has a global connection cap (limits.max_connections)', async () => {
    const port = t.port('smtp');
    const held: SmtpTestClient[] = [];
    try {
      // 22 from three addresses (under 20 each) fill the listener.
      for (let i = 0; i < 22; i++) {
        const c = await connectFrom(port, `127.0.0.${3 + (i % 3)}`);
        expect((await c.reply()).code).toBe(220);
        held.push(c);
      }
      const over = await connectFrom(port, '127.0.0.9');
      expect((await over.reply()).code).toBe(421);
      over.close();
    } finally {
      held.forEach((c) => c.close());
    }
    await sleep(300);
    const again = await connectFrom(port, '127.0.0.9');
    expect((await again.reply()).code).toBe(220);
    again.close();
  });
});

describe('PerIpLimit', () => {
  it('counts an IPv6 client per /64, an IPv4-mapped address as its IPv4 address', () => {
    const l = new PerIpLimit(() => 2);
    expect(l.enter('a', '2001:db8:1:2::1')).toBe(true);
    expect(l.enter('b', '2001:db8:1:2:ffff:ffff:ffff:fffe')).toBe(true);
    expect(l.enter('c', '2001:db8:1:2:0:0:0:9')).toBe(false); // same /64
    expect(l.enter('d', '2001:db8:1:3::1')).toBe(true); // the next /64
    expect(l.enter('e', '192.0.2.1')).toBe(true);
    expect(l.enter('f', '::ffff:192.0.2.1')).toBe(true);
    expect(l.enter('g', '192.0.2.1')).toBe(false);
    l.leave('a');
    expect(l.count('2001:db8:1:2::77')).toBe(1);
    expect(l.enter('h', '2001:db8:1:2::77')).toBe(true);
    l.leave('c'); // refused, never counted: no-op
    expect(l.count('2001:db8:1:2::')).toBe(2);
  });
});
