// SAVEDATE (RFC 8514): FETCH SAVEDATE (§3) and SEARCH SAVEDBEFORE / SAVEDON / SAVEDSINCE /
// SAVEDATESUPPORTED (§4), on both stores. The save date is when the message came into
// this mailbox: delivery, APPEND, or the COPY/MOVE that brought it (INTERNALDATE travels
// with the message, the save date does not). On the Maildir store a row's save date is
// set back in the index to see COPY and MOVE give a new one, and a row without one
// (a file picked up by name, an index older than the column) shows INTERNALDATE.
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImapTestClient } from '../helpers/imap-client.js';
import { needs } from '../helpers/peers.js';
import { imaplibFetch } from './py-fetch.js';
import { message, startImapFixture, type ImapFixture } from './fixture.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const imapDay = (d: Date): string => `${d.getUTCDate()}-${MONTHS[d.getUTCMonth()]}-${d.getUTCFullYear()}`;
const OLD = '01-Jan-2020 10:00:00 +0000';

let n = 0;
async function setup(f: ImapFixture): Promise<{ user: string; c: ImapTestClient }> {
  const user = `sd${++n}@example.test`;
  await f.addAccount(user, 'pw');
  await f.deliver(user, message(1, { to: user }));
  const c = await f.client(user, 'pw');
  await c.transact('ok', ['APPEND INBOX () "' + OLD + '" ', Buffer.from(message(2, { to: user })), '']);
  await c.transact('ok', 'SELECT INBOX');
  return { user, c };
}

async function fetchDates(c: ImapTestClient, cmd: string): Promise<Array<{ internal: string; saved: string }>> {
  const r = await c.transact('ok', cmd);
  return r.untagged
    .filter((x) => x.type === 'FETCH')
    .map((x) => ({ internal: /INTERNALDATE "([^"]+)"/.exec(x.raw)?.[1] ?? '', saved: /SAVEDATE (?:"([^"]+)"|NIL)/.exec(x.raw)?.[1] ?? 'NIL' }));
}

async function search(c: ImapTestClient, keys: string): Promise<string> {
  return (await c.transact('ok', `SEARCH ${keys}`)).untagged.find((x) => x.type === 'SEARCH')!.raw;
}

for (const store of ['memory', 'maildir'] as const) {
  describe(`SAVEDATE (${store} store)`, () => {
    let f: ImapFixture;
    beforeAll(async () => {
      f = await startImapFixture(store === 'memory' ? { store: 'memory' } : {});
    });
    afterAll(async () => {
      await f.close();
    });

    it('FETCH SAVEDATE is when the message was saved, not its INTERNALDATE; SEARCH SAVED* compare days (RFC 8514 §3, §4)', async () => {
      const { c } = await setup(f);
      const caps = (await c.transact('ok', 'CAPABILITY')).untagged[0]!.raw;
      expect(caps.split(' ')).toContain('SAVEDATE');
      const today = imapDay(new Date());
      const [delivered, appended] = await fetchDates(c, 'FETCH 1:2 (INTERNALDATE SAVEDATE)');
      expect(appended!.internal).toBe(OLD);
      for (const m of [delivered!, appended!]) {
        expect(Math.abs(Date.parse(m.saved.replace(/-/g, ' ')) - Date.now())).toBeLessThan(120_000);
      }
      expect(await search(c, `SAVEDON ${today}`)).toBe('* SEARCH 1 2');
      expect(await search(c, `SAVEDSINCE ${today}`)).toBe('* SEARCH 1 2');
      expect(await search(c, `SAVEDBEFORE ${today}`)).toBe('* SEARCH');
      expect(await search(c, `ON ${today}`)).toBe('* SEARCH 1'); // INTERNALDATE of the APPEND is 2020
      expect(await search(c, 'SAVEDBEFORE 1-Feb-2020')).toBe('* SEARCH');
      expect(await search(c, 'SAVEDATESUPPORTED')).toBe('* SEARCH 1 2');
      expect(await search(c, 'NOT SAVEDATESUPPORTED')).toBe('* SEARCH');
      await c.transact('bad', 'SEARCH SAVEDON notadate');
      await c.close();
    });

    it('python imaplib fetches SAVEDATE', needs('python3'), async () => {
      const { user, c } = await setup(f);
      await c.close();
      const stdout = await imaplibFetch(f.port, user, '2', '(SAVEDATE INTERNALDATE)');
      expect(stdout.trim()).toMatch(new RegExp(`^2 \\(SAVEDATE "\\d\\d-\\w\\w\\w-\\d{4} [\\d:]{8} \\+0000" INTERNALDATE "${OLD.replace("+", "\\+")}"\\)$`));
    });

    if (store === 'maildir') {
      it('COPY and MOVE give the message a new save date in the target; a row without one shows INTERNALDATE', async () => {
        const { user, c } = await setup(f);
        const [local, domain] = user.split('@') as [string, string];
        const db = new Database(path.join(f.dataRoot, 'maildir', domain, local, 'index.sqlite'));
        try {
          const inbox = db.prepare("SELECT id FROM mailboxes WHERE name = 'INBOX'").pluck().get() as number;
          db.prepare('UPDATE messages SET save_date = ? WHERE mailbox_id = ? AND uid = 1').run(Date.UTC(2021, 4, 5, 8, 0, 0), inbox);
          db.prepare('UPDATE messages SET save_date = NULL WHERE mailbox_id = ? AND uid = 2').run(inbox);
        } finally {
          db.close();
        }
        const [one, two] = await fetchDates(c, 'FETCH 1:2 (INTERNALDATE SAVEDATE)');
        expect(one!.saved).toBe('05-May-2021 08:00:00 +0000');
        expect(two!.saved).toBe(OLD);
        expect(await search(c, 'SAVEDON 5-May-2021')).toBe('* SEARCH 1');
        expect(await search(c, 'SAVEDBEFORE 1-Jan-2021')).toBe('* SEARCH 2');
        await c.transact('ok', 'COPY 1 Archive');
        await c.transact('ok', 'MOVE 2 Archive');
        await c.transact('ok', 'SELECT Archive');
        const moved = await fetchDates(c, 'FETCH 1:2 (INTERNALDATE SAVEDATE)');
        expect(moved[1]!.internal).toBe(OLD);
        for (const m of moved) expect(Math.abs(Date.parse(m.saved.replace(/-/g, ' ')) - Date.now())).toBeLessThan(120_000);
        expect(await search(c, `SAVEDON ${imapDay(new Date())}`)).toBe('* SEARCH 1 2');
        await c.close();
      });
    }
  });
}
