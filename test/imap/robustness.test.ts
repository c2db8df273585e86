// Hostile input: garbage at each state gets BAD or BYE, never a crash; limits on
// literals (NO [TOOBIG] before "+", RFC 7889), lines and bad commands; other
// connections are untouched.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Response } from '../helpers/imap-client.js';
import { message, startImapFixture, type ImapFixture } from './fixture.js';

let f: ImapFixture;
beforeAll(async () => {
  f = await startImapFixture({ store: 'memory', configure: (c) => (c.limits.maxMessageSize = 100_000) });
});
afterAll(async () => {
  await f.close();
});

const GARBAGE = [
  'a1 FETCH',
  'a2 FETCH 1:* (FLAGS',
  'a3 SELECT',
  'a4 LIST "',
  'a5 STORE 1 +FLAGS (\\Seen',
  'a6 SEARCH OR',
  'a7 SEARCH (((((',
  'a8 UID',
  'a9 UID FROB 1',
  'a10 APPEND',
  'a11 CREATE "\0"',
  'a12 FETCH 1 BODY[1.2.3.HEADER.FIELDS (]',
  'a13 FETCH 4294967296 FLAGS',
  'a14 STATUS INBOX (MESSAGES',
  'a15 COPY',
  'a16 SEARCH LARGER x',
  'a17 LOGIN "unterminated',
  'a18 ENABLE',
  'a19 FETCH 1 BODY[]<5.0>',
  'a20 SELECT "&Jjo"',
];

describe('robustness', () => {
  it('answers garbage in every state with BAD, and the connection keeps working', async () => {
    await f.deliver('mjl@example.test', message(1));
    for (const state of ['nonauth', 'auth', 'selected'] as const) {
      const open = async () => {
        const c = await f.connect({ strict: false }); // garbage in, BYE expected
        if (state !== 'nonauth') await c.login('mjl@example.test', 'test-password');
        if (state === 'selected') await c.transact('ok', 'SELECT INBOX');
        return c;
      };
      let c = await open();
      // A BYE may be this line's answer or the end the previous line's answer brought
      // (bad-command budget), so after one the line is sent again on a fresh session:
      // every line is answered by a live one, without waiting to see whether a BYE follows.
      const answer = async (tag: string, rest: string): Promise<Response> => {
        let r: Response | undefined;
        for (let tries = 0; tries < 2 && r?.type !== 'BAD' && r?.type !== 'NO' && r?.type !== 'OK'; tries++) {
          if (r) {
            await c.close();
            c = await open();
          }
          c.write(`${tag} ${rest}\r\n`);
          r = await c.waitFor((x) => x.tag === tag || x.type === 'BYE');
        }
        if (r!.type === 'BYE') {
          await c.close();
          c = await open();
        }
        return r!;
      };
      for (const g of GARBAGE) {
        const [tag, ...rest] = g.split(' ');
        // Each line gets a tagged BAD/NO, or BYE (unknown command before login, bad-command budget).
        const r = await answer(tag!, rest.join(' '));
        expect(['BAD', 'NO', 'BYE'], `${state}: ${g} → ${r.raw}`).toContain(r.type);
      }
      if (state !== 'nonauth') expect((await answer('n1', 'NOOP')).type).toBe('OK');
      await c.close();
    }
  }, 60_000);

  it('ends the session after too many bad commands', async () => {
    const c = await f.connect({ strict: false });
    await c.login('mjl@example.test', 'test-password');
    let bye = false;
    for (let i = 0; i < 30 && !bye; i++) {
      c.write(`b${i} FETCH\r\n`);
      for (;;) {
        // No answer is a hang and fails here (timeout); it does not count as the end.
        const r = await c.readResponse();
        if (r.type === 'BYE') bye = true;
        if (r.tag !== '*' || bye) break;
      }
    }
    expect(bye).toBe(true);
    // ... and then the server closes the connection (RFC 9051 §7.1.5).
    await expect(c.readResponse(5000)).rejects.toThrow(/connection closed/);
  });

  it('says BYE to an unknown command before login (cross-protocol)', async () => {
    const c = await f.connect({ strict: false }); // not IMAP at all
    c.write('GET / HTTP/1.1\r\n');
    const rs = await c.drain(300);
    expect(rs.some((r) => r.type === 'BYE')).toBe(true);
  });

  it('refuses a too big APPEND literal with NO [TOOBIG] before the continuation (RFC 7889)', async () => {
    const c = await f.client();
    c.write('t1 APPEND INBOX {200000}\r\n');
    const r = await c.readResponse();
    expect(r.tag).toBe('t1');
    expect(r.type).toBe('NO');
    expect(r.code).toBe('TOOBIG');
    await c.transact('ok', 'NOOP');
    // LITERAL+ too big: the connection cannot be resynchronised safely → BYE
    c.write('t2 APPEND INBOX {20000000+}\r\n');
    const rs = await c.drain(300);
    expect(rs.some((x) => x.type === 'BYE' || (x.tag === 't2' && x.type === 'NO'))).toBe(true);
  });

  it('accepts LITERAL+ and literals in mailbox names', async () => {
    const c = await f.client();
    c.write('t1 CREATE {4+}\r\nlit1\r\n');
    const r = await c.readResponse();
    expect([r.tag, r.type]).toEqual(['t1', 'OK']);
    await c.transact('ok', ['STATUS ', Buffer.from('lit1'), ' (MESSAGES)']);
  });

  it('closes on a line longer than the limit, other connections unaffected', async () => {
    const other = await f.client();
    const c = await f.connect({ strict: false }); // BYE expected
    c.write('x'.repeat(70_000) + '\r\n');
    const rs = await c.drain(300);
    expect(rs.some((r) => r.type === 'BYE')).toBe(true);
    await other.transact('ok', 'NOOP');
  });

  it('handles a command split into single bytes', async () => {
    const c = await f.connect();
    const cmd = 'z1 LOGIN mjl@example.test test-password\r\n';
    for (const ch of cmd) {
      c.write(ch);
      await new Promise((r) => setImmediate(r));
    }
    const r = await c.readResponse();
    expect([r.tag, r.type]).toEqual(['z1', 'OK']);
  });
});
