// Quotas on IMAP: RFC 9208 (QUOTA, GETQUOTA, GETQUOTAROOT, SETQUOTA, [OVERQUOTA]),
// with the raw test client (exact responses) and imapflow (a real client library).
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImapTestClient } from '../helpers/imap-client.js';
import type { TestServer } from '../helpers/servers.js';
import { fill, inboxCount, message, PW, quotaServer, usage } from './env.js';

let t: TestServer;
let n = 0;
async function account(quota: { bytes?: number | null; messages?: number | null } = {}): Promise<string> {
  const a = `i${++n}@example.test`;
  await t.addAccount(a, PW);
  if (quota.bytes !== undefined || quota.messages !== undefined) t.accounts.setAccountQuota(a, quota);
  return a;
}
async function login(a: string): Promise<ImapTestClient> {
  const c = await ImapTestClient.connect(t.port('imap'));
  await c.login(a, PW);
  return c;
}
function appendCmd(mailbox: string, data: Buffer): Array<string | Buffer> {
  return [`APPEND ${mailbox} `, data, ''];
}
const quotaLine = (untagged: { raw: string }[]) => untagged.map((u) => u.raw).filter((r) => /^\* QUOTA/.test(r));

beforeAll(async () => {
  t = await quotaServer();
});
afterAll(async () => {
  await t?.close();
});

describe('RFC 9208 commands', () => {
  it('advertises QUOTA, QUOTA=RES-STORAGE and QUOTA=RES-MESSAGE (RFC 9208 §3.1, §5)', async () => {
    const a = await account();
    const c = await login(a);
    const r = await c.transact('ok', 'CAPABILITY');
    const caps = r.untagged.find((u) => u.type === 'CAPABILITY')!.raw.split(' ');
    expect(caps).toEqual(expect.arrayContaining(['QUOTA', 'QUOTA=RES-STORAGE', 'QUOTA=RES-MESSAGE']));
    expect(caps).not.toContain('QUOTASET');
    await c.transact('ok', 'LOGOUT');
  });

  it('GETQUOTAROOT names root "" with STORAGE in KiB and MESSAGE counts (RFC 9208 §4.3, §5.1, §5.2)', async () => {
    const a = await account({ bytes: 10 * 1024, messages: 50 });
    await fill(t, a, [2048, 1000]);
    const c = await login(a);
    const r = await c.transact('ok', 'GETQUOTAROOT INBOX');
    expect(r.untagged.map((u) => u.raw)).toEqual(['* QUOTAROOT INBOX ""', '* QUOTA "" (STORAGE 3 10 MESSAGE 2 50)']);
    const q = await c.transact('ok', 'GETQUOTA ""');
    expect(quotaLine(q.untagged)).toEqual(['* QUOTA "" (STORAGE 3 10 MESSAGE 2 50)']);
    await c.transact('no', 'GETQUOTA "other"');
    await c.transact('no', 'GETQUOTAROOT Nonexistent');
    // RFC 9208 §4.4: limits are the administrator's; refused, nothing changes.
    const s = await c.transact('no', 'SETQUOTA "" (STORAGE 99999)');
    expect(s.tagged.code).toBe('NOPERM');
    await c.transact('ok', 'LOGOUT');
    expect(t.accounts.getAccount(a)!.quotaBytes).toBe(10 * 1024);
  });

  it('an account without limits has no quota root; a domain quota adds a root named after the domain', async () => {
    const a = await account();
    const c = await login(a);
    const r = await c.transact('ok', 'GETQUOTAROOT INBOX');
    expect(r.untagged.map((u) => u.raw)).toEqual(['* QUOTAROOT INBOX']);
    await c.transact('ok', 'LOGOUT');
    t.accounts.addDomain('dom.test');
    await t.accounts.addAccount('x@dom.test', PW);
    await t.accounts.addAccount('y@dom.test', PW);
    t.accounts.setDomainQuota('dom.test', 100 * 1024);
    await fill(t, 'y@dom.test', [4096]);
    const d = await login('x@dom.test');
    const dr = await d.transact('ok', 'GETQUOTAROOT INBOX');
    expect(dr.untagged.map((u) => u.raw)).toEqual(['* QUOTAROOT INBOX "dom.test"', '* QUOTA "dom.test" (STORAGE 4 100)']);
    await d.transact('ok', 'LOGOUT');
  });
});

describe('APPEND, COPY, MOVE at the limit', () => {
  it('APPEND fills the mailbox exactly to the limit; the next one fails with NO [OVERQUOTA] and changes nothing (RFC 9208 §5.2)', async () => {
    const a = await account({ bytes: 3000 });
    const c = await login(a);
    await c.transact('ok', appendCmd('INBOX', message(2000)));
    await c.transact('ok', appendCmd('INBOX', message(1000)));
    expect(await usage(t, a)).toEqual({ bytes: 3000, messages: 2 });
    const r = await c.transact('no', appendCmd('INBOX', message(200)));
    expect(r.tagged.code).toBe('OVERQUOTA');
    const r2 = await c.transact('no', appendCmd('Archive', message(200)));
    expect(r2.tagged.code).toBe('OVERQUOTA');
    expect(await usage(t, a)).toEqual({ bytes: 3000, messages: 2 });
    expect(await inboxCount(t, a, 'Archive')).toBe(0);
    await c.transact('ok', 'LOGOUT');
  });

  it('message-count quota: APPEND beyond it fails with NO [OVERQUOTA]', async () => {
    const a = await account({ messages: 1 });
    const c = await login(a);
    await c.transact('ok', appendCmd('INBOX', message(300)));
    expect((await c.transact('no', appendCmd('INBOX', message(300)))).tagged.code).toBe('OVERQUOTA');
    expect(await inboxCount(t, a)).toBe(1);
    await c.transact('ok', 'LOGOUT');
  });

  it('COPY beyond the quota fails with NO [OVERQUOTA] and copies nothing; COPY that fits adds exactly its size', async () => {
    const a = await account({ bytes: 5000 });
    await fill(t, a, [1500, 1500]);
    const c = await login(a);
    await c.transact('ok', 'SELECT INBOX');
    const r = await c.transact('no', 'COPY 1:2 Archive'); // 6000 > 5000
    expect(r.tagged.code).toBe('OVERQUOTA');
    expect(await inboxCount(t, a, 'Archive')).toBe(0);
    expect(await usage(t, a)).toEqual({ bytes: 3000, messages: 2 });
    await c.transact('ok', 'UID COPY 1 Archive'); // 4500 <= 5000
    expect(await usage(t, a)).toEqual({ bytes: 4500, messages: 3 });
    const q = await c.transact('ok', 'GETQUOTA ""');
    expect(quotaLine(q.untagged)).toEqual(['* QUOTA "" (STORAGE 5 5)']);
    await c.transact('ok', 'LOGOUT');
  });

  it('MOVE within the account never changes usage, so it works even when full (the way to Trash stays open)', async () => {
    const a = await account({ bytes: 2000 });
    await fill(t, a, [1000, 1000]);
    const c = await login(a);
    await c.transact('ok', 'SELECT INBOX');
    await c.transact('ok', 'MOVE 1 Trash');
    expect(await usage(t, a)).toEqual({ bytes: 2000, messages: 2 });
    expect(await inboxCount(t, a, 'Trash')).toBe(1);
    expect((await c.transact('no', 'COPY 1 Trash')).tagged.code).toBe('OVERQUOTA');
    await c.transact('ok', 'LOGOUT');
  });

  it('usage after EXPUNGE goes down by exactly the expunged sizes, and APPEND works again', async () => {
    const a = await account({ bytes: 4000 });
    await fill(t, a, [1000, 1200, 1800]);
    const c = await login(a);
    await c.transact('ok', 'SELECT INBOX');
    expect((await c.transact('no', appendCmd('INBOX', message(500)))).tagged.code).toBe('OVERQUOTA');
    await c.transact('ok', 'STORE 2 +FLAGS.SILENT (\\Deleted)');
    await c.transact('ok', 'EXPUNGE');
    expect(await usage(t, a)).toEqual({ bytes: 2800, messages: 2 });
    await c.transact('ok', appendCmd('INBOX', message(1200)));
    expect(await usage(t, a)).toEqual({ bytes: 4000, messages: 3 });
    await c.transact('ok', 'LOGOUT');
  });
});

describe('imapflow', () => {
  it('getQuota reports storage in bytes and messages; an APPEND over quota rejects with OVERQUOTA', async () => {
    const a = await account({ bytes: 8 * 1024, messages: 10 });
    const client = new ImapFlow({ host: '127.0.0.1', port: t.port('imap'), secure: false, auth: { user: a, pass: PW }, logger: false, tls: { rejectUnauthorized: false } });
    await client.connect();
    try {
      await client.append('INBOX', message(4096));
      const q = await client.getQuota('INBOX');
      expect(q).toMatchObject({ path: 'INBOX', storage: { usage: 4096, limit: 8192 }, message: { usage: 1, limit: 10 } });
      await client.append('INBOX', message(4096)); // exactly full
      const err = await client.append('INBOX', message(200)).then(
        () => undefined,
        (e: unknown) => e as { serverResponseCode?: string },
      );
      expect(err?.serverResponseCode).toBe('OVERQUOTA');
      const lock = await client.getMailboxLock('INBOX');
      try {
        // COPY of everything into Archive would double usage: refused, nothing copied.
        expect(await client.messageCopy('1:*', 'Archive')).toBe(false);
        expect(await client.status('Archive', { messages: true })).toMatchObject({ messages: 0 });
        await client.messageDelete('1');
      } finally {
        lock.release();
      }
      expect(await usage(t, a)).toEqual({ bytes: 4096, messages: 1 });
      const q2 = await client.getQuota('INBOX');
      expect(q2).toMatchObject({ storage: { usage: 4096, limit: 8192 } });
    } finally {
      await client.logout();
    }
  });
});
