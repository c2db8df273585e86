// Failed logins slow down the next ones from the same client across connections and
// protocols (src/accounts/throttle.ts): IMAP, POP3 and submission over real sockets, and
// the client keys. Timings are asserted as lower bounds only (a slow machine can only
// make them longer).
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientKey } from '../../src/util/net.js';
import { ImapTestClient, quote } from '../helpers/imap-client.js';
import { Pop3Client } from '../helpers/pop3-client.js';
import { startTestServer, type TestServer } from '../helpers/servers.js';

const BASE = 100;
const MAX = 400;
const USER = 'alice@example.test';
const PASS = 'right password';
let t: TestServer;

beforeAll(async () => {
  t = await startTestServer({
    configure: (c) => {
      c.auth.penaltyBaseMs = BASE;
      c.auth.penaltyMaxMs = MAX;
      c.auth.penaltyExempt = []; // the tests' clients are on loopback, exempt by default
      c.auth.allowPlaintextOnLoopback = true;
    },
  });
  await t.addAccount(USER, PASS);
});
afterAll(async () => {
  await t?.close();
});

const failures = () => t.ctx.loginThrottle!.failuresOf('127.0.0.1');

async function imapLogin(pass: string): Promise<{ ok: boolean; ms: number }> {
  const c = await ImapTestClient.connect(t.port('imap'));
  try {
    const started = Date.now();
    const r = await c.transact(null, `LOGIN ${quote(USER)} ${quote(pass)}`);
    return { ok: r.tagged.type === 'OK', ms: Date.now() - started };
  } finally {
    await c.close();
  }
}

describe('login penalty', () => {
  it('grows per failure across IMAP, POP3 and submission, serialises a penalised client, and clears on success', async () => {
    expect(await imapLogin('wrong 1')).toMatchObject({ ok: false });
    expect(failures()).toBe(1);
    // After one failure the next attempt waits BASE before its check; after two, 2·BASE.
    expect((await imapLogin('wrong 2')).ms).toBeGreaterThanOrEqual(BASE);
    expect((await imapLogin('wrong 3')).ms).toBeGreaterThanOrEqual(2 * BASE);
    expect(failures()).toBe(3);

    // Another protocol, the same client: the count goes on (4·BASE = MAX).
    const pop = await Pop3Client.connect(t.port('pop3'));
    let started = Date.now();
    const popRes = await pop.login(USER, 'wrong 4');
    expect(popRes.ok).toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(MAX);
    await pop.quit().catch(() => undefined);
    expect(failures()).toBe(4);

    // Parallel connections do not multiply the rate: three attempts run one after another.
    started = Date.now();
    const par = await Promise.all([imapLogin('wrong 5'), imapLogin('wrong 6'), imapLogin('wrong 7')]);
    expect(par.every((r) => !r.ok)).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(3 * MAX);
    expect(failures()).toBe(7);

    // The right password still gets in (after the wait), over submission, and clears the count.
    started = Date.now();
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: t.port('submission'), secure: false, ignoreTLS: true, auth: { user: USER, pass: PASS } });
    await expect(transport.verify()).resolves.toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(MAX);
    expect(failures()).toBe(0);
    expect(await imapLogin(PASS)).toMatchObject({ ok: true });
    expect(await imapLogin('wrong again')).toMatchObject({ ok: false });
    expect(failures()).toBe(1);
  });

  it('counts IPv4 addresses one by one and IPv6 by /64', () => {
    expect(clientKey('192.0.2.7')).toBe('192.0.2.7');
    expect(clientKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(clientKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
  });

  it('never penalises exempt networks (loopback by default)', async () => {
    const own = await startTestServer({ configure: (c) => Object.assign(c.auth, { penaltyBaseMs: 5000, penaltyMaxMs: 5000 }) });
    try {
      await own.addAccount(USER, PASS);
      for (let i = 0; i < 3; i++) {
        const c = await ImapTestClient.connect(own.port('imap'));
        await c.transact('no', `LOGIN ${quote(USER)} "wrong"`);
        await c.close();
      }
      expect(own.ctx.loginThrottle!.failuresOf('127.0.0.1')).toBe(0);
    } finally {
      await own.close();
    }
  });
});
