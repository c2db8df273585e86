// Deadlines of SMTP connections on both listeners (src/smtp/guard.ts): a command line
// must be complete within the command timeout whatever trickles in (Postfix
// smtpd_per_record_deadline), DATA must keep a minimum rate (smtpd_min_data_rate), and a
// connection told 421 is destroyed after a short grace whatever its write buffer holds
// (a client that never reads). Real sockets, raw line clients.
import net from 'node:net';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/servers.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';

const USER = 'dl@example.test';
const PASSWORD = 'deadline-password';
const TIMEOUT_MS = 1000; // the smallest the config allows

let t: TestServer;

beforeAll(async () => {
  t = await startTestServer({
    configure: (c) => {
      c.checks.enabled = false;
      c.auth.allowPlaintextOnLoopback = true;
      c.limits.smtpIdleTimeoutMs = TIMEOUT_MS;
      c.limits.smtpMinDataRate = 1000;
      c.limits.smtpDataTimeoutMs = 60_000;
    },
  });
  await t.addAccount(USER, PASSWORD);
});

afterAll(async () => {
  await t?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function stored(): number {
  let n = 0;
  for (const sub of ['new', 'cur']) {
    const dir = path.join(t.dataRoot, 'maildir', 'example.test', 'dl', sub);
    if (existsSync(dir)) n += readdirSync(dir).length;
  }
  return n;
}

/** Greeting, EHLO, (AUTH on submission), MAIL, RCPT, DATA → 354. */
async function toData(listener: 'smtp' | 'submission'): Promise<SmtpTestClient> {
  const c = await SmtpTestClient.connect(t.port(listener));
  await c.hello();
  if (listener === 'submission') expect((await c.cmd(`AUTH PLAIN ${Buffer.from(`\0${USER}\0${PASSWORD}`).toString('base64')}`)).code).toBe(235);
  expect((await c.cmd(`MAIL FROM:<${listener === 'smtp' ? 'someone@remote.example' : USER}>`)).code).toBe(250);
  expect((await c.cmd(`RCPT TO:<${USER}>`)).code).toBe(250);
  expect((await c.cmd('DATA')).code).toBe(354);
  return c;
}

/** Writes `data` one byte every `everyMs` until done or the connection closes; how many were sent. */
async function trickle(c: SmtpTestClient, data: string, everyMs: number): Promise<number> {
  let i = 0;
  for (; i < data.length && !c.closed; i++) {
    c.write(data[i]!);
    await sleep(everyMs);
  }
  return i;
}

describe.each(['smtp', 'submission'] as const)('%s: deadlines, not idle timers', (listener) => {
  it('a command line sent one byte at a time is cut off at the command timeout (Postfix smtpd_per_record_deadline)', async () => {
    const c = await SmtpTestClient.connect(t.port(listener));
    expect((await c.reply()).code).toBe(220);
    const started = Date.now();
    const line = 'EHLO slowloris.example.net\r\n';
    const sent = await trickle(c, line, 200);
    // An idle timer (reset by every byte) would have let the whole line through.
    expect(sent).toBeLessThan(line.length);
    const r = await c.reply();
    expect(r.text).toMatch(/^421 4\.4\.2 /);
    expect(await c.waitClosed(3000)).toBe(true);
    expect(Date.now() - started).toBeLessThan(line.length * 200);
  });

  it('DATA below the minimum rate is cut off with 421, nothing stored (Postfix smtpd_min_data_rate)', async () => {
    const before = stored();
    const c = await toData(listener);
    const body = 'Subject: slow\r\n\r\n' + 'x'.repeat(200) + '\r\n.\r\n';
    const sent = await trickle(c, body, 100); // 10 bytes a second, the floor is 1000
    expect(sent).toBeLessThan(body.length);
    expect((await c.reply()).text).toMatch(/^421 4\.4\.2 /);
    expect(await c.waitClosed(3000)).toBe(true);
    await sleep(100);
    expect(stored()).toBe(before);
  });

  it('DATA above the minimum rate may take longer than the command timeout', async () => {
    const before = stored();
    const c = await toData(listener);
    c.write(`From: <${USER}>\r\nSubject: steady\r\n\r\n`);
    // 2 KB every 250 ms (8 KB/s) for 3 command timeouts.
    for (let i = 0; i < 12; i++) {
      c.write('y'.repeat(2046) + '\r\n');
      await sleep(250);
    }
    c.write('.\r\n');
    expect((await c.reply()).code).toBe(250);
    c.close();
    expect(stored()).toBe(before + 1);
  });

  it('the whole DATA phase has a cap (limits.smtp_data_timeout_ms): past it the connection ends with 421, not just the message', async () => {
    const limits = t.ctx.config.limits;
    const saved = { rate: limits.smtpMinDataRate, cap: limits.smtpDataTimeoutMs };
    limits.smtpMinDataRate = 1; // the rate floor out of the way
    limits.smtpDataTimeoutMs = 1500;
    try {
      const before = stored();
      const c = await toData(listener);
      const sent = await trickle(c, 'Subject: capped\r\n\r\n' + 'z'.repeat(60) + '\r\n.\r\n', 100);
      expect(sent).toBeLessThan(80);
      expect((await c.reply()).text).toMatch(/^421 4\.4\.2 /);
      expect(await c.waitClosed(3000)).toBe(true);
      expect(stored()).toBe(before);
    } finally {
      limits.smtpMinDataRate = saved.rate;
      limits.smtpDataTimeoutMs = saved.cap;
    }
  });

  it('a client that never reads is destroyed a short grace after the deadline, whatever its write buffer holds', async () => {
    const socket = net.connect(t.port(listener), '127.0.0.1');
    await new Promise<void>((r) => socket.once('connect', () => r()));
    socket.pause(); // never reads: the replies pile up in the server's write buffer
    let closed = false;
    socket.on('close', () => (closed = true));
    socket.on('error', () => undefined);
    // Pipelined EHLOs (each answered with a multi-line reply), then a trickle of bytes.
    socket.write('EHLO never-reads.example\r\n'.repeat(600));
    for (let i = 0; i < 20 && !socket.destroyed; i++) {
      socket.write('N');
      await sleep(150);
    }
    socket.resume(); // now read what is there: the server must have gone
    const end = Date.now() + 3000;
    while (!closed && Date.now() < end) await sleep(50);
    expect(closed).toBe(true);
  });
});

describe('shutdown', () => {
  it.each(['smtp', 'submission'])('%s: close(grace) ends every connection after the grace, a client that never reads included', async (listener) => {
    const own = await startTestServer({ configure: (c) => (c.checks.enabled = false) });
    try {
      const idle = await SmtpTestClient.connect(own.port(listener));
      await idle.hello();
      const deaf = net.connect(own.port(listener), '127.0.0.1');
      deaf.on('error', () => undefined);
      let deafClosed = false;
      deaf.on('close', () => (deafClosed = true));
      await new Promise<void>((r) => deaf.once('connect', () => r()));
      deaf.pause();
      deaf.write('EHLO deaf.example\r\n'.repeat(300));
      await sleep(300);
      const started = Date.now();
      await own.server.listeners.get(listener)!.close(300);
      expect(await idle.waitClosed(3000)).toBe(true);
      deaf.resume();
      const end = Date.now() + 3000;
      while (!deafClosed && Date.now() < end) await sleep(50);
      expect(deafClosed).toBe(true);
      // The grace (300 ms) + the guard's close grace (1 s) + slack for a loaded machine.
      expect(Date.now() - started).toBeLessThan(4000);
    } finally {
      await own.close();
    }
  });
});
