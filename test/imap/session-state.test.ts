// Several sessions on one mailbox, through the strict client: the same scenarios that
// Dovecot passes (checker.test.ts) must pass here (RFC 3501 §7.4.1, RFC 9051 §7.5.1).
import { describe, it } from 'vitest';
import type { ImapTestClient } from '../helpers/imap-client.js';
import { fixtureForFile } from './fixture.js';
import { SCENARIOS } from './scenarios.js';

const t = fixtureForFile();

describe('multi-session scenarios', () => {
  it.each(Object.keys(SCENARIOS))('%s', async (name) => {
    const user = await t.account('ss');
    const opened: ImapTestClient[] = [];
    const open = async (): Promise<ImapTestClient> => {
      const c = await t.f.client(user, 'pw');
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
