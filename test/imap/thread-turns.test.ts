// THREAD on a large mailbox reads its keys and links the threads a slice at a time, with
// turns of the event loop between: another user's NOOP is answered while THREAD REFERENCES runs
// (DESIGN.md "One event loop serves everyone"), asserted by the order of events, not by
// wall time. The answer is still the whole of RFC 5256's: every pair is one thread.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MaildirStore } from '../../src/store/maildir/store.js';
import type { MailStore } from '../../src/store/types.js';
import { startImapFixture, USER, type ImapFixture } from './fixture.js';

/** Several of THREAD's slices (4 096) and key pages (8 192). */
const N = 10_000;
const OTHER = 'other@example.test';
let f: ImapFixture;
let started: (() => void) | undefined;

/** Message i: pairs (odd, even), the even one a reply to the odd one; one date, so ties go by UID. */
function dropped(i: number): string {
  const k = Math.ceil(i / 2);
  const reply = i % 2 === 0 ? `In-Reply-To: <m${i - 1}@example.org>\r\nReferences: <m${i - 1}@example.org>\r\n` : '';
  return `Date: Mon, 7 Dec 2026 10:00:00 +0000\r\nFrom: x@example.org\r\nSubject: ${i % 2 === 0 ? 'Re: ' : ''}pair ${k}\r\nMessage-ID: <m${i}@example.org>\r\n${reply}\r\nbody ${i}\r\n`;
}

beforeAll(async () => {
  f = await startImapFixture();
  await f.addAccount(OTHER);
  await f.ctx.store.ensureAccount(USER);
  const cur = path.join((f.ctx.store as MaildirStore).accountRoot(USER), 'cur');
  for (let i = 1; i <= N; i += 500) await Promise.all(Array.from({ length: Math.min(500, N - i + 1) }, (_, k) => writeFile(path.join(cur, `1700000000.M${i + k}P1.test,U=${i + k}:2,`), dropped(i + k))));
  // Tell when THREAD starts reading keys (a wrapper around the real store, not a stand-in).
  const store = f.ctx.store as MailStore & { threadKeys: (...a: unknown[]) => Promise<unknown> };
  const threadKeys = store.threadKeys.bind(store);
  store.threadKeys = (...a: unknown[]) => {
    started?.();
    return threadKeys(...a);
  };
}, 60_000);
afterAll(async () => {
  await f.close();
});

describe('THREAD of a large mailbox', () => {
  it("answers another user's NOOP while it runs, and threads every pair", async () => {
    const a = await f.client();
    const b = await f.client(OTHER);
    await a.transact('ok', 'SELECT INBOX');
    await b.transact('ok', 'SELECT INBOX');
    await a.transact('ok', 'THREAD REFERENCES UTF-8 ALL'); // the first computes the keys of the dropped-in files
    for (const alg of ['REFERENCES', 'ORDEREDSUBJECT']) {
      const events: string[] = [];
      const begun = new Promise<void>((r) => (started = r));
      const threading = a.transact('ok', `THREAD ${alg} UTF-8 ALL`).then((r) => {
        events.push('thread done');
        return r;
      });
      await begun;
      started = undefined;
      const noop = b.transact('ok', 'NOOP').then(() => events.push('noop done'));
      const [r] = await Promise.all([threading, noop]);
      // ORDEREDSUBJECT is a sort of the keys (one piece, 38 ms at 100 000 in bench/imap-large): it yields only between key pages.
      if (alg === 'REFERENCES') expect(events, alg).toEqual(['noop done', 'thread done']);
      // REFERENCES: each reply under its parent; ORDEREDSUBJECT: "pair k" and "Re: pair k"
      // share a base subject (RFC 5256 §2.1), the earlier (lower UID) first.
      const want = Array.from({ length: N / 2 }, (_, k) => `(${2 * k + 1} ${2 * k + 2})`).join('');
      expect(r.untagged.find((u) => u.type === 'THREAD')!.raw, alg).toBe(`* THREAD ${want}`);
    }
  }, 120_000);
});
