// Many sessions changing the same messages at once: every command gets its answer.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { message, startImapFixture, USER, type ImapFixture } from './fixture.js';

let f: ImapFixture;
beforeAll(async () => {
  f = await startImapFixture({ store: 'memory' });
});
afterAll(async () => {
  await f.close();
});

describe('concurrency', () => {
  it('concurrent STORE and EXPUNGE of the same messages from 10 sessions all complete', async () => {
    for (let i = 1; i <= 20; i++) await f.deliver(USER, message(i));
    const clients = await Promise.all(Array.from({ length: 10 }, () => f.client()));
    await Promise.all(clients.map((c) => c.transact('ok', 'SELECT INBOX')));
    await Promise.all(
      clients.map(async (c, k) => {
        for (let r = 0; r < 5; r++) {
          const uid = 1 + ((k + r) % 5);
          await c.transact('ok', `UID STORE ${uid} +FLAGS.SILENT (\\Deleted)`);
          await c.transact('ok', `UID EXPUNGE ${uid}`);
          await c.transact('ok', `UID SEARCH SUBJECT "message"`);
        }
      }),
    );
    const st = await clients[0]!.transact('ok', 'STATUS INBOX (MESSAGES)');
    expect(st.untagged.find((x) => x.type === 'STATUS')!.raw).toContain('MESSAGES 15');
  }, 60_000);
});
