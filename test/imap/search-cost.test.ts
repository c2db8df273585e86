// SEARCH cost (issue 14 item 7): each message is read once per SEARCH whatever the
// number of keys, the keys per command are bounded (NO [LIMIT], RFC 5530 §3), and a
// long SEARCH yields so other sessions are answered meanwhile (DESIGN.md "One event
// loop serves everyone"), asserted by the order of events, not by wall time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MailStore } from '../../src/store/types.js';
import { message, startImapFixture, USER, type ImapFixture } from './fixture.js';

const MESSAGES = 40;
let f: ImapFixture;
let reads = 0;

beforeAll(async () => {
  // The cost of reading messages, so without the full-text index (search-fts.test.ts has it).
  f = await startImapFixture({ fts: false, configure: (c) => (c.limits.maxSearchTerms = 60) });
  // Count the real store's reads (a wrapper around it, not a stand-in).
  const store = f.ctx.store as MailStore & { readMessageRange?: (...a: unknown[]) => unknown };
  const readMessage = store.readMessage.bind(store);
  store.readMessage = (...a) => (reads++, readMessage(...a));
  if (store.readMessageRange) {
    const range = store.readMessageRange.bind(store);
    store.readMessageRange = (...a: unknown[]) => (reads++, range(...a));
  }
  for (let i = 1; i <= MESSAGES; i++) {
    const words = Array.from({ length: 30 }, (_, k) => `w${k}x`).filter((_, k) => i % 2 === 0 || k < 10);
    await f.deliver(USER, message(i, { body: `${words.join(' ')}\r\nplain text of message ${i}\r\n` }).replace('Message-ID', `X-Tag: t${i % 3}\r\nMessage-ID`));
  }
});
afterAll(async () => {
  await f.close();
});

describe('SEARCH cost (issue 14 item 7)', () => {
  it('reads each message once, whatever the number of BODY, TEXT and HEADER keys', async () => {
    const c = await f.client();
    await c.transact('ok', 'SELECT INBOX');
    const keys = [...Array.from({ length: 30 }, (_, k) => `BODY w${k}x`), 'TEXT plain', 'HEADER X-Tag t0', 'NOT BODY nowhere'];
    reads = 0;
    const r = await c.transact('ok', `UID SEARCH ${keys.join(' ')}`);
    expect(reads).toBeLessThanOrEqual(MESSAGES);
    // Even messages carry all 30 words; X-Tag t0 every third: UIDs divisible by 6.
    const want = Array.from({ length: MESSAGES }, (_, i) => i + 1).filter((u) => u % 6 === 0);
    expect(r.untagged.find((u) => u.type === 'SEARCH')!.values).toEqual(want);
    // Keys answered by flags first: no message is read when they decide alone.
    reads = 0;
    await c.transact('ok', 'UID SEARCH DELETED BODY w1x BODY w2x');
    expect(reads).toBe(0);
  });

  it('bounds the keys per command with NO [LIMIT] (RFC 5530 §3); the session goes on', async () => {
    const c = await f.client();
    await c.transact('ok', 'SELECT INBOX');
    const at = (n: number) => Array.from({ length: n }, (_, k) => `BODY w${k % 30}x`).join(' ');
    await c.transact('ok', `SEARCH ${at(60)}`);
    const r = await c.transact('no', `SEARCH ${at(61)}`);
    expect(r.tagged.code).toBe('LIMIT');
    const nested = await c.transact('no', `SEARCH ${'NOT '.repeat(40)}(${at(25)})`);
    expect(nested.tagged.code).toBe('LIMIT');
    await c.transact('ok', 'NOOP');
  });

  it("answers another session's NOOP while a long SEARCH runs", async () => {
    const a = await f.client();
    const b = await f.client();
    await a.transact('ok', 'SELECT INBOX');
    const keys = Array.from({ length: 60 }, (_, k) => `TEXT w${k % 30}x`).join(' ');
    const events: string[] = [];
    reads = 0;
    const search = a.transact('ok', `SEARCH ${keys}`).then(() => events.push('search done'));
    // Once the SEARCH is reading messages, the other session asks.
    while (reads === 0) await new Promise((r) => setImmediate(r));
    const noop = b.transact('ok', 'NOOP').then(() => events.push(`noop done after ${reads} reads`));
    await Promise.all([search, noop]);
    expect(events[0]).toMatch(/^noop done/);
    expect(Number(/after (\d+)/.exec(events[0]!)![1])).toBeLessThan(MESSAGES);
  });
  it('index keys narrow, content keys confirm: NOT, OR and nesting answer as over every message (issue 16 item 3)', async () => {
    const c = await f.client();
    await c.transact('ok', 'SELECT INBOX');
    await c.transact('ok', 'STORE 1:10 +FLAGS.SILENT (\\Seen)');
    const uids = Array.from({ length: MESSAGES }, (_, i) => i + 1);
    const ask = async (q: string): Promise<number[]> => (await c.transact('ok', `UID SEARCH ${q}`)).untagged.find((u) => u.type === 'SEARCH')!.values as number[];
    const even = (u: number): boolean => u % 2 === 0; // only even messages carry w20x
    expect(await ask('NOT BODY w20x')).toEqual(uids.filter((u) => !even(u)));
    expect(await ask('OR SEEN BODY w20x')).toEqual(uids.filter((u) => u <= 10 || even(u)));
    expect(await ask('NOT (UNSEEN BODY w20x)')).toEqual(uids.filter((u) => u <= 10 || !even(u)));
    expect(await ask('SEEN NOT BODY w20x')).toEqual(uids.filter((u) => u <= 10 && !even(u)));
    expect(await ask('1:5,38:* UNSEEN')).toEqual([38, 39, 40]);
    // The index leaves 10 candidates: only they are read.
    reads = 0;
    expect(await ask('SEEN BODY w20x')).toEqual([2, 4, 6, 8, 10]);
    expect(reads).toBeLessThanOrEqual(10);
  });
});
