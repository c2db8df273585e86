// CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 §4) beyond the transcript
// (test/transcripts/imap/context.txt): two sessions on one INBOX, one holding update
// contexts while the other appends, reads and expunges, checked by the strict client
// (its model of each context, test/helpers/imap-checker-context.ts, must end equal to a
// fresh search); tag reuse; hostile input; many changes at once give one bounded line.
// Both stores.
import { describe, expect, it } from 'vitest';
import type { ImapTestClient, Response } from '../helpers/imap-client.js';
import { fixtureForFile, message } from './fixture.js';

function esearchOf(rs: Response[], tag: string): string[] {
  return rs.filter((r) => r.type === 'ESEARCH' && r.raw.includes(`(TAG "${tag}")`)).map((r) => r.raw);
}

function uidsOf(r: Response | undefined): number[] {
  const m = /\bALL (\S+)/.exec(r?.raw ?? '');
  if (!m) return [];
  const out: number[] = [];
  for (const part of m[1]!.split(',')) {
    const [a, b] = part.split(':').map(Number) as [number, number | undefined];
    for (let i = a; i <= (b ?? a); i++) out.push(i);
  }
  return out;
}

for (const store of ['memory', 'maildir'] as const) {
  const t = fixtureForFile({ store });
  const session = async (user: string): Promise<ImapTestClient> => {
    const c = await t.f.connect();
    await c.login(user, 'pw');
    return c;
  };
  /** Two sessions of `user` with INBOX selected, the first holding update contexts (tag → command). */
  const twoSessions = async (user: string, contexts: Record<string, string>): Promise<[ImapTestClient, ImapTestClient]> => {
    const a = await session(user);
    const b = await session(user);
    await a.transact('ok', 'SELECT INBOX');
    await b.transact('ok', 'SELECT INBOX');
    for (const [tag, cmd] of Object.entries(contexts)) await a.transact('ok', cmd, { tag });
    return [a, b];
  };
  const mailbox = async (n: number): Promise<string> => {
    const user = await t.account('ctx');
    for (let i = 1; i <= n; i++) await t.f.deliver(user, message(i, { to: user }));
    return user;
  };

  describe(`CONTEXT=SEARCH and CONTEXT=SORT (${store})`, () => {
    it('advertised after login, not before', async () => {
      const user = await mailbox(0);
      const c = await t.f.connect();
      const before = (await c.transact('ok', 'CAPABILITY')).untagged[0]!.raw.split(' ');
      expect(before).not.toContain('CONTEXT=SEARCH');
      await c.login(user, 'pw');
      const after = (await c.transact('ok', 'CAPABILITY')).untagged[0]!.raw.split(' ');
      expect(after).toEqual(expect.arrayContaining(['CONTEXT=SEARCH', 'CONTEXT=SORT', 'ESORT']));
      await c.close();
    });

    it('two sessions: UPDATE contexts on UNSEEN follow appends, \\Seen and expunges; the client model ends equal to a fresh search', async () => {
      const user = await mailbox(6);
      const [a, b] = await twoSessions(user, {
        U1: 'UID SEARCH RETURN (UPDATE ALL) UNSEEN',
        S1: 'SEARCH RETURN (ALL UPDATE) UNSEEN',
        R1: 'UID SORT RETURN (UPDATE ALL) (REVERSE SUBJECT) UTF-8 UNSEEN',
        R2: 'SORT RETURN (UPDATE ALL) (SIZE) UTF-8 UNSEEN UNDELETED',
      });
      // a idles; b works on the mailbox.
      a.write('I1 IDLE\r\n');
      expect((await a.readResponse()).tag).toBe('+');
      for (let i = 7; i <= 9; i++) await b.transact('ok', ['APPEND INBOX () ', Buffer.from(message(i, { to: user, subject: `new ${10 - i}` }))]);
      await b.transact('ok', 'UID STORE 2,7 +FLAGS (\\Seen)');
      await b.transact('ok', 'UID STORE 3 +FLAGS.SILENT (\\Deleted)');
      await b.transact('ok', 'UID STORE 2 -FLAGS (\\Seen)');
      await b.transact('ok', 'EXPUNGE');
      await t.f.deliver(user, message(10, { to: user, subject: 'a delivery' }));
      await b.transact('ok', 'UID STORE 1,4 +FLAGS (\\Seen)');
      // The last change is told: UID 4 leaves U1 (UID 1 and 4 together).
      await a.waitFor((r) => /^\* ESEARCH \(TAG "U1"\) UID REMOVEFROM \(0 (1,)?4\)$/.test(r.raw), 5000);
      await a.drain(200);
      a.write('DONE\r\n');
      await a.waitFor((r) => r.tag === 'I1', 5000);
      a.leftover(); // nothing the strict checker objected to
      const fresh = async (cmd: string): Promise<number[]> => uidsOf((await a.transact('ok', cmd)).untagged.find((r) => r.type === 'ESEARCH'));
      const model = (tag: string): number[] | undefined => a.checker.updates.contexts.get(tag)?.list;
      expect(model('U1')).toEqual(await fresh('UID SEARCH RETURN (ALL) UNSEEN'));
      expect(model('U1')).toEqual([2, 5, 6, 8, 9, 10]);
      expect(model('S1')).toEqual(await fresh('SEARCH RETURN (ALL) UNSEEN'));
      expect(model('R1')).toEqual(await fresh('UID SORT RETURN (ALL) (REVERSE SUBJECT) UTF-8 UNSEEN'));
      expect(model('R2')).toEqual(await fresh('SORT RETURN (ALL) (SIZE) UTF-8 UNSEEN UNDELETED'));
      // Unselect: updates cease (§4.3); a change afterwards is not told.
      await a.transact('ok', 'UNSELECT');
      await b.transact('ok', 'UID STORE 2 +FLAGS (\\Seen)');
      expect((await a.transact('ok', 'NOOP')).untagged.filter((r) => r.type === 'ESEARCH')).toEqual([]);
      await a.close();
      await b.close();
    });

    it('tag reuse is BAD while the context lives (RFC 5267 §4.3), fine after CANCELUPDATE', async () => {
      const user = await mailbox(3);
      const c = await session(user);
      await c.transact('ok', 'SELECT INBOX');
      expect(esearchOf((await c.transact('ok', 'UID SEARCH RETURN (UPDATE COUNT) DELETED', { tag: 'B01' })).untagged, 'B01')).toEqual(['* ESEARCH (TAG "B01") UID COUNT 0']);
      await c.transact('bad', 'SORT RETURN (UPDATE) (DATE) UTF-8 FLAGGED', { tag: 'B01' });
      await c.transact('bad', 'SEARCH RETURN (UPDATE) FLAGGED', { tag: 'B01' });
      // The same tag without UPDATE is no context: allowed.
      await c.transact('ok', 'SEARCH RETURN (COUNT) FLAGGED', { tag: 'B01' });
      await c.transact('ok', 'CANCELUPDATE "B01"');
      await c.transact('ok', 'SEARCH RETURN (UPDATE) FLAGGED', { tag: 'B01' });
      // A context from before a new SELECT is gone: its tag is free, CANCELUPDATE knows it not.
      await c.transact('ok', 'SELECT INBOX');
      await c.transact('no', 'CANCELUPDATE "B01"');
      await c.transact('ok', 'SEARCH RETURN (UPDATE) FLAGGED', { tag: 'B01' });
      await c.close();
    });

    it('hostile input: UPDATE or CANCELUPDATE without a mailbox, unknown tags, more than the limit', async () => {
      const user = await mailbox(2);
      const c = await session(user);
      await c.transact('bad', 'SEARCH RETURN (UPDATE) ALL');
      await c.transact('bad', 'UID SORT RETURN (UPDATE) (DATE) UTF-8 ALL');
      await c.transact('bad', 'CANCELUPDATE "x"');
      await c.transact('ok', 'SELECT INBOX');
      await c.transact('no', 'CANCELUPDATE "never-used"');
      await c.transact('no', 'CANCELUPDATE "never-used" "also-not"');
      await c.transact('bad', 'CANCELUPDATE never-used');
      await c.transact('bad', 'CANCELUPDATE "unterminated');
      await c.transact('bad', 'SEARCH RETURN (UPDATE FROBNICATE) ALL');
      for (let i = 1; i <= 5; i++) expect((await c.transact('ok', `UID SEARCH RETURN (UPDATE) ALL`, { tag: `L${i}` })).untagged.some((r) => r.type === 'NO')).toBe(false);
      for (let i = 6; i <= 8; i++) {
        const r = await c.transact('ok', 'UID SEARCH RETURN (UPDATE COUNT) ALL', { tag: `L${i}` });
        expect(r.untagged.map((x) => x.raw)).toEqual([`* ESEARCH (TAG "L${i}") UID COUNT 2`, expect.stringMatching(new RegExp(`^\\* NO \\[NOUPDATE "L${i}"\\] `))]);
      }
      // A refused tag names no context: CANCELUPDATE says so and cancels none of the others.
      await c.transact('no', 'CANCELUPDATE "L1" "L6"');
      await c.transact('ok', 'CANCELUPDATE "L1" "L2"');
      await c.transact('ok', 'UID SEARCH RETURN (UPDATE) ALL', { tag: 'L9' });
      await c.close();
    });

    it('a huge number of changes: one coalesced line per context per flush', async () => {
      const n = 2100; // above the point where a flush runs the program on the whole mailbox
      const user = await t.account('ctxbig');
      const msgs = Array.from({ length: n }, (_, i) => message(i + 1, { to: user }));
      for (let i = 0; i < n; i += 100) await Promise.all(msgs.slice(i, i + 100).map((m) => t.f.deliver(user, m)));
      const [a, b] = await twoSessions(user, { H1: 'UID SEARCH RETURN (UPDATE COUNT) UNSEEN', H2: 'SORT RETURN (UPDATE) (SUBJECT) UTF-8 UNSEEN' });
      await b.transact('ok', 'STORE 1:* +FLAGS.SILENT (\\Seen)');
      let got = (await a.transact('ok', 'NOOP')).untagged.filter((r) => r.type === 'ESEARCH').map((r) => r.raw);
      expect(got).toHaveLength(2);
      expect(got[0]).toBe(`* ESEARCH (TAG "H1") UID REMOVEFROM (0 1:${n})`);
      expect(got[1]!.length).toBeLessThan(100_000); // sort order is not UID order: runs, but one line
      await b.transact('ok', 'UID STORE 1:* -FLAGS.SILENT (\\Seen)');
      await b.transact('ok', `UID STORE 1:${n / 2} +FLAGS.SILENT (\\Seen)`);
      got = (await a.transact('ok', 'NOOP')).untagged.filter((r) => r.type === 'ESEARCH').map((r) => r.raw);
      expect(got[0]).toBe(`* ESEARCH (TAG "H1") UID ADDTO (0 ${n / 2 + 1}:${n})`);
      expect(got).toHaveLength(2);
      a.leftover();
      await a.close();
      await b.close();
    }, 60_000);
  });
}
