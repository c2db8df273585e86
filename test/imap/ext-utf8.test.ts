// UTF8=ACCEPT (RFC 6855 §4): APPEND of a message with UTF-8 headers in the UTF8 data
// item (a literal8), stored and fetched byte for byte.
import { describe, expect, it } from 'vitest';
import type { Uid } from '../../src/store/types.js';
import { fixtureForFile } from './fixture.js';

const t = fixtureForFile({ store: 'memory' });

describe('UTF8=ACCEPT', () => {
  it('APPEND mailbox UTF8 (~{n}...) stores the message as sent; without ENABLE it is BAD', async () => {
    const user = await t.account();
    const c = await t.f.connect();
    await c.login(user, 'pw');
    const msg = Buffer.from('From: Jörg <jörg@exämple.org>\r\nTo: ünï@example.test\r\nSubject: Grüße aus Köln ☕\r\n\r\nHallo!\r\n', 'utf8');
    await c.transact('bad', ['APPEND INBOX UTF8 (~', msg, ')']);
    await c.transact('ok', 'ENABLE UTF8=ACCEPT');
    const r = await c.transact('ok', ['APPEND INBOX (\\Seen) UTF8 (~', msg, ')']);
    expect(r.tagged.code).toMatch(/^APPENDUID \d+ 1$/);
    await c.transact('ok', 'SELECT INBOX');
    const f = await c.transact('ok', 'FETCH 1 (FLAGS BODY.PEEK[])');
    const lit = f.untagged.find((x) => x.type === 'FETCH')!.raw;
    expect(lit).toContain('\\Seen');
    const { stream } = await t.f.ctx.store.readMessage(user, (await t.f.ctx.store.getMailbox(user, 'INBOX')).id, 1 as Uid);
    const chunks: Buffer[] = [];
    for await (const ch of stream) chunks.push(ch as Buffer);
    expect(Buffer.concat(chunks).equals(msg)).toBe(true);
    await c.close();
  });
});
