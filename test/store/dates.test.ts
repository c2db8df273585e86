// Internal dates of files another tool dropped into cur/ (RFC 3501 §2.3.3; Dovecot's
// is the file's mtime): the open indexes a file under the time its name starts with and
// the mtime replaces it before any date is shown, compared or copied; names without a
// time (or without a size) are stat'ed at once.
import { mkdtempSync } from 'node:fs';
import { mkdir, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MaildirStore } from '../../src/store/maildir/index.js';
import { nameTimeMs } from '../../src/store/maildir/dates.js';
import { consecutiveRanges } from '../../src/util/ranges.js';
import { INDEX_CACHE_KIB, openIndex } from '../../src/store/maildir/index-db.js';
import { searchSql } from '../../src/store/maildir/queries-search.js';
import type { Uid } from '../../src/store/types.js';

const A = 'dora@example.test';
let root: string;
let store: MaildirStore;
let cur: string;

const body = (i: number): Buffer => Buffer.from(`Subject: m ${i}\r\n\r\nbody ${i}\r\n`);
const NAME_TIME = new Date('2024-05-06T07:08:09Z'); // when a tool filed the message
const MTIME = new Date('2019-01-02T03:04:05Z'); // its internal date (Dovecot: the mtime)

async function drop(name: string, i: number, mtime = MTIME): Promise<void> {
  const file = path.join(cur, name);
  await writeFile(file, body(i));
  await utimes(file, mtime, mtime);
}

beforeEach(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'store-dates-'));
  store = new MaildirStore({ dataRoot: root, fsync: false });
  await store.ensureAccount(A);
  cur = path.join(store.accountRoot(A), 'cur');
  await mkdir(cur, { recursive: true });
});

afterEach(async () => {
  await store.close();
  await rm(root, { recursive: true, force: true });
});

describe('internal dates of dropped files', () => {
  it('reads the delivery time at the start of a Maildir name, nothing else', () => {
    expect(nameTimeMs('1700000000.M1P2.host,S=5:2,S')).toBe(1_700_000_000_000);
    expect(nameTimeMs('999999999.x')).toBe(999_999_999_000);
    expect(nameTimeMs('foreign.P2.otherhost:2,')).toBeUndefined();
    expect(nameTimeMs('1700000000')).toBeUndefined(); // no '.'
    expect(nameTimeMs('17000000.x')).toBeUndefined(); // too few digits
    expect(nameTimeMs('99999999999.x')).toBeUndefined(); // too many
    expect(nameTimeMs('9999999999.x')).toBeUndefined(); // year 2286: not plausible
    expect(consecutiveRanges([1, 2, 3, 7, 9, 10])).toEqual([
      [1, 3],
      [7, 7],
      [9, 10],
    ]);
  });

  it('shows, searches and copies the mtime, never the time of the name', async () => {
    const secs = NAME_TIME.getTime() / 1000;
    await drop(`${secs}.M1P1.tool,S=${body(1).length}:2,S`, 1); // name time and size: indexed by name
    await drop(`${secs + 1}.M2P1.tool,S=${body(2).length}:2,`, 2, new Date((secs + 1) * 1000 + 400)); // same second as its name
    await drop('foreign.P2.otherhost:2,', 3); // no time in the name: stat'ed at once
    await drop(`${secs + 2}.M4P1.tool:2,`, 4); // no size in the name: stat'ed at once
    const view = await store.selectMailbox(A, 'INBOX');
    expect(view.uids).toHaveLength(4);
    const id = view.mailbox.id;
    // the counters of a bulk pick-up are added once, not by the per-row trigger
    const sizes = [1, 2, 3, 4].reduce((n, i) => n + body(i).length, 0);
    expect([view.mailbox.messages, view.mailbox.unseen, view.mailbox.size]).toEqual([4, 3, sizes]);
    expect(await store.usage(A)).toEqual({ messages: 4, bytes: sizes });

    const metas = await store.fetchMeta(A, id, { fields: 'flags' });
    const byName = new Map(metas.map((m) => [m.size, m.internalDate.getTime()]));
    expect(byName.get(body(1).length)).toBe(MTIME.getTime());
    expect(metas.filter((m) => m.internalDate.getTime() === MTIME.getTime())).toHaveLength(3);
    expect(metas.filter((m) => m.internalDate.getTime() === (secs + 1) * 1000), 'the second of the name is the mtime second: kept').toHaveLength(1);

    // SEARCH BEFORE 2020: the three whose mtime is 2019, not one by the names' 2024
    const before = await store.searchUids(A, id, { k: 'date', op: 'before', day: Date.UTC(2020, 0, 1) });
    expect(before).toHaveLength(3);

    await store.createMailbox(A, 'Filed');
    await store.copy(A, id, [view.uids[0]!], 'Filed');
    const arch = await store.selectMailbox(A, 'Filed');
    const [copy] = await store.fetchMeta(A, arch.mailbox.id, { fields: 'flags' });
    expect(copy!.internalDate.getTime(), 'COPY keeps the source internal date').toBe(metas[0]!.internalDate.getTime());
  });

  it('a fetch that reads no date does not wait for the dates; the background pass settles them', async () => {
    const secs = NAME_TIME.getTime() / 1000;
    for (let i = 0; i < 20; i++) await drop(`${secs + i}.M${i}P1.tool,S=${body(i).length}:2,S`, i);
    const view = await store.selectMailbox(A, 'INBOX');
    const quick = await store.fetchMeta(A, view.mailbox.id, { fields: 'flags', internalDate: false });
    expect(quick).toHaveLength(20);
    // the background pass runs once the store has been quiet for a moment (polls 100 ms apart)
    for (let t = 0; t < 40; t++) {
      await new Promise((r) => setTimeout(r, 100));
      const m = await store.fetchMeta(A, view.mailbox.id, { fields: 'flags', internalDate: false });
      if (m.every((x) => x.internalDate.getTime() === MTIME.getTime())) return;
    }
    throw new Error('dates never settled in the background');
  });

  it('dates still pending when the store closes are settled after it opens again', async () => {
    const secs = NAME_TIME.getTime() / 1000;
    for (let i = 0; i < 5; i++) await drop(`${secs + i}.M${i}P1.tool,S=${body(i).length}:2,S`, i);
    const view = await store.selectMailbox(A, 'INBOX');
    await store.close(); // may cut the background pass short
    store = new MaildirStore({ dataRoot: root, fsync: false });
    const metas = await store.fetchMeta(A, view.mailbox.id, { uids: view.uids as Uid[] });
    expect(metas.map((m) => m.internalDate.getTime())).toEqual(Array(5).fill(MTIME.getTime()));
  });
});

describe('the index of an older version', () => {
  it('loses the INSERT trigger (the two paths that insert rows add to the counters themselves)', () => {
    const file = path.join(root, 'old.sqlite');
    const db = openIndex(file);
    db.exec(`CREATE TRIGGER messages_ins AFTER INSERT ON messages WHEN NOT EXISTS (SELECT 1 FROM meta WHERE key = 'bulk_insert') BEGIN
        UPDATE mailboxes SET messages = messages + 1, size = size + NEW.size,
          unseen = unseen + ((NEW.flags & 1) = 0), recent = recent + NEW.in_new WHERE id = NEW.mailbox_id;
        UPDATE usage SET bytes = bytes + NEW.size, messages = messages + 1 WHERE id = 1;
      END;`);
    db.close();
    const again = openIndex(file);
    const sql = again.prepare("SELECT sql FROM sqlite_master WHERE name = 'messages_ins'").pluck().get();
    again.close();
    expect(sql).toBeUndefined();
  });

  it('trades messages_unseen for the covering messages_unseen_uid that SEARCH UNSEEN reads; a bounded page cache (issue 16)', () => {
    const file = path.join(root, 'unseen.sqlite');
    const db = openIndex(file);
    db.exec('DROP INDEX messages_unseen_uid; CREATE INDEX messages_unseen ON messages (mailbox_id, uid) WHERE (flags & 1) = 0');
    db.close();
    const again = openIndex(file);
    const names = again.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'messages_unseen%'").pluck().all();
    const planOf = ([sql, args]: [string, unknown[]]) => (again.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(1, ...args) as Array<{ detail: string }>).map((p) => p.detail).join();
    const unseen = planOf(searchSql({ k: 'flag', flag: '\\Seen', set: false }));
    const andSize = planOf(searchSql({ k: 'and', qs: [{ k: 'flag', flag: '\\Seen', set: false }, { k: 'size', op: 'larger', n: 10 }] }));
    const cache = again.pragma('cache_size', { simple: true });
    again.close();
    expect(names).toEqual(['messages_unseen_uid']);
    expect(unseen).toMatch(/COVERING INDEX messages_unseen_uid/);
    expect(andSize).toMatch(/INDEX messages_unseen_uid/);
    expect(cache).toBe(-INDEX_CACHE_KIB);
  });
});
