// Several sessions on one mailbox: changes reach the other session as untagged
// responses only at the moments the RFCs allow (RFC 9051 §7.5.1, §5.5).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchAttrs } from '../helpers/imap-client.js';
import { message, startImapFixture, USER, type ImapFixture } from './fixture.js';

let f: ImapFixture;
let n = 0;
beforeAll(async () => {
  f = await startImapFixture({ store: 'memory' });
});
afterAll(async () => {
  await f.close();
});

async function twoSessions(msgs: number) {
  const user = `ms${++n}@example.test`;
  await f.addAccount(user, 'pw');
  for (let i = 1; i <= msgs; i++) await f.deliver(user, message(i));
  const a = await f.client(user, 'pw');
  const b = await f.client(user, 'pw');
  await a.transact('ok', 'SELECT INBOX');
  await b.transact('ok', 'SELECT INBOX');
  return { a, b, user };
}

describe('multi-session', () => {
  it('flag changes reach the other session on its next command', async () => {
    const { a, b } = await twoSessions(2);
    await a.transact('ok', 'STORE 2 +FLAGS (\\Flagged)');
    const { untagged } = await b.transact('ok', 'NOOP');
    const fetches = untagged.filter((r) => r.type === 'FETCH');
    expect(fetches).toHaveLength(1);
    expect(fetches[0]!.num).toBe(2);
    expect(fetchAttrs(fetches[0]!).FLAGS).toEqual(['\\Flagged']);
    // The session that stored sees no duplicate.
    const again = await a.transact('ok', 'NOOP');
    expect(again.untagged.filter((r) => r.type === 'FETCH')).toHaveLength(0);
  });

  it('never sends EXPUNGE during FETCH, STORE or SEARCH; sends it after NOOP (RFC 9051 §7.5.1)', async () => {
    const { a, b } = await twoSessions(3);
    await a.transact('ok', 'STORE 1 +FLAGS.SILENT (\\Deleted)');
    await a.transact('ok', 'EXPUNGE');
    for (const cmd of ['FETCH 1:* (FLAGS)', 'STORE 3 +FLAGS (\\Seen)', 'SEARCH ALL']) {
      const r = await b.transact('ok', cmd);
      expect(r.untagged.filter((x) => x.type === 'EXPUNGE')).toHaveLength(0);
    }
    // Sequence numbers stay as the client knows them until the EXPUNGE arrives: the
    // remaining messages are still 2 and 3 (the expunged one is not matched any more).
    const s = await b.transact('ok', 'SEARCH ALL');
    expect(s.untagged.find((x) => x.type === 'SEARCH')!.values).toEqual([2, 3]);
    const r = await b.transact('ok', 'NOOP');
    const exp = r.untagged.filter((x) => x.type === 'EXPUNGE');
    expect(exp.map((x) => x.num)).toEqual([1]);
    const after = await b.transact('ok', 'FETCH 1:* (UID)');
    expect(after.untagged.filter((x) => x.type === 'FETCH').map((x) => fetchAttrs(x).UID)).toEqual([2, 3]);
  });

  it('announces new mail with EXISTS, also during FETCH', async () => {
    const { a, b, user } = await twoSessions(1);
    await f.deliver(user, message(2));
    const r = await b.transact('ok', 'FETCH 1 (FLAGS)');
    expect(r.untagged.find((x) => x.type === 'EXISTS')?.num).toBe(2);
    const ap = await a.transact('ok', ['APPEND INBOX ', Buffer.from(message(3))]);
    expect(ap.untagged.find((x) => x.type === 'EXISTS')?.num).toBe(3);
    const r2 = await b.transact('ok', 'NOOP');
    expect(r2.untagged.find((x) => x.type === 'EXISTS')?.num).toBe(3);
  });

  it('IDLE gets EXISTS, FETCH and EXPUNGE as they happen', async () => {
    const { a, b, user } = await twoSessions(2);
    b.write('i1 IDLE\r\n');
    expect((await b.readResponse()).tag).toBe('+');
    await f.deliver(user, message(3));
    expect((await b.waitFor((r) => r.type === 'EXISTS', 1000)).num).toBe(3);
    // b is the first session told of message 3: it is \Recent there (RFC 3501 §2.3.2).
    expect((await b.waitFor((r) => r.type === 'RECENT', 1000)).num).toBe(1);
    await a.transact('ok', 'STORE 1 +FLAGS (\\Seen)');
    const fr = await b.waitFor((r) => r.type === 'FETCH', 1000);
    expect(fetchAttrs(fr).FLAGS).toEqual(['\\Seen']);
    await a.transact('ok', 'STORE 2 +FLAGS.SILENT (\\Deleted)');
    const del = await b.waitFor((r) => r.type === 'FETCH', 1000);
    expect([del.num, fetchAttrs(del).FLAGS]).toEqual([2, ['\\Deleted']]);
    await a.transact('ok', 'EXPUNGE');
    expect((await b.waitFor((r) => r.type === 'EXPUNGE', 1000)).num).toBe(2);
    b.write('DONE\r\n');
    const done = await b.waitFor((r) => r.tag === 'i1');
    expect(done.type).toBe('OK');
  });

  it('MOVE from another session looks like an expunge', async () => {
    const { a, b } = await twoSessions(2);
    await a.transact('ok', 'CREATE Dest');
    await a.transact('ok', 'MOVE 1 Dest');
    const r = await b.transact('ok', 'NOOP');
    expect(r.untagged.filter((x) => x.type === 'EXPUNGE').map((x) => x.num)).toEqual([1]);
    void USER;
  });
});
