// Long commands on a large mailbox give the event loop turns while they run, so another
// user's NOOP is answered meanwhile (DESIGN.md "One event loop serves everyone"):
// FETCH 1:* (FLAGS) between its pages of 500, THREAD between slices of its keys and of
// its threading. Asserted by the order of events, never by wall time; the answers are
// still whole. Both fail on a server that runs them in one go.
import { linkSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MaildirStore } from '../../src/store/maildir/store.js';
import { fetchAttrs } from '../helpers/imap-client.js';
import { startImapFixture, USER, type ImapFixture } from './fixture.js';

/** FETCH: ten of the light FETCH's pages. */
const FETCHED = 5000;
/** THREAD: several of its slices (4 096) and key pages (8 192), in pairs. */
const THREADED = 10_000;
const THREADS = 'threads@example.test';
const OTHER = 'other@example.test';
let f: ImapFixture;
/** Called when the store is asked for FETCH's pages or THREAD's keys (a wrapper around the real store, not a stand-in). */
let onStoreCall: (() => void) | undefined;
let pages = 0;

/** Message i of THREADS: pairs (odd, even), the even one a reply to the odd one; one date, so ties go by UID. */
function paired(i: number): string {
  const reply = i % 2 === 0 ? `In-Reply-To: <m${i - 1}@example.org>\r\nReferences: <m${i - 1}@example.org>\r\n` : '';
  return `Date: Mon, 7 Dec 2026 10:00:00 +0000\r\nFrom: x@example.org\r\nSubject: ${i % 2 === 0 ? 'Re: ' : ''}pair ${Math.ceil(i / 2)}\r\nMessage-ID: <m${i}@example.org>\r\n${reply}\r\nbody ${i}\r\n`;
}

beforeAll(async () => {
  f = await startImapFixture();
  await f.addAccount(OTHER);
  await f.addAccount(THREADS);
  const store = f.ctx.store as MaildirStore;
  // USER: one file under FETCHED names (hard links), every third read.
  await store.ensureAccount(USER);
  const src = path.join(f.dataRoot, 'one.eml');
  writeFileSync(src, 'Subject: one of many\r\nFrom: x@example.org\r\n\r\nhello\r\n');
  for (let i = 1; i <= FETCHED; i++) linkSync(src, path.join(store.accountRoot(USER), 'cur', `1700000000.M${i}P1.test,U=${i}:2,${i % 3 === 0 ? 'S' : ''}`));
  const cur = path.join(store.accountRoot(THREADS), 'cur');
  for (let i = 1; i <= THREADED; i += 500) {
    await Promise.all(Array.from({ length: Math.min(500, THREADED - i + 1) }, (_, k) => writeFile(path.join(cur, `1700000000.M${i + k}P1.test,U=${i + k}:2,`), paired(i + k))));
  }
  for (const name of ['fetchMeta', 'threadKeys'] as const) {
    const real = store[name].bind(store) as (...a: unknown[]) => unknown;
    (store as unknown as Record<string, unknown>)[name] = (...a: unknown[]) => {
      pages++;
      onStoreCall?.();
      return real(...a);
    };
  }
}, 60_000);
afterAll(async () => {
  await f.close();
});

/** Runs `command` on `a`; once the store is asked for its data, `b` sends NOOP. Returns the order they ended in, the pages read by then, and the command's answer. */
async function withNoop(a: Awaited<ReturnType<ImapFixture['client']>>, b: Awaited<ReturnType<ImapFixture['client']>>, command: string) {
  const events: string[] = [];
  pages = 0;
  const begun = new Promise<void>((r) => (onStoreCall = r));
  const running = a.transact('ok', command).then((r) => {
    events.push('command done');
    return r;
  });
  await begun;
  onStoreCall = undefined;
  let pagesAtNoop = 0;
  const noop = b.transact('ok', 'NOOP').then(() => {
    pagesAtNoop = pages;
    events.push('noop done');
  });
  const [r] = await Promise.all([running, noop]);
  return { events, pagesAtNoop, r };
}

describe('long commands on a large mailbox', () => {
  it("FETCH 1:* (FLAGS) answers another user's NOOP between its pages, and every message with its flags", async () => {
    const a = await f.client();
    const b = await f.client(OTHER);
    await a.transact('ok', 'SELECT INBOX');
    await b.transact('ok', 'SELECT INBOX');
    const { events, pagesAtNoop, r } = await withNoop(a, b, 'FETCH 1:* (FLAGS)');
    expect(events).toEqual(['noop done', 'command done']);
    expect(pagesAtNoop).toBeLessThan(FETCHED / 500);
    const fetched = r.untagged.filter((u) => u.type === 'FETCH');
    expect(fetched.map((u) => u.num)).toEqual(Array.from({ length: FETCHED }, (_, i) => i + 1));
    const flags = fetched.map((u) => fetchAttrs(u).FLAGS as string[]);
    expect(flags.filter((x) => x.includes('\\Seen'))).toHaveLength(Math.floor(FETCHED / 3));
  }, 60_000);

  it("THREAD REFERENCES answers another user's NOOP while it runs, and both algorithms thread every pair", async () => {
    const a = await f.client(THREADS);
    const b = await f.client(OTHER);
    await a.transact('ok', 'SELECT INBOX');
    await b.transact('ok', 'SELECT INBOX');
    await a.transact('ok', 'THREAD REFERENCES UTF-8 ALL'); // the first computes the keys of the dropped-in files
    // REFERENCES: each reply under its parent; ORDEREDSUBJECT: "pair k" and "Re: pair k"
    // share a base subject (RFC 5256 §2.1), the earlier (lower UID) first.
    const want = `* THREAD ${Array.from({ length: THREADED / 2 }, (_, k) => `(${2 * k + 1} ${2 * k + 2})`).join('')}`;
    const refs = await withNoop(a, b, 'THREAD REFERENCES UTF-8 ALL');
    expect(refs.events).toEqual(['noop done', 'command done']);
    expect(refs.r.untagged.find((u) => u.type === 'THREAD')!.raw).toBe(want);
    // ORDEREDSUBJECT is one sort of the keys (one piece, 37-49 ms at 100 000 in bench/imap-large): it yields only between key pages.
    const os = await a.transact('ok', 'THREAD ORDEREDSUBJECT UTF-8 ALL');
    expect(os.untagged.find((u) => u.type === 'THREAD')!.raw).toBe(want);
  }, 120_000);
});
