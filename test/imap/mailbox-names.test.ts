// Mailbox names that do not exist or cannot exist are refused with NO, never BAD, and
// the session goes on (RFC 9051 §6.3.2: a name is not a syntax error); a failed SELECT
// leaves no mailbox selected.
import { describe, expect, it } from 'vitest';
import { fixtureForFile } from './fixture.js';

const t = fixtureForFile();

describe('mailbox names', () => {
  it.each([
    ['SELECT', "!#$&'+,-.0123456789:;<=>?@^_`|[}"],
    ['SELECT', '"&Jjo"'],
    ['EXAMINE', '"&"'],
    ['CREATE', '"&AGE-"'],
    ['CREATE', '""'],
    ['CREATE', '"a//b"'],
    ['DELETE', 'nosuch'],
    ['RENAME', 'nosuch other'],
    ['STATUS', '"&" (MESSAGES)'],
    ['STATUS', 'nosuch (MESSAGES)'],
    ['SUBSCRIBE', '"&"'],
    ['APPEND', '"&" {1+}\r\nx'],
  ])('%s %s → NO, and the connection stays open', async (cmd, args) => {
    const c = await t.f.client();
    const r = await c.transact('no', `${cmd} ${args}`);
    expect(r.tagged.type).toBe('NO');
    await c.transact('ok', 'NOOP');
  });

  it('a SELECT that fails for its name leaves no mailbox selected (RFC 9051 §6.3.2)', async () => {
    const c = await t.f.client();
    await c.transact('ok', 'SELECT INBOX');
    await c.transact('no', 'SELECT "&Jjo"');
    await c.transact('bad', 'FETCH 1 FLAGS'); // FETCH is not allowed without a selected mailbox
  });

  it('LIST with a pattern that is no valid name lists nothing', async () => {
    const c = await t.f.client();
    const r = await c.transact('ok', 'LIST "" "&"');
    expect(r.untagged).toEqual([]);
  });
});
