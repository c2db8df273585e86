// The Maildir store's full-text index (src/store/maildir/fts.ts, fts-fill.ts) over real
// files and SQLite: an index made before the index existed gets filled by the first
// content search, reindex empties and refills it, deliveries are indexed in the
// background, and what the index cannot hold is answered "unsure", never wrongly.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { searchDocument } from '../../src/imap/mime/search-doc.js';
import { createStore } from '../../src/store/index.js';
import type { MaildirStore } from '../../src/store/maildir/store.js';

const A = 'fts@example.test';
let dataRoot: string;
const stores: MaildirStore[] = [];

function open(indexed: boolean): MaildirStore {
  const s = createStore({ dataRoot, fsync: false, textIndexer: indexed ? searchDocument : undefined }) as MaildirStore;
  stores.push(s);
  return s;
}

function docs(s: MaildirStore): number {
  const db = new Database(path.join(s.accountRoot(A), 'index.sqlite'), { readonly: true });
  try {
    return db.prepare('SELECT count(*) FROM fts_docs WHERE body IS NOT NULL').pluck().get() as number;
  } finally {
    db.close();
  }
}

const mail = (i: number): Buffer => Buffer.from(`Subject: note ${i}\r\nFrom: x@example.org\r\n\r\nbody word${i} and common text\r\n`);

beforeEach(async () => {
  dataRoot = await mkdtemp(path.join(tmpdir(), 'store-fts-'));
});
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close().catch(() => undefined);
  await rm(dataRoot, { recursive: true, force: true });
});

describe('full-text index of the Maildir store', () => {
  it('fills an index made without it on the first content search, and again after reindex', async () => {
    const old = open(false);
    await old.ensureAccount(A);
    for (let i = 0; i < 20; i++) await old.append(A, 'INBOX', { data: mail(i) });
    const box = await old.getMailbox(A, 'INBOX');
    // Without an indexer every message is left to the caller.
    expect((await old.searchText(A, box.id, { where: 'body', value: 'word7' })).unsure).toHaveLength(20);
    await old.close();

    const s = open(true);
    expect(await s.searchText(A, box.id, { where: 'body', value: 'WORD7' })).toEqual({ hits: [8], unsure: [] });
    expect(docs(s)).toBe(20);
    await s.reindex(A);
    await s.ftsIdle();
    expect(docs(s)).toBe(20);
    expect(await s.searchText(A, box.id, { where: 'header', field: 'subject', value: 'note 1' })).toEqual({ hits: [2, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20], unsure: [] });
  });

  it('fills an index made without it when a mailbox is opened', async () => {
    const old = open(false);
    await old.ensureAccount(A);
    for (let i = 0; i < 10; i++) await old.append(A, 'INBOX', { data: mail(i) });
    await old.close();
    const s = open(true);
    await s.selectMailbox(A, 'INBOX');
    await s.ftsIdle();
    expect(docs(s)).toBe(10);
  });

  it('indexes deliveries in the background; a needle holding the segment separator is left to the caller', async () => {
    const s = open(true);
    await s.ensureAccount(A);
    await s.deliver([{ account: A }], { data: mail(1) });
    await s.ftsIdle();
    expect(docs(s)).toBe(1);
    const box = await s.getMailbox(A, 'INBOX');
    expect(await s.searchText(A, box.id, { where: 'text', value: 'word1\uffffx' })).toEqual({ hits: [], unsure: [1] });
    expect(await s.searchText(A, box.id, { where: 'text', value: 'COMMON TEXT' })).toEqual({ hits: [1], unsure: [] });
    // 256 KB of random bytes as text: too many distinct trigrams to index, left to the caller.
    await s.deliver([{ account: A }], { data: Buffer.concat([Buffer.from('Subject: noise\r\n\r\n'), randomBytes(256 * 1024)]) });
    await s.ftsIdle();
    expect(await s.searchText(A, box.id, { where: 'text', value: 'common text' })).toEqual({ hits: [1], unsure: [2] });
  });
});
