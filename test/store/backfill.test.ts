// Files another tool drops into a Maildir are indexed from their names and file times
// alone (issue 16 item 1: no file is read when the mailbox is opened); the envelope and
// body structure are cached afterwards by a background pass, which also survives files
// that vanish or cannot be parsed meanwhile.
import { mkdtempSync } from 'node:fs';
import { mkdir, rm, unlink, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { analyzeMessage } from '../../src/imap/mime/index.js';
import { MaildirStore } from '../../src/store/maildir/index.js';
import type { MessageAnalyzer } from '../../src/store/types.js';

const A = 'alice@example.test';
let root: string;
let store: MaildirStore;
let analysed: number;

const msg = (i: number): Buffer => Buffer.from(`From: Sender ${i} <s${i}@example.org>\r\nSubject: dropped ${i}\r\n\r\nbody ${i}\r\n`);

beforeEach(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'store-backfill-'));
  analysed = 0;
  const analyzer: MessageAnalyzer = (src) => {
    analysed++;
    return analyzeMessage(src);
  };
  store = new MaildirStore({ dataRoot: root, analyzer, fsync: false });
  await store.ensureAccount(A);
});

afterEach(async () => {
  await store.close();
  await rm(root, { recursive: true, force: true });
});

describe('messages indexed by name first', () => {
  it('opens 300 dropped files without reading one, then caches their envelopes in the background', async () => {
    const cur = path.join(root, 'maildir', 'example.test', 'alice', 'cur');
    await mkdir(cur, { recursive: true });
    const when = new Date('2020-02-03T04:05:06Z');
    for (let i = 0; i < 300; i++) {
      const data = msg(i);
      // a size in the name that differs from the file's: the name is what is used
      const file = path.join(cur, `${1600000000 + i}.M${i}P7.tool,S=${i === 5 ? 999 : data.length}:2,${i % 2 ? 'S' : ''}`);
      await writeFile(file, data);
      await utimes(file, when, when);
    }
    await unlink(path.join(cur, (await import('node:fs')).readdirSync(cur).find((n) => n.startsWith('1600000007.'))!));
    const view = await store.selectMailbox(A, 'INBOX');
    expect(analysed, 'no file read while opening').toBeLessThanOrEqual(4); // the background pass may have begun its first few
    expect(view.uids).toHaveLength(299);
    const light = await store.fetchMeta(A, view.mailbox.id, { uids: view.uids.slice(0, 6), fields: 'flags' });
    expect(light.map((m) => m.size)).toEqual([msg(0).length, msg(1).length, msg(2).length, msg(3).length, msg(4).length, 999]);
    expect(light.every((m) => m.internalDate.getTime() === when.getTime())).toBe(true);
    expect(light.map((m) => m.flags.includes('\\Seen'))).toEqual([false, true, false, true, false, true]);

    await store.backfillIdle();
    expect(analysed).toBe(299);
    const full = await store.fetchMeta(A, view.mailbox.id, { fields: 'all' });
    expect(full).toHaveLength(299);
    expect(full.every((m) => m.envelope !== undefined && m.bodyStructure !== undefined)).toBe(true);
    expect((full[298]!.envelope as { subject: string }).subject).toBe('dropped 299');
  });

  it('analyses on first need what the background pass has not reached, once', async () => {
    const cur = path.join(root, 'maildir', 'example.test', 'alice', 'cur');
    await mkdir(cur, { recursive: true });
    for (let i = 0; i < 200; i++) await writeFile(path.join(cur, `${1600000000 + i}.M${i}P7.tool:2,`), msg(i));
    const view = await store.selectMailbox(A, 'INBOX');
    // the last three: far behind the pass, which walks UIDs upwards
    const last = await store.fetchMeta(A, view.mailbox.id, { uids: view.uids.slice(-3), fields: 'all' });
    expect(last.map((m) => (m.envelope as { subject: string }).subject)).toEqual(['dropped 197', 'dropped 198', 'dropped 199']);
    await store.backfillIdle();
    expect(analysed, 'each file read once: by the FETCH/SEARCH that needed it or by the pass').toBe(200);
  });
});
