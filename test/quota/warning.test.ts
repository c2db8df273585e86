// The "mailbox almost full" warning (src/quota/index.ts): delivered once to INBOX when
// usage crosses quota.warn_percent, not again until usage fell below it; the state is
// in SQLite (quota_warnings) so a restart does not repeat it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImapTestClient } from '../helpers/imap-client.js';
import type { TestServer } from '../helpers/servers.js';
import { inboxId, message, PW, quotaServer, smtpSession, usage } from './env.js';

let t: TestServer;
let n = 0;
async function account(bytes: number | null, messages: number | null = null): Promise<string> {
  const a = `w${++n}@example.test`;
  await t.addAccount(a, PW);
  t.accounts.setAccountQuota(a, { bytes, messages });
  return a;
}

/** Senders of the messages in INBOX (From header), in UID order. */
async function inboxFroms(a: string): Promise<string[]> {
  await t.ctx.quota!.settle();
  const id = await inboxId(t, a);
  const out: string[] = [];
  for (const m of await t.ctx.store.fetchMeta(a, id)) {
    const { stream } = await t.ctx.store.readMessage(a, id, m.uid);
    let text = '';
    for await (const chunk of stream) text += String(chunk);
    out.push(/^From: (.*)$/im.exec(text)?.[1] ?? '');
  }
  return out;
}
const warnings = (froms: string[]) => froms.filter((f) => f.includes('MAILER-DAEMON@mail.example.test')).length;

beforeAll(async () => {
  t = await quotaServer((c) => {
    c.quota.warnPercent = 90;
  });
});
afterAll(async () => {
  await t?.close();
});

describe('quota warning', () => {
  it('is delivered once when usage crosses 90% (IMAP APPEND), not again while above, again after falling below', async () => {
    const a = await account(10_000);
    const c = await ImapTestClient.connect(t.port('imap'));
    await c.login(a, PW);
    await c.transact('ok', ['APPEND INBOX ', message(8000), '']);
    expect(warnings(await inboxFroms(a))).toBe(0); // 80%
    await c.transact('ok', ['APPEND INBOX ', message(1000), '']); // 90%: crosses
    let froms = await inboxFroms(a);
    expect(warnings(froms)).toBe(1);
    expect(froms).toHaveLength(3);
    expect(t.ctx.db.prepare('SELECT count(*) FROM quota_warnings WHERE account = ?').pluck().get(a)).toBe(1);
    // Still above: more activity sends nothing new.
    await c.transact('ok', 'SELECT INBOX');
    await c.transact('ok', 'STORE 1 +FLAGS (\\Seen)');
    expect(warnings(await inboxFroms(a))).toBe(1);
    // Below again (expunge the 8000-byte message), then across once more.
    await c.transact('ok', 'UID STORE 1 +FLAGS.SILENT (\\Deleted)');
    await c.transact('ok', 'EXPUNGE');
    await t.ctx.quota!.settle();
    expect(t.ctx.db.prepare('SELECT count(*) FROM quota_warnings WHERE account = ?').pluck().get(a)).toBe(0);
    const room = 9000 - (await usage(t, a)).bytes;
    await c.transact('ok', ['APPEND INBOX ', message(room), '']);
    froms = await inboxFroms(a);
    expect(warnings(froms)).toBe(2);
    await c.transact('ok', 'LOGOUT');
  });

  it('works for mail arriving by SMTP and for the message-count quota; the text names the usage', async () => {
    const a = await account(null, 10);
    for (let i = 0; i < 9; i++) {
      const r = await smtpSession(t.port('smtp'), { from: 's@remote.test', rcpts: [a], data: message(300) });
      expect(r.data!.code).toBe(250);
    }
    const froms = await inboxFroms(a);
    expect(warnings(froms)).toBe(1);
    // The warning itself was stored without enforcement and counts as a message.
    expect((await usage(t, a)).messages).toBe(10);
    const id = await inboxId(t, a);
    const metas = await t.ctx.store.fetchMeta(a, id);
    const { stream } = await t.ctx.store.readMessage(a, id, metas[9]!.uid);
    let text = '';
    for await (const chunk of stream) text += String(chunk);
    expect(text).toMatch(/^Subject: Your mailbox is 90% full$/m);
    expect(text).toMatch(/^Auto-Submitted: auto-generated$/m);
    expect(text).toMatch(/Messages: 9 of 10 \(90%\)/);
  });

  it('is sent once even across a restart of the server (state in SQLite)', async () => {
    const a = await account(10_000);
    await t.ctx.store.append(a, 'INBOX', { data: message(9500) });
    expect(warnings(await inboxFroms(a))).toBe(1);
    // What a restart does: a new service scans all accounts with quotas.
    const { QuotaService } = await import('../../src/quota/index.js');
    const fresh = new QuotaService({ db: t.ctx.db, accounts: t.accounts, store: t.ctx.store, config: t.config });
    await fresh.start();
    await fresh.settle();
    fresh.close();
    expect(warnings(await inboxFroms(a))).toBe(1);
  });

  it('warn_percent = 0 turns warnings off', async () => {
    t.config.quota.warnPercent = 0;
    try {
      const a = await account(1000);
      await t.ctx.store.append(a, 'INBOX', { data: message(990) });
      expect(warnings(await inboxFroms(a))).toBe(0);
    } finally {
      t.config.quota.warnPercent = 90;
    }
  });
});
