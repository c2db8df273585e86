// QRESYNC (RFC 7162 §3.2) beyond the transcript (test/transcripts/imap/qresync.txt):
// imapflow coming back after changes made in another session, the bytes a resync
// costs against a full flag sync, and the answer once the store has forgotten expunges.
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImapTestClient } from '../helpers/imap-client.js';
import { message, startImapFixture, type ImapFixture } from './fixture.js';

const KEPT = 3;
let f: ImapFixture;
let n = 0;
beforeAll(async () => {
  f = await startImapFixture({ store: 'memory', expungedKept: KEPT });
});
afterAll(async () => {
  await f.close();
});

async function account(messages: number): Promise<string> {
  const user = `qr${++n}@example.test`;
  await f.addAccount(user, 'pw');
  for (let i = 1; i <= messages; i++) await f.deliver(user, message(i, { to: user }));
  return user;
}

function flow(user: string): ImapFlow {
  return new ImapFlow({ host: '127.0.0.1', port: f.port, secure: false, auth: { user, pass: 'pw' }, tls: { rejectUnauthorized: false }, logger: false, qresync: true });
}

/** Counts what the server sends to a test client from now on. */
function meter(c: ImapTestClient): () => number {
  let bytes = 0;
  c.socket.on('data', (d: Buffer) => (bytes += d.length));
  return () => bytes;
}

async function other(user: string, ...cmds: string[]): Promise<void> {
  const c = await f.connect();
  await c.login(user, 'pw');
  await c.transact('ok', 'SELECT INBOX');
  for (const cmd of cmds) await c.transact('ok', cmd);
  await c.close();
}

describe('QRESYNC', () => {
  it('imapflow (qresync: true) learns flags changed and messages expunged in another session when it comes back', async () => {
    const user = await account(6);
    const first = flow(user);
    await first.connect();
    const opened = await first.mailboxOpen('INBOX');
    const known = { uidValidity: opened.uidValidity, changedSince: opened.highestModseq! };
    expect(known.changedSince).toBeDefined();
    await first.logout();

    await other(user, 'STORE 2 +FLAGS (\\Flagged $Work)', 'STORE 3,5 +FLAGS (\\Deleted)', 'EXPUNGE');

    const again = flow(user);
    const flags: Array<{ uid?: number; flags: string[] }> = [];
    const expunged: Array<{ uid?: number; vanished: boolean; earlier?: boolean }> = [];
    again.on('flags', (e: { uid?: number; flags: Set<string> }) => flags.push({ uid: e.uid, flags: [...e.flags].sort() }));
    again.on('expunge', (e: { uid?: number; vanished: boolean; earlier?: boolean }) => expunged.push(e));
    await again.connect();
    expect(again.enabled.has('QRESYNC')).toBe(true);
    const mb = await again.mailboxOpen('INBOX', known);
    await again.logout();
    expect(mb.exists).toBe(4);
    expect(flags).toEqual([{ uid: 2, flags: ['$Work', '\\Flagged'] }]);
    expect(expunged.map((e) => [e.uid, e.vanished, e.earlier])).toEqual([
      [3, true, true],
      [5, true, true],
    ]);
  });

  it('imapflow learns the HIGHESTMODSEQ its own expunge raised from the tagged OK (RFC 7162 §3.2.7)', async () => {
    const user = await account(4);
    const client = flow(user);
    await client.connect();
    await client.mailboxOpen('INBOX');
    await client.messageDelete('2', { uid: true });
    const status = async (): Promise<bigint> => {
      const c = await f.connect();
      await c.login(user, 'pw');
      const r = await c.transact('ok', 'STATUS INBOX (HIGHESTMODSEQ)');
      await c.close();
      return BigInt(/HIGHESTMODSEQ (\d+)/.exec(r.untagged[0]!.raw)![1]!);
    };
    const mailbox = client.mailbox as { highestModseq?: bigint };
    expect(mailbox.highestModseq).toBe(await status());
    // imapflow reads no untagged HIGHESTMODSEQ: that one is in the transcript (qresync.txt).
    await client.logout();
  });

  it('a resync transfers only the changes: bytes of SELECT (QRESYNC ...) against SELECT + FETCH 1:* (UID FLAGS)', async () => {
    const total = 2000;
    const user = await account(total);
    const c = await f.connect();
    await c.login(user, 'pw');
    await c.transact('ok', 'ENABLE QRESYNC');
    const full = meter(c);
    const sel = await c.transact('ok', 'SELECT INBOX');
    const all = await c.transact('ok', 'UID FETCH 1:* (FLAGS)');
    const fullBytes = full();
    expect(all.untagged.filter((r) => r.type === 'FETCH')).toHaveLength(total);
    const uv = /UIDVALIDITY (\d+)/.exec(sel.untagged.map((r) => r.raw).join('\n'))![1];
    const hm = /HIGHESTMODSEQ (\d+)/.exec(sel.untagged.map((r) => r.raw).join('\n'))![1];
    await c.transact('ok', 'UNSELECT');

    await other(user, 'STORE 10,500,1999 +FLAGS (\\Seen)', 'STORE 7,8 +FLAGS (\\Deleted)', 'EXPUNGE');

    const resync = meter(c);
    const r = await c.transact('ok', `SELECT INBOX (QRESYNC (${uv} ${hm}))`);
    const resyncBytes = resync();
    const fetched = r.untagged.filter((x) => x.type === 'FETCH').map((x) => x.raw);
    expect(fetched).toHaveLength(3);
    expect(fetched.join('\n')).toMatch(/UID 10 .*\n.*UID 500 .*\n.*UID 1999 /);
    expect(r.untagged.filter((x) => x.type === 'VANISHED').map((x) => x.raw)).toEqual(['* VANISHED (EARLIER) 7:8']);
    // The whole resync is a SELECT's fixed responses plus five short lines.
    expect(resyncBytes).toBeLessThan(1200);
    expect(fullBytes).toBeGreaterThan(40 * resyncBytes);
    console.log(`QRESYNC resync of ${total} messages (3 flag changes, 2 expunges): ${resyncBytes} bytes; SELECT + UID FETCH 1:* (FLAGS): ${fullBytes} bytes`);
    await c.close();
  });

  it('once expunges are forgotten (the bound), VANISHED (EARLIER) names every known UID that is gone, narrowed by seq-match-data', async () => {
    const user = await account(12);
    // UID 2 goes before the client's state: the client never knew it.
    await other(user, 'UID STORE 2 +FLAGS (\\Deleted)', 'UID EXPUNGE 2');
    const c = await f.connect();
    await c.login(user, 'pw');
    await c.transact('ok', 'ENABLE QRESYNC');
    const sel = (await c.transact('ok', 'SELECT INBOX')).untagged.map((x) => x.raw).join('\n');
    const uv = /UIDVALIDITY (\d+)/.exec(sel)![1];
    const hm = /HIGHESTMODSEQ (\d+)/.exec(sel)![1];
    await c.transact('ok', 'UNSELECT');
    // KEPT + 1 expunges after it, one command each: the first is forgotten.
    await other(user, ...[7, 8, 9, 10].flatMap((u) => [`UID STORE ${u} +FLAGS (\\Deleted)`, `UID EXPUNGE ${u}`]));
    const vanished = async (param: string): Promise<string[]> =>
      (await c.transact('ok', `EXAMINE INBOX (QRESYNC (${uv} ${hm}${param}))`)).untagged.filter((x) => x.type === 'VANISHED').map((x) => x.raw);
    // Every UID up to UIDNEXT-1 not here: 2 too, which the client ignores (RFC 7162 §3.2.10).
    expect(await vanished('')).toEqual(['* VANISHED (EARLIER) 2,7:10']);
    expect(await vanished(' 5:12')).toEqual(['* VANISHED (EARLIER) 7:10']);
    // The client's seq 5 was UID 6 and still is: nothing below UID 6 left (RFC 7162 §3.2.5.2).
    expect(await vanished(' 1:12 (1,5 1,6)')).toEqual(['* VANISHED (EARLIER) 7:10']);
    // A pair that no longer holds narrows nothing.
    expect(await vanished(' 1:12 (5 7)')).toEqual(['* VANISHED (EARLIER) 2,7:10']);
    await c.close();
  });
});
