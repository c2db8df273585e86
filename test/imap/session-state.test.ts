// Several sessions on one mailbox, through the strict client: the same scenarios that
// Dovecot passes (checker.test.ts) must pass here (RFC 3501 §7.4.1, RFC 9051 §7.5.1).
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { ImapTestClient } from '../helpers/imap-client.js';
import { startImapFixture, type ImapFixture } from './fixture.js';
import { SCENARIOS } from './scenarios.js';

let f: ImapFixture;
let n = 0;
beforeAll(async () => {
  f = await startImapFixture();
});
afterAll(async () => {
  await f.close();
});

describe('multi-session scenarios', () => {
  it.each(Object.keys(SCENARIOS))('%s', async (name) => {
    const user = `ss${++n}@example.test`;
    await f.addAccount(user, 'pw');
    const opened: ImapTestClient[] = [];
    const open = async (): Promise<ImapTestClient> => {
      const c = await f.client(user, 'pw');
      opened.push(c);
      return c;
    };
    await SCENARIOS[name]!({ open });
    for (const c of opened) {
      c.leftover();
      await c.close(); // (the per-address connection limit)
    }
  });
});
