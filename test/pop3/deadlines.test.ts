// POP3 deadlines (issue 14 item 2): a login must complete within limits.login_deadline_ms
// of connecting and a command line within limits.command_deadline_ms of its first byte,
// however the client trickles (one byte a second no longer keeps a connection open).
// Neither ends a connection that keeps to them; an ended TRANSACTION deletes nothing
// (RFC 1939 §6: no UPDATE state).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pop3Client } from '../helpers/pop3-client.js';
import { startPop3Env, type Pop3Env } from './env.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function trickle(c: Pop3Client, text: string, ms: number, stop: () => boolean): Promise<void> {
  for (const ch of text) {
    if (stop()) return;
    c.send(ch);
    await sleep(ms);
  }
}

function within<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  return Promise.race([p, sleep(ms).then(() => 'timeout' as const)]);
}

let env: Pop3Env;
beforeAll(async () => {
  env = await startPop3Env({
    listen: { loginDeadlineMs: 3000 }, // room for a login on a busy machine
    configure: (c) => (c.limits.commandDeadlineMs = 600),
  });
});
afterAll(async () => {
  await env?.close();
});

describe('POP3 deadlines (issue 14 item 2)', () => {
  it('ends a connection that has not logged in within the login deadline, however it trickles', async () => {
    const c = await env.connect();
    let closed = false;
    const done = c.waitClosed().then(() => (closed = true));
    const t0 = Date.now();
    // Complete lines allowed before login (not bad commands), each well within the command deadline.
    const dripping = trickle(c, 'CAPA\r\n'.repeat(60), 40, () => closed); // 14 s at this rate
    expect(await within(done, 7000)).toBe(true);
    expect(Date.now() - t0).toBeLessThan(6500);
    await dripping;
  });

  it('ends a connection whose command line is not complete within the command deadline', async () => {
    const { user, pass } = await env.newAccount(); // its own maildrop: no lock shared with other tests
    const c = await env.login(user, pass);
    let closed = false;
    const done = c.waitClosed().then(() => (closed = true));
    const dripping = trickle(c, 'LIST 1 2 3 4 5 6 7 8 9\r\n', 100, () => closed); // 2.4 s at this rate
    expect(await within(done, 3000)).toBe(true);
    await dripping;
  });

  it('leaves a client alone that logs in in time and sends whole lines', async () => {
    const { user, pass } = await env.newAccount();
    const c = await env.login(user, pass);
    for (let i = 0; i < 4; i++) {
      await sleep(850); // 3.4 s in all: past the login deadline
      expect((await c.cmd('NOOP')).ok).toBe(true);
    }
    await c.quit();
  });
});
