// MULTIAPPEND (RFC 3502): several messages in one APPEND, all or none, each literal
// checked before its "+" (literals.ts), APPENDUID with a UID set (RFC 4315 §3).
import { describe, expect, it } from 'vitest';
import { fixtureForFile, message } from './fixture.js';

const LIMIT = 64 * 1024;
const t = fixtureForFile({ store: 'memory', configure: (c) => (c.limits.maxMessageSize = LIMIT) });

async function session(user: string) {
  const c = await t.f.connect();
  await c.login(user, 'pw');
  return c;
}

describe('MULTIAPPEND', () => {
  it('RFC 3502 §7: two messages with their flags in one APPEND, APPENDUID names both', async () => {
    const user = await t.account();
    await t.f.ctx.store.createMailbox(user, 'saved-messages');
    const c = await session(user);
    expect((await c.transact('ok', 'CAPABILITY')).untagged[0]!.raw).toMatch(/ MULTIAPPEND\b/);
    const { tagged } = await c.transact('ok', ['APPEND saved-messages (\\Seen) ', Buffer.from(message(1)), ' (\\Seen $Work) "02-Nov-2026 10:00:00 +0000" ', Buffer.from(message(2))]);
    const m = /^\[APPENDUID (\d+) 1:2\]/.exec(`[${tagged.code}]`);
    expect(m, tagged.raw).toBeTruthy();
    await c.transact('ok', 'SELECT saved-messages');
    const f = await c.transact('ok', 'FETCH 1:* (FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (SUBJECT)])');
    const lines = f.untagged.map((r) => r.raw).join('\n');
    expect(lines).toMatch(/\* 1 FETCH \(FLAGS \(\\Seen\)/);
    expect(lines).toMatch(/\* 2 FETCH \(FLAGS \(\\Seen \$Work\) INTERNALDATE "02-Nov-2026 10:00:00 \+0000"/);
    expect(lines).toMatch(/Subject: message 2/);
    await c.close();
  });

  it('a message over APPENDLIMIT in the middle: NO [TOOBIG] before its "+", and none of the messages is stored', async () => {
    const user = await t.account();
    const c = await session(user);
    const r = await c.transact('no', ['APPEND INBOX ', Buffer.from(message(1)), ' ', Buffer.alloc(LIMIT + 1, 0x61), ' ', Buffer.from(message(3))]);
    expect(r.tagged.code).toBe('TOOBIG');
    // The client is told before sending the big literal; the connection goes on.
    expect((await c.transact('ok', 'STATUS INBOX (MESSAGES)')).untagged[0]!.raw).toMatch(/MESSAGES 0/);
    await c.close();
  });

  it('an empty message after good ones: NO, and none is stored (all or nothing, RFC 3502 §3)', async () => {
    const user = await t.account();
    const c = await session(user);
    await c.transact('no', ['APPEND INBOX ', Buffer.from(message(1)), ' ', Buffer.from(message(2)), ' ', Buffer.alloc(0)]);
    expect((await c.transact('ok', 'STATUS INBOX (MESSAGES UIDNEXT)')).untagged[0]!.raw).toMatch(/MESSAGES 0/);
    // A single APPEND still answers with one UID.
    const one = await c.transact('ok', ['APPEND INBOX ', Buffer.from(message(4))]);
    expect(one.tagged.code).toMatch(/^APPENDUID \d+ \d+$/);
    await c.close();
  });

  it('a missing target is NO [TRYCREATE] before the first message is sent', async () => {
    const user = await t.account();
    const c = await session(user);
    const r = await c.transact('no', ['APPEND Nowhere ', Buffer.from(message(1)), ' ', Buffer.from(message(2))]);
    expect(r.tagged.code).toBe('TRYCREATE');
    await c.close();
  });
});

describe('MULTIAPPEND bounds', () => {
  it('all the messages of one APPEND at most 4 × APPENDLIMIT: NO [TOOBIG] before the "+" past it', async () => {
    const user = await t.account();
    const c = await session(user);
    const part = Buffer.concat([Buffer.from(message(1)), Buffer.alloc(LIMIT - 1024, 0x61)]);
    const r = await c.transact('no', ['APPEND INBOX ', part, ' ', part, ' ', part, ' ', part, ' ', part]);
    expect(r.tagged.code).toBe('TOOBIG');
    expect((await c.transact('ok', 'STATUS INBOX (MESSAGES)')).untagged[0]!.raw).toMatch(/MESSAGES 0/);
    await c.close();
  });
});
