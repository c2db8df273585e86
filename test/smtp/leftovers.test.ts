// Nothing left behind (issue 12): a message refused or cut off at any size leaves no
// file in spool/tmp, tmp/imap or any Maildir tmp/, on port 25, submission and IMAP
// APPEND; and files a previous run left in the server's temp directories (spool/tmp,
// tmp/imap, the queue spool) are removed at start, the queue's referenced ones kept.
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertMessage } from '../../src/queue/repo.js';
import { writeQueueFile } from '../../src/queue/spool.js';
import { SPILL_BYTES } from '../../src/smtp/spool.js';
import { startTestServer, type TestServer } from '../helpers/servers.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';
import { buildMessage, dotStuff, KiB, leftovers, MiB } from '../sizes/messages.js';
import { WireReader } from '../sizes/wire.js';

const PASS = 'leftovers-pw';
let t: TestServer;

beforeAll(async () => {
  t = await startTestServer({
    configure: (c) => {
      c.checks.enabled = false;
      c.quota.gracePercent = 0;
    },
  });
  await t.addAccount('alice@example.test', PASS);
  await t.addAccount('bob@example.test', PASS);
  await t.addAccount('small@example.test', PASS);
  t.accounts.setAccountQuota('small@example.test', { bytes: 50 * KiB }); // smaller than every message below
});

afterAll(async () => {
  await t?.close();
});

/** Waits (bounded) until the temp directories are empty: the server notices a vanished client asynchronously. */
async function nothingLeft(): Promise<string[]> {
  const end = Date.now() + 10_000;
  for (;;) {
    const l = leftovers(t.dataRoot);
    if (l.length === 0 || Date.now() > end) return l;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Greets, logs in on submission (plaintext on loopback, as the test config allows). */
async function session(listener: 'smtp' | 'submission'): Promise<SmtpTestClient> {
  const c = await SmtpTestClient.connect(t.port(listener));
  await c.hello();
  if (listener === 'submission') expect((await c.cmd(`AUTH PLAIN ${Buffer.from(`\0alice@example.test\0${PASS}`).toString('base64')}`)).code).toBe(235);
  return c;
}

// Below the spill threshold (memory only), just over it and well over it (temp file).
const CUT_SIZES = [100 * KiB, SPILL_BYTES + 64 * KiB, 5 * MiB];

describe('a client that vanishes mid-DATA', () => {
  for (const listener of ['smtp', 'submission'] as const) {
    for (const size of CUT_SIZES) {
      it(`${listener}, after ${(size / KiB).toFixed(0)} KB of a bigger message: nothing stored, nothing left`, async () => {
        const from = listener === 'smtp' ? 'someone@remote.example' : 'alice@example.test';
        const raw = dotStuff(await buildMessage(size * 2, { from, to: 'bob@example.test', tag: `cut-${listener}-${size}` }));
        const c = await session(listener);
        expect((await c.cmd(`MAIL FROM:<${from}>`)).code).toBe(250);
        expect((await c.cmd('RCPT TO:<bob@example.test>')).code).toBe(250);
        expect((await c.cmd('DATA')).code).toBe(354);
        await new Promise<void>((r) => c.socket.write(raw.subarray(0, size), () => r()));
        c.close();
        expect(await nothingLeft()).toEqual([]);
        const inbox = path.join(t.dataRoot, 'maildir', 'example.test', 'bob', 'new');
        const stored = existsSync(inbox) ? readdirSync(inbox) : [];
        expect(stored.length).toBe(0);
      });
    }
  }

  it('IMAP APPEND cut off mid-literal (5 MB, spooled to tmp/imap): nothing stored, nothing left', async () => {
    const raw = await buildMessage(5 * MiB, { from: 'someone@remote.example', to: 'bob@example.test', tag: 'cut-append' });
    const w = await WireReader.connect(t.port('imap'));
    await w.line();
    w.write(`a LOGIN bob@example.test ${PASS}\r\n`);
    expect(await w.line()).toMatch(/^a OK/);
    w.write(`b APPEND INBOX {${raw.length}}\r\n`);
    expect(await w.line()).toMatch(/^\+ /);
    await new Promise<void>((r) => w.socket.write(raw.subarray(0, 2 * MiB), () => r()));
    await new Promise((r) => setTimeout(r, 100));
    w.close();
    expect(await nothingLeft()).toEqual([]);
  });
});

describe('a message refused after its data', () => {
  for (const size of CUT_SIZES) {
    it(`over the recipient's quota, ${(size / KiB).toFixed(0)} KB: 552 5.2.2, nothing left`, async () => {
      const raw = await buildMessage(size, { from: 'someone@remote.example', to: 'small@example.test', tag: `quota-${size}` });
      const c = await session('smtp');
      expect((await c.cmd('MAIL FROM:<someone@remote.example>')).code).toBe(250);
      expect((await c.cmd('RCPT TO:<small@example.test>')).code).toBe(250);
      expect((await c.cmd('DATA')).code).toBe(354);
      c.write(Buffer.concat([dotStuff(raw), Buffer.from('.\r\n')]));
      expect((await c.reply(30_000)).text).toMatch(/^552 5\.2\.2 /);
      c.close();
      expect(await nothingLeft()).toEqual([]);
    });
  }
});

describe('at start', () => {
  it('removes what a previous run left in spool/tmp, tmp/imap and the queue spool; keeps queued messages', async () => {
    const first = await startTestServer({ keepData: true, configure: (c) => (c.checks.enabled = false) });
    const data = first.dataRoot;
    // A message really queued (to a domain nobody answers for: it waits for its next try).
    const kept = await writeQueueFile(data, Buffer.from('From: a@example.test\r\nSubject: queued\r\n\r\nwaiting\r\n'));
    insertMessage(first.ctx.db, { spoolPath: kept.rel, mailFrom: 'a@example.test', size: kept.size, rcpts: ['x@unreachable.example'] });
    await first.close();
    // Just-made files (no age to wait for) in every temp directory the server owns.
    const stale = [
      path.join(data, 'spool', 'tmp', '1.1.1.abcd.in'),
      path.join(data, 'spool', 'tmp', '1.1.2.abcd.msg'),
      path.join(data, 'tmp', 'imap', 'append-1-abcdef'),
      path.join(data, 'queue', '1.1.3.abcd.eml'),
    ];
    for (const f of stale) {
      mkdirSync(path.dirname(f), { recursive: true });
      writeFileSync(f, 'left by a crash\r\n');
    }
    const again = await startTestServer({ dataRoot: data, configure: (c) => (c.checks.enabled = false) });
    try {
      const end = Date.now() + 10_000;
      while (stale.some(existsSync) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      expect(stale.filter(existsSync)).toEqual([]);
      expect(existsSync(kept.abs)).toBe(true);
    } finally {
      await again.close();
    }
  });
});
