// One address holding its whole share of IMAP and POP3 connections with a slow client
// (issue 14: "with 20 connections per IP already open by a slow client, another address
// still logs in and reads mail within a second"). The slow client trickles a login line
// that never ends on each connection; the event loop is shared by every user, so the
// second address must not wait behind them. 127.0.0.0/8 is all ours on Linux, so the
// two clients bind 127.0.0.1 and 127.0.0.2.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImapTestClient } from '../helpers/imap-client.js';
import { Pop3Client } from '../helpers/pop3-client.js';
import { startTestServer, type TestServer } from '../helpers/servers.js';

const USER = 'reader@example.test';
const PASS = 'secret-password';
const BODY = 'Subject: served\r\nFrom: a@remote.example\r\n\r\n' + 'line of mail\r\n'.repeat(80);

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ configure: (c) => (c.limits.maxConnectionsPerIp = 20) });
  await t.addAccount(USER, PASS);
  await t.ctx.store.deliver([{ account: USER }], { data: Buffer.from(BODY) });
});
afterAll(() => t?.close());

/** 20 connections from 127.0.0.1, each sending a login line one byte at a time. */
async function slowClient(port: number, line: string): Promise<{ sockets: net.Socket[]; stop: () => void }> {
  const sockets: net.Socket[] = [];
  for (let i = 0; i < 20; i++) {
    const s = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.1' });
    s.on('error', () => undefined);
    await new Promise<void>((resolve) => s.once('data', () => resolve())); // the greeting
    sockets.push(s);
  }
  let i = 0;
  const drip = setInterval(() => {
    const ch = line[i++ % line.length]!;
    for (const s of sockets) if (!s.destroyed) s.write(ch);
  }, 100);
  return {
    sockets,
    stop: () => {
      clearInterval(drip);
      for (const s of sockets) s.destroy();
    },
  };
}

/** Resolves with the first line a fresh connection from 127.0.0.1 gets. */
function firstLineFrom(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.1' });
    let got = '';
    s.on('error', () => resolve(got));
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.includes('\r\n')) {
        s.destroy();
        resolve(got.split('\r\n')[0]!);
      }
    });
    s.on('close', () => resolve(got));
  });
}

describe('20 slow connections from one address', () => {
  it('IMAP: 127.0.0.2 logs in, selects and reads a message within a second; a 21st from .1 is refused', async () => {
    const port = t.port('imap');
    const slow = await slowClient(port, `a LOGIN ${USER} wrong-password-sent-slowly`);
    try {
      const started = Date.now();
      const c = await ImapTestClient.connect(port, { localAddress: '127.0.0.2' });
      await c.login(USER, PASS);
      const sel = await c.transact('ok', 'SELECT INBOX');
      expect(sel.untagged.some((r) => r.type === 'EXISTS' && r.num === 1)).toBe(true);
      const f = await c.transact('ok', 'FETCH 1 BODY.PEEK[]');
      expect(f.untagged.map((r) => r.raw).join('\n')).toContain('Subject: served');
      expect(Date.now() - started).toBeLessThan(1000);
      await c.close();

      // RFC 9051 §7.1.5: a connection the server will not serve gets BYE.
      expect(await firstLineFrom(port)).toMatch(/^\* BYE /);
    } finally {
      slow.stop();
    }
  });

  it('POP3: 127.0.0.2 logs in and retrieves the message within a second; a 21st from .1 is refused', async () => {
    const port = t.port('pop3');
    const slow = await slowClient(port, `USER ${USER}`);
    try {
      const started = Date.now();
      const c = await Pop3Client.connect(port, { localAddress: '127.0.0.2' });
      expect((await c.login(USER, PASS)).ok).toBe(true);
      const r = await c.multi('RETR 1');
      expect(r.ok).toBe(true);
      expect(r.lines.join('\n')).toContain('Subject: served');
      expect(Date.now() - started).toBeLessThan(1000);
      await c.quit();

      expect(await firstLineFrom(port)).toMatch(/^-ERR /);
    } finally {
      slow.stop();
    }
  });
});
