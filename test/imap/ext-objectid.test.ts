// OBJECTID (RFC 8474) on both stores, after the examples of §4 (MAILBOXID from CREATE,
// kept by RENAME, in SELECT and STATUS), §5 (EMAILID kept by COPY and MOVE, THREADID NIL)
// and §6 (SEARCH EMAILID / THREADID); then imapflow, which uses all three when the
// server advertises OBJECTID.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImapTestClient } from '../helpers/imap-client.js';
import { message, startImapFixture, type ImapFixture } from './fixture.js';

let n = 0;
const ID = /^[A-Za-z0-9_-]{1,255}$/;

async function emailIds(c: ImapTestClient, set: string): Promise<string[]> {
  const r = await c.transact('ok', `FETCH ${set} (EMAILID THREADID)`);
  return r.untagged.filter((x) => x.type === 'FETCH').map((x) => {
    expect(x.raw).toMatch(/THREADID NIL\)$/);
    return /EMAILID \(([^)]+)\)/.exec(x.raw)![1]!;
  });
}

for (const store of ['memory', 'maildir'] as const) {
  describe(`OBJECTID (${store} store)`, () => {
    let f: ImapFixture;
    beforeAll(async () => {
      f = await startImapFixture(store === 'memory' ? { store: 'memory' } : {});
    });
    afterAll(async () => {
      await f.close();
    });

    it('MAILBOXID: in CREATE\'s OK, kept by RENAME, in SELECT and STATUS, new for a mailbox made again (§4)', async () => {
      const user = `oid${++n}@example.test`;
      await f.addAccount(user, 'pw');
      const c = await f.client(user, 'pw');
      expect((await c.transact('ok', 'CAPABILITY')).untagged[0]!.raw.split(' ')).toContain('OBJECTID');
      const foo = /^MAILBOXID \((\S+)\)$/.exec((await c.transact('ok', 'CREATE foo')).tagged.code ?? '');
      const bar = /^MAILBOXID \((\S+)\)$/.exec((await c.transact('ok', 'CREATE bar')).tagged.code ?? '');
      expect(foo?.[1]).toMatch(ID);
      expect(bar?.[1]).toMatch(ID);
      expect(foo![1]).not.toBe(bar![1]);
      await c.transact('no', 'CREATE foo');
      await c.transact('ok', 'RENAME foo renamed');
      expect((await c.transact('ok', 'STATUS renamed (MAILBOXID)')).untagged[0]!.raw).toBe(`* STATUS renamed (MAILBOXID (${foo![1]}))`);
      const sel = await c.transact('ok', 'SELECT renamed');
      expect(sel.untagged.map((x) => x.raw)).toContain(`* OK [MAILBOXID (${foo![1]})] Ok`);
      await c.transact('ok', 'UNSELECT');
      await c.transact('ok', 'DELETE renamed');
      const again = /^MAILBOXID \((\S+)\)$/.exec((await c.transact('ok', 'CREATE foo')).tagged.code ?? '');
      expect(again![1]).not.toBe(foo![1]);
      await c.close();
    });

    it('EMAILID: kept by COPY and MOVE, different for another message; THREADID NIL; SEARCH EMAILID and THREADID (§5, §6)', async () => {
      const user = `oid${++n}@example.test`;
      await f.addAccount(user, 'pw');
      await f.deliver(user, message(1, { to: user }));
      await f.deliver(user, message(1, { to: user })); // the same bytes again: another message
      await f.deliver(user, message(3, { to: user }));
      const c = await f.client(user, 'pw');
      await c.transact('ok', 'SELECT INBOX');
      const ids = await emailIds(c, '1:3');
      for (const id of ids) expect(id).toMatch(ID);
      expect(new Set(ids).size).toBe(3);
      expect(await emailIds(c, '1:3')).toEqual(ids); // stable
      await c.transact('ok', 'COPY 1 Archive');
      await c.transact('ok', 'MOVE 3 Archive');
      expect((await c.transact('ok', `SEARCH EMAILID ${ids[1]}`)).untagged[0]!.raw).toBe('* SEARCH 2');
      expect((await c.transact('ok', `SEARCH NOT EMAILID ${ids[1]}`)).untagged[0]!.raw).toBe('* SEARCH 1');
      expect((await c.transact('ok', `SEARCH THREADID ${ids[1]}`)).untagged[0]!.raw).toBe('* SEARCH');
      await c.transact('bad', 'SEARCH EMAILID a.b');
      await c.transact('ok', 'SELECT Archive');
      expect(await emailIds(c, '1:2')).toEqual([ids[0], ids[2]]);
      expect((await c.transact('ok', `UID SEARCH EMAILID ${ids[2]}`)).untagged[0]!.raw).toBe('* SEARCH 2');
      await c.close();
    });

    if (store === 'maildir') {
      it('a message file dropped in by another tool gets an EMAILID at its first FETCH, kept after, and by COPY', async () => {
        const user = `oid${++n}@example.test`;
        await f.addAccount(user, 'pw');
        await f.deliver(user, message(1, { to: user }));
        const [local, domain] = user.split('@') as [string, string];
        await writeFile(path.join(f.dataRoot, 'maildir', domain, local, 'new', `${Math.floor(Date.now() / 1000)}.M1P1.other`), message(2, { to: user }));
        const c = await f.client(user, 'pw');
        await c.transact('ok', 'SELECT INBOX');
        const ids = await emailIds(c, '1:2');
        expect(ids[1]).toMatch(ID);
        expect(ids[1]).not.toBe(ids[0]);
        await c.transact('ok', 'COPY 2 Archive');
        expect(await emailIds(c, '2')).toEqual([ids[1]]);
        await c.transact('ok', 'SELECT Archive');
        expect(await emailIds(c, '1')).toEqual([ids[1]]);
        await c.close();
      });
    }

    it('imapflow: mailboxId from CREATE and SELECT, emailId and threadId in FETCH, search by emailId', async () => {
      const user = `oid${++n}@example.test`;
      await f.addAccount(user, 'pw');
      await f.deliver(user, message(1, { to: user }));
      await f.deliver(user, message(2, { to: user }));
      const client = new ImapFlow({ host: '127.0.0.1', port: f.port, secure: false, auth: { user, pass: 'pw' }, tls: { rejectUnauthorized: false }, logger: false });
      await client.connect();
      const created = (await client.mailboxCreate('Work')) as { mailboxId?: string };
      expect(created.mailboxId).toMatch(ID);
      const opened = (await client.mailboxOpen('Work')) as { mailboxId?: string };
      expect(opened.mailboxId).toBe(created.mailboxId);
      await client.mailboxOpen('INBOX');
      const msgs: Array<{ uid: number; emailId?: string; threadId?: string }> = [];
      for await (const m of client.fetch('1:*', { uid: true, emailId: true, threadId: true })) msgs.push({ uid: m.uid, emailId: m.emailId, threadId: m.threadId });
      expect(msgs).toHaveLength(2);
      for (const m of msgs) {
        expect(m.emailId).toMatch(ID);
        expect(m.threadId).toBeUndefined();
      }
      expect(await client.search({ emailId: msgs[1]!.emailId! }, { uid: true })).toEqual([msgs[1]!.uid]);
      await client.logout();
    });
  });
}
