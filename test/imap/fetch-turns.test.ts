// FETCH 1:* (FLAGS) on a large mailbox is answered a page at a time from the index, with
// a turn of the event loop between pages: another user's NOOP is answered while it runs
// (DESIGN.md "One event loop serves everyone"), asserted by the order of events, not by
// wall time. The FETCH itself still answers every message, in order, with its flags.
import { linkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MaildirStore } from '../../src/store/maildir/store.js';
import type { MailStore } from '../../src/store/types.js';
import { fetchAttrs } from '../helpers/imap-client.js';
import { startImapFixture, USER, type ImapFixture } from './fixture.js';

/** Ten of the light FETCH's pages (500 messages each). */
const N = 5000;
const OTHER = 'other@example.test';
let f: ImapFixture;
let pages = 0;
let onPage: (() => void) | undefined;

beforeAll(async () => {
  f = await startImapFixture();
  await f.addAccount(OTHER);
  await f.ctx.store.ensureAccount(USER);
  const cur = path.join((f.ctx.store as MaildirStore).accountRoot(USER), 'cur');
  const src = path.join(f.dataRoot, 'one.eml');
  writeFileSync(src, 'Subject: one of many\r\nFrom: x@example.org\r\n\r\nhello\r\n');
  for (let i = 1; i <= N; i++) linkSync(src, path.join(cur, `1700000000.M${i}P1.test,U=${i}:2,${i % 3 === 0 ? 'S' : ''}`));
  // Count the real store's page reads (a wrapper around it, not a stand-in).
  const store = f.ctx.store as MailStore;
  const fetchMeta = store.fetchMeta.bind(store);
  store.fetchMeta = (...a) => {
    pages++;
    onPage?.();
    return fetchMeta(...a);
  };
}, 60_000);
afterAll(async () => {
  await f.close();
});

describe('FETCH 1:* (FLAGS) of a large mailbox', () => {
  it("answers another user's NOOP between its pages, and every message with its flags", async () => {
    const a = await f.client();
    const b = await f.client(OTHER);
    await a.transact('ok', 'SELECT INBOX');
    await b.transact('ok', 'SELECT INBOX');
    const events: string[] = [];
    pages = 0;
    const started = new Promise<void>((r) => (onPage = r));
    const fetch = a.transact('ok', 'FETCH 1:* (FLAGS)').then((r) => {
      events.push('fetch done');
      return r;
    });
    await started;
    onPage = undefined;
    const noop = b.transact('ok', 'NOOP').then(() => events.push(`noop done after ${pages} pages`));
    const [r] = await Promise.all([fetch, noop]);
    expect(events[0]).toMatch(/^noop done/);
    expect(Number(/after (\d+)/.exec(events[0]!)![1])).toBeLessThan(N / 500);
    const fetched = r.untagged.filter((u) => u.type === 'FETCH');
    expect(fetched).toHaveLength(N);
    expect(fetched.map((u) => u.num)).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    const flags = fetched.map((u) => fetchAttrs(u).FLAGS as string[]);
    expect(flags.filter((x) => x.includes('\\Seen'))).toHaveLength(Math.floor(N / 3));
  }, 60_000);
});
