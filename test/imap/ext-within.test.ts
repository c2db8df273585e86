// WITHIN (RFC 5032): SEARCH OLDER n / YOUNGER n in seconds against INTERNALDATE.
import { describe, expect, it } from 'vitest';
import { fixtureForFile, message } from './fixture.js';

const t = fixtureForFile({ store: 'memory' });

describe('WITHIN', () => {
  it('RFC 5032 §3: UNSEEN YOUNGER 259200 finds the recent unseen messages; OLDER the old ones', async () => {
    const user = await t.account();
    const c = await t.f.connect();
    await c.login(user, 'pw');
    expect((await c.transact('ok', 'CAPABILITY')).untagged[0]!.raw).toMatch(/ WITHIN\b/);
    // 1: four days old; 2: a day old and seen; 3 and 4: now (one seen).
    const day = 86_400_000;
    const date = (ago: number): string => {
      const d = new Date(Date.now() - ago);
      const mon = d.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' });
      const p2 = (n: number): string => String(n).padStart(2, '0');
      return `"${p2(d.getUTCDate())}-${mon}-${d.getUTCFullYear()} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} +0000"`;
    };
    await c.transact('ok', [`APPEND INBOX () ${date(4 * day)} `, Buffer.from(message(1))]);
    await c.transact('ok', [`APPEND INBOX (\\Seen) ${date(day)} `, Buffer.from(message(2))]);
    await c.transact('ok', ['APPEND INBOX () ', Buffer.from(message(3))]);
    await c.transact('ok', ['APPEND INBOX (\\Seen) ', Buffer.from(message(4))]);
    await c.transact('ok', 'SELECT INBOX');
    const search = async (q: string): Promise<string> => (await c.transact('ok', `UID SEARCH ${q}`)).untagged.find((r) => r.type === 'SEARCH')!.raw;
    expect(await search('UNSEEN YOUNGER 259200')).toBe('* SEARCH 3');
    expect(await search('YOUNGER 259200')).toBe('* SEARCH 2 3 4');
    expect(await search('OLDER 259200')).toBe('* SEARCH 1');
    expect(await search('OLDER 3600')).toBe('* SEARCH 1 2');
    expect(await search('OR OLDER 300000 YOUNGER 60')).toBe('* SEARCH 1 3 4');
    await c.transact('bad', 'SEARCH OLDER 0');
    await c.transact('bad', 'SEARCH YOUNGER x');
    await c.close();
  });
});
