// Quotas on SMTP: port 25 and submission local delivery (src/smtp/quota.ts).
// RFC 3463 X.2.2 mailbox full (452 4.2.2 temporary, 552 5.2.2 never fits), RFC 1870 SIZE=.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { TestServer } from '../helpers/servers.js';
import { fill, inboxCount, message, PW, quotaServer, smtpSession, usage } from './env.js';

let t: TestServer;
let n = 0;
/** A fresh account per test (the server is shared). */
async function account(quota: { bytes?: number | null; messages?: number | null } = {}): Promise<string> {
  const a = `u${++n}@example.test`;
  await t.addAccount(a, PW);
  if (quota.bytes !== undefined || quota.messages !== undefined) t.accounts.setAccountQuota(a, quota);
  return a;
}

beforeAll(async () => {
  t = await quotaServer();
});
afterAll(async () => {
  await t?.close();
});
beforeEach(() => {
  t.config.quota.gracePercent = 0;
});

describe('port 25', () => {
  it('a mailbox filled exactly to the limit: RCPT gets 452 4.2.2, nothing changes; others still get mail', async () => {
    const full = await account();
    await fill(t, full, [1000, 2000]);
    t.accounts.setAccountQuota(full, { bytes: 3000 }); // exactly the usage
    const other = await account({ bytes: 100_000 });
    const r = await smtpSession(t.port('smtp'), { from: 's@remote.test', rcpts: [full, other], data: message(500) });
    expect(r.rcpts[0]!.code).toBe(452);
    expect(r.rcpts[0]!.text).toMatch(/^452 4\.2\.2 /);
    expect(r.rcpts[1]!.code).toBe(250);
    expect(r.data!.code).toBe(250);
    expect(await usage(t, full)).toEqual({ bytes: 3000, messages: 2 });
    expect(await inboxCount(t, other)).toBe(1);
  });

  it('the message that would cross the limit: 452 4.2.2 at end of DATA, nothing stored; one that fits exactly is stored', async () => {
    const a = await account();
    // Learn what the server adds (Return-Path, Received) to a message on the way in.
    const probe = await smtpSession(t.port('smtp'), { from: 's@remote.test', rcpts: [a], data: message(1000) });
    expect(probe.data!.code).toBe(250);
    const stored = (await usage(t, a)).bytes; // one message of 1000 bytes as sent
    const overhead = stored - 1000;
    expect(overhead).toBeGreaterThan(0);
    // Room for exactly one more 1000-byte message (the next Received line has the same length).
    t.accounts.setAccountQuota(a, { bytes: 2 * stored + 10 });
    const cross = await smtpSession(t.port('smtp'), { from: 's@remote.test', rcpts: [a], data: message(1000 + 11) });
    expect(cross.rcpts[0]!.code).toBe(250); // not full at RCPT, no SIZE given
    expect(cross.data!.code).toBe(452);
    expect(cross.data!.text).toMatch(/^452 4\.2\.2 /);
    expect(await usage(t, a)).toEqual({ bytes: stored, messages: 1 });
    const fits = await smtpSession(t.port('smtp'), { from: 's@remote.test', rcpts: [a], data: message(1000 + 10) });
    expect(fits.data!.code).toBe(250);
    expect(await usage(t, a)).toEqual({ bytes: 2 * stored + 10, messages: 2 });
    // Now exactly full: refused at RCPT.
    const after = await smtpSession(t.port('smtp'), { from: 's@remote.test', rcpts: [a], data: message(200) });
    expect(after.rcpts[0]!.text).toMatch(/^452 4\.2\.2 /);
  });

  it('SIZE= at MAIL FROM: 452 4.2.2 when it will not fit now, 552 5.2.2 when larger than the whole quota (RFC 1870)', async () => {
    const a = await account({ bytes: 10_000 });
    await fill(t, a, [6000]);
    const wont = await smtpSession(t.port('smtp'), { from: 's@remote.test', size: 5000, rcpts: [a] });
    expect(wont.mail.code).toBe(250);
    expect(wont.rcpts[0]!.text).toMatch(/^452 4\.2\.2 /);
    const never = await smtpSession(t.port('smtp'), { from: 's@remote.test', size: 10_001, rcpts: [a] });
    expect(never.rcpts[0]!.text).toMatch(/^552 5\.2\.2 /);
    const ok = await smtpSession(t.port('smtp'), { from: 's@remote.test', size: 3000, rcpts: [a], data: message(3000) });
    expect(ok.rcpts[0]!.code).toBe(250);
    expect(ok.data!.code).toBe(250);
    expect(await inboxCount(t, a)).toBe(2);
  });

  it('message count quota: the full mailbox gets 452 4.2.2', async () => {
    const a = await account({ messages: 2 });
    await fill(t, a, [300, 300]);
    const r = await smtpSession(t.port('smtp'), { from: 's@remote.test', rcpts: [a], data: message(300) });
    expect(r.rcpts[0]!.text).toMatch(/^452 4\.2\.2 /);
    expect(await inboxCount(t, a)).toBe(2);
  });

  it('grace: a mailbox under quota takes one last message up to grace_percent over; larger ones get 552 5.2.2', async () => {
    t.config.quota.gracePercent = 10;
    const a = await account({ bytes: 10_000 });
    await fill(t, a, [9000]);
    const r = await smtpSession(t.port('smtp'), { from: 's@remote.test', rcpts: [a], data: message(1500) });
    expect(r.data!.code).toBe(250);
    const u = await usage(t, a);
    expect(u.bytes).toBeGreaterThan(10_000);
    expect(u.bytes).toBeLessThanOrEqual(11_000);
    // Over quota now: the next one waits.
    const next = await smtpSession(t.port('smtp'), { from: 's@remote.test', rcpts: [a], data: message(200) });
    expect(next.rcpts[0]!.text).toMatch(/^452 4\.2\.2 /);
    const b = await account({ bytes: 10_000 });
    const huge = await smtpSession(t.port('smtp'), { from: 's@remote.test', size: 11_001, rcpts: [b] });
    expect(huge.rcpts[0]!.text).toMatch(/^552 5\.2\.2 /);
  });

  it('several recipients, one full at RCPT: that one gets 452 (the sender retries it), the others get the message', async () => {
    const full = await account({ bytes: 1000 });
    await fill(t, full, [1000]);
    const b = await account({ bytes: 100_000 });
    const c = await account();
    const r = await smtpSession(t.port('smtp'), { from: 's@remote.test', rcpts: [b, full, c], data: message(2000) });
    expect(r.rcpts.map((x) => x.code)).toEqual([250, 452, 250]);
    expect(r.data!.code).toBe(250);
    expect(await inboxCount(t, b)).toBe(1);
    expect(await inboxCount(t, c)).toBe(1);
    expect(await usage(t, full)).toEqual({ bytes: 1000, messages: 1 });
  });

  it('several recipients, one without room at end of DATA: accepted for all, stored over quota rather than lost or bounced', async () => {
    const tight = await account({ bytes: 5000 });
    await fill(t, tight, [4000]);
    const b = await account();
    // No SIZE=, so RCPT cannot know; at DATA the message does not fit `tight`.
    const r = await smtpSession(t.port('smtp'), { from: 's@remote.test', rcpts: [tight, b], data: message(3000) });
    expect(r.rcpts.map((x) => x.code)).toEqual([250, 250]);
    expect(r.data!.code).toBe(250);
    expect(await inboxCount(t, b)).toBe(1);
    expect(await inboxCount(t, tight)).toBe(2);
    expect((await usage(t, tight)).bytes).toBeGreaterThan(5000);
    // No bounce went anywhere: the queue is empty.
    expect(t.ctx.db.prepare('SELECT count(*) FROM queue_messages').pluck().get()).toBe(0);
    // From now on the full mailbox is refused at RCPT.
    const again = await smtpSession(t.port('smtp'), { from: 's@remote.test', rcpts: [tight], data: message(300) });
    expect(again.rcpts[0]!.text).toMatch(/^452 4\.2\.2 /);
  });

  it('an alias is checked after expansion: refused only when every mailbox behind it is full', async () => {
    const full = await account({ bytes: 500 });
    await fill(t, full, [500]);
    const roomy = await account();
    t.accounts.addAlias('team@example.test', [full, roomy]);
    t.accounts.addAlias('solo@example.test', [full]);
    const solo = await smtpSession(t.port('smtp'), { from: 's@remote.test', rcpts: ['solo@example.test'] });
    expect(solo.rcpts[0]!.text).toMatch(/^452 4\.2\.2 /);
    const team = await smtpSession(t.port('smtp'), { from: 's@remote.test', rcpts: ['team@example.test'], data: message(400) });
    expect(team.rcpts[0]!.code).toBe(250);
    expect(team.data!.code).toBe(250);
    expect(await inboxCount(t, roomy)).toBe(1);
  });

  it('a domain quota counts every account of the domain', async () => {
    t.accounts.addDomain('small.test');
    await t.accounts.addAccount('a@small.test', PW);
    await t.accounts.addAccount('b@small.test', PW);
    t.accounts.setDomainQuota('small.test', 4000);
    await fill(t, 'a@small.test', [3000]);
    await fill(t, 'b@small.test', [1000]);
    const r = await smtpSession(t.port('smtp'), { from: 's@remote.test', rcpts: ['b@small.test'], data: message(300) });
    expect(r.rcpts[0]!.text).toMatch(/^452 4\.2\.2 /);
    // The store enforces it too (IMAP APPEND path).
    await expect(t.ctx.store.append('a@small.test', 'INBOX', { data: message(300) })).rejects.toMatchObject({ kind: 'overQuota' });
    t.accounts.setDomainQuota('small.test', null);
    const ok = await smtpSession(t.port('smtp'), { from: 's@remote.test', rcpts: ['b@small.test'], data: message(300) });
    expect(ok.data!.code).toBe(250);
  });
});

describe('submission (local recipients)', () => {
  it('a full local mailbox gets 452 4.2.2 at RCPT; SIZE= beyond the whole quota 552 5.2.2; a fitting one is delivered', async () => {
    const sender = await account();
    const full = await account({ bytes: 1000 });
    await fill(t, full, [1000]);
    const small = await account({ bytes: 5000 });
    const auth = { user: sender, pass: PW };
    const r = await smtpSession(t.port('submission'), { from: sender, rcpts: [full], auth });
    expect(r.rcpts[0]!.text).toMatch(/^452 4\.2\.2 /);
    const big = await smtpSession(t.port('submission'), { from: sender, size: 6000, rcpts: [small], auth });
    expect(big.rcpts[0]!.text).toMatch(/^552 5\.2\.2 /);
    const data = Buffer.from(message(1000).toString().replace('From: <sender@remote.test>', `From: <${sender}>`));
    const ok = await smtpSession(t.port('submission'), { from: sender, rcpts: [small, full], auth, data });
    expect(ok.rcpts.map((x) => x.code)).toEqual([250, 452]);
    expect(ok.data!.code).toBe(250);
    expect(await inboxCount(t, small)).toBe(1);
    expect(await usage(t, full)).toEqual({ bytes: 1000, messages: 1 });
  });

  it('a message that does not fit the only recipient at end of DATA: 452 4.2.2, nothing stored', async () => {
    const sender = await account();
    const small = await account({ bytes: 5000 });
    await fill(t, small, [4000]);
    const data = Buffer.from(message(1400).toString().replace('From: <sender@remote.test>', `From: <${sender}>`));
    const r = await smtpSession(t.port('submission'), { from: sender, rcpts: [small], auth: { user: sender, pass: PW }, data });
    expect(r.rcpts[0]!.code).toBe(250);
    expect(r.data!.text).toMatch(/^452 4\.2\.2 /);
    expect(await usage(t, small)).toEqual({ bytes: 4000, messages: 1 });
  });
});
