// RETR of a message answers in one write (status line, message, terminating "."), not
// three: every write is a system call and a wake-up of the client, which is what POP3
// with 10 busy clients paid for (issue 16; figures in bench/imap-large). Sizes: just
// under and over the 64 KiB the server gathers before writing; both byte-identical.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPop3Env, type Pop3Env } from './env.js';

let env: Pop3Env;
beforeAll(async () => {
  env = await startPop3Env();
});
afterAll(() => env.close());

/** A raw session: each 'data' event the client saw, per command. */
async function session(port: number, host: string): Promise<{ send(line: string, until: string): Promise<Buffer[]>; close(): void }> {
  const s = net.connect(port, host);
  let events: Buffer[] = [];
  let wake: (() => void) | undefined;
  s.on('data', (d: Buffer) => {
    events.push(d);
    wake?.();
  });
  const waitFor = async (until: string): Promise<Buffer[]> => {
    while (!Buffer.concat(events).toString('latin1').endsWith(until)) await new Promise<void>((r) => (wake = r));
    const got = events;
    events = [];
    return got;
  };
  await waitFor('\r\n');
  return {
    send: (line, until) => {
      s.write(`${line}\r\n`);
      return waitFor(until);
    },
    close: () => s.destroy(),
  };
}

describe('POP3 RETR writes', () => {
  it('a small message comes in one piece; one over 64 KiB is byte-identical', async () => {
    const { user, pass } = await env.newAccount();
    const small = `From: a@example.org\r\nSubject: one write\r\n\r\n${'x'.repeat(60)}\r\n`;
    const big = `From: a@example.org\r\nSubject: several\r\n\r\n${`${'y'.repeat(76)}\r\n`.repeat(900)}`;
    await env.deliver(small, user);
    await env.deliver(big, user);
    const c = await session(env.pop3, env.host);
    await c.send(`USER ${user}`, '\r\n');
    await c.send(`PASS ${pass}`, '\r\n');
    const one = await c.send('RETR 1', '\r\n.\r\n');
    expect(one.length, 'status line, message and "." in one segment').toBe(1);
    expect(Buffer.concat(one).toString('latin1')).toBe(`+OK ${small.length} octets\r\n${small}.\r\n`);
    const two = Buffer.concat(await c.send('RETR 2', '\r\n.\r\n')).toString('latin1');
    expect(two).toBe(`+OK ${big.length} octets\r\n${big}.\r\n`);
    await c.send('QUIT', '\r\n');
    c.close();
  });
});
