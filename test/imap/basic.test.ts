import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fetchAttrs } from '../helpers/imap-client.js';
import { message, startImapFixture, USER, type ImapFixture } from './fixture.js';

let f: ImapFixture;
beforeEach(async () => {
  f = await startImapFixture({ store: 'memory' });
});
afterEach(async () => {
  await f.close();
});

describe('basic session', () => {
  it('greets with capabilities and logs in', async () => {
    const c = await f.connect();
    expect(c.greeting.type).toBe('OK');
    expect(c.greeting.code).toMatch(/^CAPABILITY .*IMAP4rev2/);
    const { tagged } = await c.transact('ok', `LOGIN ${USER} test-password`);
    expect(tagged.code).toMatch(/^CAPABILITY/);
    const { untagged } = await c.transact('ok', 'SELECT INBOX');
    expect(untagged.find((r) => r.type === 'EXISTS')?.num).toBe(0);
  });

  it('appends, selects, fetches and searches', async () => {
    const c = await f.client();
    const { tagged } = await c.transact('ok', ['APPEND INBOX (\\Seen) ', Buffer.from(message(1))]);
    expect(tagged.code).toMatch(/^APPENDUID \d+ 1$/);
    await c.transact('ok', 'SELECT INBOX');
    const { untagged } = await c.transact('ok', 'FETCH 1 (UID FLAGS BODY[] ENVELOPE)');
    const a = fetchAttrs(untagged.find((r) => r.type === 'FETCH')!);
    expect(a.UID).toBe(1);
    expect(a.FLAGS).toEqual(['\\Seen']);
    const s = await c.transact('ok', 'SEARCH SUBJECT "message 1"');
    expect(s.untagged.find((r) => r.type === 'SEARCH')?.values).toEqual([1]);
  });
});
