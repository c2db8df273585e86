// The full-text fill in its worker thread (src/store/maildir/fts-thread.ts, fts-worker.ts)
// over real files and SQLite: the same documents as the fill on the account's connection,
// the worker gone when the fill ends and at close (also in the middle of a fill), a delivery
// committed while the worker writes, and a worker that dies leaves the search to read
// the files (the answer still complete: every message unsure).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { searchDocument } from '../../src/imap/mime/search-doc.js';
import { createStore } from '../../src/store/index.js';
import type { MaildirStore } from '../../src/store/maildir/store.js';
import type { TextIndexer } from '../../src/store/types.js';
import { crashingIndexer } from '../helpers/crashing-indexer.js';
import { limitsIndexer } from '../helpers/limits-indexer.js';
import { spinningIndexer } from '../helpers/spinning-indexer.js';
import { WORKER_YOUNG_MB } from '../../src/store/maildir/fts-thread.js';

const A = 'worker@example.test';
let dataRoot: string;
const stores: MaildirStore[] = [];

function open(textIndexer: TextIndexer = searchDocument, idleMs = 200): MaildirStore {
  const s = createStore({ dataRoot, fsync: false, textIndexer, ftsWorker: { min: 1, idleMs } }) as MaildirStore;
  stores.push(s);
  return s;
}

function docs(s: MaildirStore): Array<{ uid: number; body: string | null }> {
  const db = new Database(path.join(s.accountRoot(A), 'index.sqlite'), { readonly: true });
  try {
    return db.prepare('SELECT uid, body FROM fts_docs ORDER BY uid').all() as Array<{ uid: number; body: string | null }>;
  } finally {
    db.close();
  }
}

/** Sizes around the fill's limits: an empty body, 1 KB, just over the indexed text's 1 MiB. */
const mail = (i: number): Buffer => {
  const body = i % 3 === 0 ? '' : i % 3 === 1 ? `word${i} ${'k'.repeat(1024)}` : `${'lorem ipsum '.repeat(90_000)}word${i} at the end`;
  return Buffer.from(`Subject: note ${i}\r\nFrom: x@example.org\r\n\r\n${body}`);
};

/** `n` small messages dropped into cur/ as another tool would; indexed by name at the next open. */
async function dropIn(s: MaildirStore, n: number): Promise<void> {
  await s.ensureAccount(A);
  const cur = path.join(s.accountRoot(A), 'cur');
  for (let i = 0; i < n; i++) await writeFile(path.join(cur, `1700000000.M${i}P1.test:2,`), `Subject: dropped ${i}\r\n\r\nfiller text of dropped message ${i}\r\n`);
  await s.selectMailbox(A, 'INBOX'); // indexes them by name
}

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; !cond(); await new Promise((r) => setTimeout(r, 20))) if (Date.now() > end) throw new Error('timed out');
}

beforeEach(async () => {
  dataRoot = await mkdtemp(path.join(tmpdir(), 'store-fts-worker-'));
});
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close().catch(() => undefined);
  await rm(dataRoot, { recursive: true, force: true });
});

describe('full-text fill in a worker thread', () => {
  it('writes the documents the fill on the account connection writes, then exits', async () => {
    const s = open();
    await s.ensureAccount(A);
    for (let i = 0; i < 9; i++) await s.append(A, 'INBOX', { data: mail(i) });
    await s.ftsIdle();
    const box = await s.getMailbox(A, 'INBOX');
    // Over 1 MiB of text (UIDs 3, 6, 9) the document is left empty: the caller reads those.
    expect(await s.searchText(A, box.id, { where: 'body', value: 'WORD4' })).toEqual({ hits: [5], unsure: [3, 6, 9] });
    expect(await s.searchText(A, box.id, { where: 'header', field: 'subject', value: 'note 3' })).toEqual({ hits: [4], unsure: [3, 6, 9] });
    expect(await s.searchText(A, box.id, { where: 'text', value: 'note' })).toEqual({ hits: [1, 2, 4, 5, 7, 8], unsure: [3, 6, 9] });
    const inWorker = docs(s);
    expect(inWorker).toHaveLength(9);
    await until(() => s.ftsThreads === 0); // released when the fill ended
    await s.close();

    const here = createStore({ dataRoot, fsync: false, textIndexer: (b) => searchDocument(b) }) as MaildirStore; // no module: on the account's connection
    stores.push(here);
    await here.reindex(A);
    await here.ftsIdle();
    expect(docs(here)).toEqual(inWorker);
    expect(here.ftsThreads).toBe(0);
  });

  it('ends the worker when the store closes in the middle of a fill; the search settles', async () => {
    const s = open(searchDocument, 60_000);
    await dropIn(s, 3000);
    const box = await s.getMailbox(A, 'INBOX');
    const search = s.searchText(A, box.id, { where: 'body', value: 'dropped message 2999' }).then(
      (r) => r,
      (e: Error) => e,
    );
    await until(() => s.ftsThreads === 1 && docs(s).length > 0);
    await s.close();
    expect(s.ftsThreads).toBe(0);
    const r = await search;
    expect(docs(s).length).toBeLessThan(3000);
    // Closed before the answer: an error, or whatever it had with the rest unsure; never a wrong miss.
    if (!(r instanceof Error)) expect(new Set<number>([...r.hits, ...r.unsure]).has(3000)).toBe(true);
  });

  it('commits a delivery made while the worker writes, and finds it', async () => {
    const s = open();
    await dropIn(s, 2000);
    const box = await s.getMailbox(A, 'INBOX');
    const search = s.searchText(A, box.id, { where: 'body', value: 'zebrafish' });
    await until(() => docs(s).length > 0);
    const [d] = await s.deliver([{ account: A }], { data: Buffer.from('Subject: late\r\n\r\nzebrafish swim here\r\n') });
    expect(d!.uid).toBe(2001);
    const first = await search;
    // Delivered after the search began: found by it (indexed, or left to the caller), or not seen yet.
    expect(first.hits.every((u) => u === 2001)).toBe(true);
    expect((await s.searchText(A, box.id, { where: 'body', value: 'zebrafish' })).hits).toEqual([2001]);
    expect(docs(s)).toHaveLength(2001);
  });

  it('ends a worker that does not answer a batch in time, and leaves the messages to the caller', async () => {
    const s = createStore({ dataRoot, fsync: false, textIndexer: spinningIndexer, ftsWorker: { min: 1, idleMs: 200, batchMs: 1500 } }) as MaildirStore;
    stores.push(s);
    await s.ensureAccount(A);
    for (let i = 0; i < 2; i++) await s.append(A, 'INBOX', { data: mail(i) });
    const box = await s.getMailbox(A, 'INBOX');
    expect(await s.searchText(A, box.id, { where: 'body', value: 'word1' })).toEqual({ hits: [], unsure: [1, 2] });
    await until(() => s.ftsThreads === 0);
    expect(docs(s)).toHaveLength(0);
  });

  it('answers a SEARCH that ran the fill once the worker has exited (its memory given back)', async () => {
    const s = open(searchDocument, 60_000); // no idle exit: only the end of the fill ends it
    await dropIn(s, 300);
    const box = await s.getMailbox(A, 'INBOX');
    const r = await s.searchText(A, box.id, { where: 'body', value: 'dropped message 299' });
    expect(s.ftsThreads).toBe(0);
    expect(r.hits).toHaveLength(1); // UIDs follow the directory's order
    expect(r.unsure).toEqual([]);
    expect(docs(s)).toHaveLength(300);
  });

  it('runs the fill with a bounded young generation (its memory stays small while it lives)', async () => {
    const s = open(limitsIndexer);
    await s.ensureAccount(A);
    for (let i = 0; i < 2; i++) await s.append(A, 'INBOX', { data: mail(i) });
    await s.ftsIdle();
    expect(docs(s).map((d) => d.body)).toEqual([`young ${WORKER_YOUNG_MB} MB`, `young ${WORKER_YOUNG_MB} MB`]);
    expect(WORKER_YOUNG_MB).toBeLessThanOrEqual(16);
  });

  it('leaves every message to the caller when the worker dies under a search', async () => {
    const s = open(crashingIndexer);
    await s.ensureAccount(A);
    for (let i = 0; i < 3; i++) await s.append(A, 'INBOX', { data: mail(i) });
    const box = await s.getMailbox(A, 'INBOX');
    expect(await s.searchText(A, box.id, { where: 'body', value: 'word1' })).toEqual({ hits: [], unsure: [1, 2, 3] });
    await until(() => s.ftsThreads === 0);
    expect(docs(s)).toHaveLength(0);
  });
});
