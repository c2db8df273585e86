// SEARCH answered with numbers written by the store (searchNumbers, src/imap/commands/search/
// search.ts answerFromStore): the same bytes as the general path, after expunges at the
// start (sequence numbers are UIDs less an offset) and in the middle (a gap: the general
// path), for UID SEARCH, and without a message delivered but not yet announced.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { message, startImapFixture, USER, type ImapFixture } from './fixture.js';

let f: ImapFixture;

beforeAll(async () => {
  f = await startImapFixture();
  for (let i = 1; i <= 8; i++) await f.deliver(USER, message(i));
});
afterAll(async () => {
  await f?.close();
});

const lineOf = (r: { untagged: Array<{ type: string; raw: string }> }): string => r.untagged.find((u) => u.type === 'SEARCH')!.raw;

describe('SEARCH numbers from the store', () => {
  it('answers as the general path before and after expunges, and leaves out what is not announced', async () => {
    const a = await f.client();
    const b = await f.client();
    await a.transact('ok', 'SELECT INBOX');
    await a.transact('ok', 'STORE 2,4 +FLAGS.SILENT (\\Seen)');
    expect(lineOf(await a.transact('ok', 'SEARCH UNSEEN'))).toBe('* SEARCH 1 3 5 6 7 8');
    expect(lineOf(await a.transact('ok', 'SEARCH SEEN'))).toBe('* SEARCH 2 4');
    expect(lineOf(await a.transact('ok', 'SEARCH SEEN UNSEEN'))).toBe('* SEARCH');
    // The first two expunged: UIDs 3..8 are sequence numbers 1..6.
    await a.transact('ok', 'STORE 1:2 +FLAGS.SILENT (\\Deleted)');
    await a.transact('ok', 'EXPUNGE');
    expect(lineOf(await a.transact('ok', 'SEARCH UNSEEN'))).toBe('* SEARCH 1 3 4 5 6');
    expect(lineOf(await a.transact('ok', 'UID SEARCH UNSEEN'))).toBe('* SEARCH 3 5 6 7 8');
    expect(lineOf(await a.transact('ok', 'SEARCH 2:4 UNSEEN'))).toBe('* SEARCH 3 4');
    // A delivery the session has not been told of yet is not in the answer (nor its number).
    await f.deliver(USER, message(9));
    const r = await a.transact('ok', 'SEARCH UNSEEN');
    const told = r.untagged.findIndex((u) => u.type === 'EXISTS') >= 0 && r.untagged.findIndex((u) => u.type === 'EXISTS') < r.untagged.findIndex((u) => u.type === 'SEARCH');
    expect(lineOf(r)).toBe(told ? '* SEARCH 1 3 4 5 6 7' : '* SEARCH 1 3 4 5 6');
    await a.transact('ok', 'NOOP');
    expect(lineOf(await a.transact('ok', 'SEARCH UNSEEN'))).toBe('* SEARCH 1 3 4 5 6 7');
    // A gap in the middle (UID 5 expunged by another session): sequence numbers no longer follow UIDs.
    await b.transact('ok', 'SELECT INBOX');
    await b.transact('ok', 'UID STORE 5 +FLAGS.SILENT (\\Deleted)');
    await b.transact('ok', 'EXPUNGE');
    await a.transact('ok', 'NOOP');
    expect(lineOf(await a.transact('ok', 'SEARCH UNSEEN'))).toBe('* SEARCH 1 3 4 5 6');
    expect(lineOf(await a.transact('ok', 'UID SEARCH UNSEEN'))).toBe('* SEARCH 3 6 7 8 9');
  });
});
