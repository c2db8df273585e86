// Hostile clients (issue 14 items 1–3): a client that never reads is logged out anyway;
// deadlines for login and for a command line (slowloris); literals checked before "+"
// (RFC 9051 §7.6, RFC 7889 §4), LITERAL+ refusals that stop reading (RFC 7888 §4), and
// framer refusals that carry the tag.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImapTestClient } from '../helpers/imap-client.js';
import type { TestServer } from '../helpers/servers.js';
import { message as sized, PW, quotaServer } from '../quota/env.js';
import { message, PASS, startImapFixture, USER, type ImapFixture } from './fixture.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let f: ImapFixture;
beforeAll(async () => {
  f = await startImapFixture({
    configure: (c) => (c.limits.maxMessageSize = 4 * 1024 * 1024),
    listen: { timeouts: { authMs: 500, loginDeadlineMs: 2000, commandDeadlineMs: 600, literalMinRate: 100, closeGraceMs: 300 } },
  });
  await f.deliver(USER, message(1, { body: ('z'.repeat(998) + '\r\n').repeat(1024) })); // 1 MB
});
afterAll(async () => {
  await f.close();
});

/** A raw socket (it will never read) that has logged in and selected INBOX. */
async function rawSession(user = USER): Promise<{ s: net.Socket; received: () => number; closed: Promise<void> }> {
  const s = net.connect({ port: f.port, host: '127.0.0.1' });
  let got = '';
  let bytes = 0;
  const closed = new Promise<void>((resolve) => s.on('close', () => resolve()));
  s.on('error', () => undefined);
  const ready = new Promise<void>((resolve) => {
    s.on('data', (d: Buffer) => {
      bytes += d.length;
      if (got.length < 10_000) got += d.toString('latin1');
      if (/s1 OK/.test(got)) resolve();
    });
  });
  s.write(`l1 LOGIN ${user} ${PASS}\r\ns1 SELECT INBOX\r\n`);
  await ready;
  return { s, received: () => bytes, closed };
}

/** Writes `text` one byte every `ms` until the socket closes or the text ends. */
/** Writes `text` `bytes` at a time (one by default), `ms` apart. */
async function trickle(s: net.Socket, text: string, ms: number, bytes = 1): Promise<void> {
  for (let i = 0; i < text.length; i += bytes) {
    if (s.destroyed || s.writableEnded) return;
    s.write(text.slice(i, i + bytes));
    await sleep(ms);
  }
}

function closedWithin(socket: net.Socket, ms: number): Promise<boolean> {
  if (socket.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    socket.once('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

describe('a client that never reads (issue 14 item 1)', () => {
  it('is logged out by the autologout timer whatever its write buffer holds (RFC 9051 §5.4)', async () => {
    const reader = 'reader@example.test';
    await f.addAccount(reader, PASS);
    await f.deliver(reader, message(1, { body: ('z'.repeat(998) + '\r\n').repeat(1024) })); // 1 MB
    const { s, received, closed } = await rawSession(reader);
    const sessions = () => (f.ctx.store.changes as unknown as { listenerCount(a: string): number }).listenerCount(reader);
    expect(sessions()).toBe(1);
    s.pause(); // never reads again
    for (let i = 0; i < 8; i++) s.write(`f${i} FETCH 1 BODY.PEEK[]\r\n`); // 8 MB of answers, more than the socket buffers hold
    // The autologout timer (500 ms) fires while the server's writes are stuck: the
    // session ends while the client still reads nothing (the socket is destroyed after
    // the 300 ms grace, whatever is still buffered).
    const t0 = Date.now();
    while (sessions() > 0 && Date.now() - t0 < 4000) await sleep(50);
    expect(sessions()).toBe(0);
    await sleep(500);
    s.resume();
    const ended = await Promise.race([closed.then(() => true), sleep(3000).then(() => false)]);
    expect(ended).toBe(true);
    expect(received()).toBeLessThan(8 * 1024 * 1024); // cut off, not served to the end
    // Other sessions are unaffected.
    const c = await f.client();
    await c.transact('ok', 'NOOP');
  });
});

describe('deadlines: one byte a second keeps nothing open (issue 14 item 2)', () => {
  it('ends a connection that has not logged in within the login deadline, however it trickles', async () => {
    const c = await f.connect({ strict: false }); // the BYE arrives mid-command
    const t0 = Date.now();
    // Complete lines, each well within the command deadline (600 ms: three pieces 50 ms
    // apart, so timers late under load do not end a line first), none of them a login.
    const dripping = trickle(c.socket, 'a1 NOOP\r\n'.repeat(20), 50, 3); // 3 s at this rate
    const bye = await c.waitFor((r) => r.type === 'BYE', 5000);
    expect(bye.text).toMatch(/Login timeout/);
    expect(await closedWithin(c.socket, 1000)).toBe(true);
    expect(Date.now() - t0).toBeLessThan(4500);
    await dripping;
  });

  it('does not apply the login deadline once logged in', async () => {
    const c = await f.client();
    for (let i = 0; i < 8; i++) {
      await sleep(300); // 2.4 s in all: past the login deadline (2 s); each pause within autologout (500 ms)
      await c.transact('ok', 'NOOP');
    }
  });

  it('ends a connection whose command line is not complete within the command deadline', async () => {
    const c = await f.client();
    c.strict = false;
    const dripping = trickle(c.socket, 'a2 STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY)\r\n', 100); // 5 s at this rate
    const bye = await c.waitFor((r) => r.type === 'BYE', 3000);
    expect(bye.text).toMatch(/Command line timeout/);
    expect(await closedWithin(c.socket, 1000)).toBe(true);
    await dripping;
  });

  it('gives a literal time for its bytes on top of the line deadline', async () => {
    const c = await f.client();
    // A 50-byte literal at 100 B/s (the fixture's minimum rate) gets 500 ms on top of
    // the 600 ms line deadline: sent over 800 ms, it is in time.
    c.write('a3 CREATE {50}\r\n');
    expect((await c.readResponse()).tag).toBe('+');
    const name = 'slow-literal-mailbox-'.padEnd(50, 'x');
    await sleep(400);
    c.write(name.slice(0, 25));
    await sleep(400);
    c.write(name.slice(25) + '\r\n');
    expect((await c.readResponse()).type).toBe('OK');
  });
});

describe('literals are checked before "+" (issue 14 item 3)', () => {
  it('refuses APPEND to a missing mailbox with NO [TRYCREATE] before the continuation (RFC 9051 §6.3.12)', async () => {
    const c = await f.client();
    c.write('t1 APPEND Nonexistent {1000}\r\n');
    const r = await c.readResponse();
    expect([r.tag, r.type, r.code]).toEqual(['t1', 'NO', 'TRYCREATE']);
    await c.transact('ok', 'NOOP'); // no "+" came; the session goes on
  });

  it('refuses a literal of a command not allowed in the state before the continuation', async () => {
    const c = await f.connect({ strict: false });
    c.write('t1 APPEND INBOX {1000}\r\n');
    const r = await c.readResponse();
    expect([r.tag, r.type]).toEqual(['t1', 'BAD']);
  });

  it('checks a pipelined APPEND in the state it will run in (after the LOGIN before it)', async () => {
    const c = await f.connect({ strict: false });
    const msg = message(7);
    c.write(`p1 LOGIN ${USER} ${PASS}\r\np2 APPEND INBOX {${Buffer.byteLength(msg)}}\r\n`);
    expect((await c.readResponse()).tag).toBe('p1');
    expect((await c.readResponse()).tag).toBe('+');
    c.write(msg + '\r\n');
    const r = await c.readResponse();
    expect([r.tag, r.type]).toEqual(['p2', 'OK']);
  });

  it('answers "too many literals" with the command\'s tag', async () => {
    const c = await f.connect({ strict: false });
    await c.login(USER, PASS);
    let cmd = 'm1 SEARCH';
    for (let i = 0; i < 65; i++) cmd += ` TEXT {1+}\r\nx`;
    c.write(cmd + '\r\n');
    const r = await c.waitFor((x) => x.tag !== '*' || x.type === 'BYE');
    expect([r.tag, r.type]).toEqual(['m1', 'BAD']);
  });

  it('takes a second message literal in one APPEND (LITERAL+): MULTIAPPEND, RFC 3502', async () => {
    const c = await f.connect({ strict: false });
    await c.login(USER, PASS);
    const before = (await f.ctx.store.getMailbox(USER, 'INBOX')).messages;
    const lit = Buffer.from(message(8));
    c.write(Buffer.concat([Buffer.from(`a1 APPEND INBOX {${lit.length}+}\r\n`), lit, Buffer.from(` {${lit.length}+}\r\n`), lit, Buffer.from(`\r\n`)]));
    const r = await c.waitFor((x) => x.tag === 'a1');
    expect(r.type).toBe('OK');
    expect((await f.ctx.store.getMailbox(USER, 'INBOX')).messages).toBe(before + 2);
  });

  it('refuses a LITERAL+ APPEND over APPENDLIMIT with BAD [TOOBIG] and closes (RFC 7888 §4)', async () => {
    const c = await f.connect({ strict: false });
    await c.login(USER, PASS);
    c.write(`a1 APPEND INBOX {${5 * 1024 * 1024}+}\r\n`);
    const r = await c.waitFor((x) => x.tag === 'a1');
    expect([r.type, r.code]).toEqual(['BAD', 'TOOBIG']);
    expect(await closedWithin(c.socket, 1000)).toBe(true);
  });
});

describe('quota is checked before "+" (issue 14 item 3)', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await quotaServer();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('answers NO [OVERQUOTA] instead of the continuation when the message cannot fit (RFC 9208 §4.3)', async () => {
    await t.addAccount('q@example.test', PW);
    t.accounts.setAccountQuota('q@example.test', { bytes: 3000 });
    const c = await ImapTestClient.connect(t.port('imap'));
    await c.login('q@example.test', PW);
    await c.transact('ok', ['APPEND INBOX ', sized(2500), '']);
    c.write('a9 APPEND INBOX {1000}\r\n');
    const r = await c.readResponse();
    expect([r.tag, r.type, r.code]).toEqual(['a9', 'NO', 'OVERQUOTA']);
    await c.transact('ok', ['APPEND INBOX ', sized(400), '']); // still fits
    await c.transact('ok', 'LOGOUT');
  });
});
