// SELECT's UID list is kept between SELECTs (queries.ts uids) while the mailbox's rows do
// not change: every way its rows change drops it, including a second process writing
// the same index (`mailserver reindex` or another store beside the server).
import { mkdtempSync } from 'node:fs';
import { readdir, rm, unlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MaildirStore } from '../../src/store/maildir/index.js';
import type { Uid } from '../../src/store/types.js';

const A = 'alice@example.test';
const msg = (i: number): Buffer => Buffer.from(`From: a@example.org\r\nSubject: ${i}\r\n\r\nbody ${i}\r\n`);

let root: string;
let store: MaildirStore;
let other: MaildirStore | undefined;

beforeEach(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'store-uidlist-'));
  store = new MaildirStore({ dataRoot: root, fsync: false });
  await store.ensureAccount(A);
});

afterEach(async () => {
  await store.close();
  await other?.close();
  other = undefined;
  await rm(root, { recursive: true, force: true });
});

const uidsOf = async (s: MaildirStore, name = 'INBOX'): Promise<number[]> => [...(await s.selectMailbox(A, name)).uids];

describe("SELECT's kept UID list", () => {
  it('follows deliveries, appends, expunges, copies, moves and a RENAME of INBOX', async () => {
    for (let i = 0; i < 4; i++) await store.deliver([{ account: A }], { data: msg(i) });
    expect(await uidsOf(store)).toEqual([1, 2, 3, 4]);
    const again = await store.selectMailbox(A, 'INBOX');
    expect(again.uids).toBe((await store.selectMailbox(A, 'INBOX')).uids); // kept: the same array
    await store.append(A, 'INBOX', { data: msg(5) });
    expect(await uidsOf(store)).toEqual([1, 2, 3, 4, 5]);
    const inbox = again.mailbox.id;
    await store.expunge(A, inbox, [2 as Uid]);
    expect(await uidsOf(store)).toEqual([1, 3, 4, 5]);
    await store.createMailbox(A, 'Filed');
    expect(await uidsOf(store, 'Filed')).toEqual([]);
    await store.copy(A, inbox, [1 as Uid], 'Filed');
    expect(await uidsOf(store, 'Filed')).toEqual([1]);
    await store.move(A, inbox, [3 as Uid], 'Filed');
    expect(await uidsOf(store)).toEqual([1, 4, 5]);
    expect(await uidsOf(store, 'Filed')).toEqual([1, 2]);
    await store.renameMailbox(A, 'INBOX', 'Old');
    expect(await uidsOf(store)).toEqual([]);
    expect(await uidsOf(store, 'Old')).toEqual([1, 4, 5]);
  });

  it('is read again after another process changed the index', async () => {
    for (let i = 0; i < 3; i++) await store.deliver([{ account: A }], { data: msg(i) });
    expect(await uidsOf(store)).toEqual([1, 2, 3]);
    // A second store on the same files (as `mailserver reindex` beside the server): its
    // expunge removes a file and its row; this store's rescan finds no row to remove.
    other = new MaildirStore({ dataRoot: root, fsync: false });
    const view = await other.selectMailbox(A, 'INBOX');
    await other.expunge(A, view.mailbox.id, [2 as Uid]);
    expect(await uidsOf(store)).toEqual([1, 3]);
  });

  it('is read again after files vanished from cur/', async () => {
    for (let i = 0; i < 3; i++) await store.deliver([{ account: A }], { data: msg(i) });
    expect(await uidsOf(store)).toEqual([1, 2, 3]);
    const cur = path.join(root, 'maildir', 'example.test', 'alice', 'cur');
    const names = (await readdir(cur)).filter((n) => /,U=2[,:]/.test(n));
    expect(names).toHaveLength(1);
    await unlink(path.join(cur, names[0]!));
    expect(await uidsOf(store)).toEqual([1, 3]);
  });
});
