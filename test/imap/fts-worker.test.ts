// A SEARCH that fills the full-text index of 1 200 messages dropped into cur/ (their UIDs
// in their names, so both servers number them alike) runs the
// fill in its worker thread (src/store/maildir/fts-worker.ts): a second client's NOOPs
// are answered meanwhile, a message delivered during the fill is committed and found,
// and the answers are those of a server that reads every message (RFC 9051 §6.4.4).
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MaildirStore } from '../../src/store/maildir/store.js';
import { startImapFixture, USER, type ImapFixture } from './fixture.js';

const N = 1200;
let worker: ImapFixture;
let reading: ImapFixture;

/** 0 bytes of body, 1 KB, or a few lines; every 200th holds the needle. */
function dropped(i: number): string {
  const body = i % 3 === 0 ? '' : i % 3 === 1 ? 'k'.repeat(1024) : `lines of message ${i}\r\n`.repeat(4);
  return `Subject: dropped ${i}${i % 200 === 0 ? ' quasar' : ''}\r\nFrom: x${i}@example.org\r\n\r\n${body}${i % 200 === 7 ? 'needleword\r\n' : ''}`;
}

async function dropInto(f: ImapFixture): Promise<void> {
  await f.ctx.store.ensureAccount(USER);
  const cur = path.join((f.ctx.store as MaildirStore).accountRoot(USER), 'cur');
  for (let i = 0; i < N; i++) await writeFile(path.join(cur, `1700000000.M${i}P1.test,U=${i + 1}:2,S`), dropped(i));
}

const searchOf = (r: { untagged: Array<{ type: string; values?: unknown[] }> }): unknown[] => r.untagged.find((u) => u.type === 'SEARCH')!.values!;

beforeAll(async () => {
  worker = await startImapFixture({ ftsWorker: { min: 1, idleMs: 500 } });
  reading = await startImapFixture({ fts: false });
  await dropInto(worker);
  await dropInto(reading);
  await (reading.ctx.store as MaildirStore).openMailbox(USER, 'INBOX'); // picked up before the late delivery, as on the other server
}, 60_000);
afterAll(async () => {
  await worker?.close();
  await reading?.close();
});

describe('full-text fill in its worker thread, over IMAP', () => {
  it('answers a second client during the fill, commits a delivery made meanwhile, and answers as reading the files', async () => {
    const a = await worker.client();
    const b = await worker.client();
    await a.transact('ok', 'SELECT INBOX');
    await b.transact('ok', 'SELECT INBOX');
    const events: string[] = [];
    const costly = a.transact('ok', 'UID SEARCH SUBJECT quasar').then((r) => (events.push('search'), r));
    let delivered = false;
    while (!events.includes('search')) {
      await b.transact('ok', 'NOOP');
      events.push('noop');
      if (!delivered) {
        delivered = true;
        await worker.deliver(USER, 'Subject: late quasar\r\n\r\nneedleword too\r\n');
      }
    }
    const subject = searchOf(await costly);
    expect(events.filter((e) => e === 'noop').length).toBeGreaterThan(1);
    expect(events.indexOf('noop')).toBeLessThan(events.indexOf('search'));
    await reading.deliver(USER, 'Subject: late quasar\r\n\r\nneedleword too\r\n');
    const r = await reading.client();
    await r.transact('ok', 'SELECT INBOX');
    expect(subject.filter((u) => u !== N + 1)).toEqual(searchOf(await r.transact('ok', 'UID SEARCH SUBJECT quasar')).filter((u) => u !== N + 1));
    for (const cmd of ['UID SEARCH SUBJECT quasar', 'UID SEARCH BODY needleword', 'UID SEARCH TEXT "lines of message 2"', 'UID SEARCH NOT BODY k']) {
      const want = searchOf(await r.transact('ok', cmd));
      expect(searchOf(await a.transact('ok', cmd))).toEqual(want);
    }
    expect(searchOf(await a.transact('ok', 'UID SEARCH BODY needleword'))).toContain(N + 1);
  }, 120_000);
});
