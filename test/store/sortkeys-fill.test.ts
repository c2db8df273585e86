// SORT/THREAD keys of delivered and appended messages are written by a background pass
// (src/store/maildir/sortkeys.ts KeysFill), not in the delivery's own index transaction:
// the delivery commits its row alone, the pass fills the keys once the store is quiet,
// and a SORT before that fills what is missing itself, so answers never depend on it.
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { analyzeMessage } from '../../src/imap/mime/index.js';
import { MaildirStore } from '../../src/store/maildir/index.js';
import type { MailboxId, Uid } from '../../src/store/types.js';

const A = 'alice@example.test';
let root: string;
let store: MaildirStore;

/** A message of `size` bytes or more, with the subject and sender given. */
const msg = (subject: string, from: string, size = 0): Buffer => {
  const head = `From: ${from}\r\nTo: alice@example.test\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@example.org>\r\n\r\n`;
  return Buffer.from(head + 'x'.repeat(Math.max(0, size - head.length - 2)) + '\r\n');
};

/** The sortkeys rows of the account's index, read over a second connection (WAL). */
function keyRows(): Array<{ uid: number; subject: string; addr_from: string; size: number }> {
  const db = new Database(path.join(root, 'maildir', 'example.test', 'alice', 'index.sqlite'), { readonly: true });
  try {
    return db.prepare('SELECT uid, subject, addr_from, size FROM sortkeys ORDER BY uid').all() as Array<{ uid: number; subject: string; addr_from: string; size: number }>;
  } finally {
    db.close();
  }
}

beforeEach(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'store-keysfill-'));
  store = new MaildirStore({ dataRoot: root, analyzer: analyzeMessage, fsync: false });
  await store.ensureAccount(A);
});

afterEach(async () => {
  await store.close();
  await rm(root, { recursive: true, force: true });
});

describe('sort keys off the delivery path', () => {
  it('a delivery commits without keys; the background pass writes them (sizes from a few bytes to 1 MB)', async () => {
    const sizes = [0, 5 * 1024, 1024 * 1024];
    const subjects = ['Re: charlie', 'alpha', 'Bravo'];
    for (let i = 0; i < 3; i++) await store.deliver([{ account: A }], { data: msg(subjects[i]!, `s${i}@example.org`, sizes[i]) });
    // The pass waits for a quiet store after a pause: nothing of it has run yet.
    expect(keyRows()).toEqual([]);
    await store.keysIdle();
    const rows = keyRows();
    expect(rows.map((r) => [r.uid, r.subject, r.addr_from])).toEqual([
      [1, 'CHARLIE', 'S0'],
      [2, 'ALPHA', 'S1'],
      [3, 'BRAVO', 'S2'],
    ]);
    expect(rows[2]!.size).toBe(msg(subjects[2]!, 's2@example.org', sizes[2]).length);
  });

  it('APPEND is filled the same way, and a SORT before the pass ran answers from the files', async () => {
    const { mailboxId } = await store.append(A, 'INBOX', { data: msg('zulu', 'z@example.org') }, {});
    await store.deliver([{ account: A }], { data: msg('yankee', 'y@example.org') });
    expect(await store.sortUids(A, mailboxId as MailboxId, [{ key: 'subject', reverse: false }])).toEqual([2, 1] as Uid[]);
    expect(keyRows().map((r) => r.uid)).toEqual([1, 2]);
    await store.keysIdle();
    expect(keyRows().map((r) => r.subject)).toEqual(['ZULU', 'YANKEE']);
  });

  it('a message expunged before the pass reaches it gets no keys row', async () => {
    await store.deliver([{ account: A }], { data: msg('one', 'a@example.org') });
    const [r] = await store.deliver([{ account: A }], { data: msg('two', 'b@example.org') });
    const mb = await store.getMailbox(A, 'INBOX');
    await store.expunge(A, mb.id, [r!.uid]);
    await store.keysIdle();
    expect(keyRows().map((k) => k.subject)).toEqual(['ONE']);
  });
});
