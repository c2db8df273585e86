// LIST and LSUB: LIST-EXTENDED with subscriptions (RFC 5258), LSUB (RFC 3501 §6.3.9),
// and patterns that used to freeze the server (a backtracking regular expression): they
// must answer at once while another client's NOOPs keep answering.
import { describe, expect, it } from 'vitest';
import type { ImapTestClient, Response } from '../helpers/imap-client.js';
import { fixtureForFile } from './fixture.js';

const t = fixtureForFile();
let user = '';
async function fresh(): Promise<ImapTestClient> {
  user = await t.account('list');
  return t.f.client(user, 'pw');
}

/** "* LIST (\A \B) "/" name [ext]" → "name (\A \B) [ext]", in order. */
function lines(rs: Response[]): string[] {
  return rs.map((r) => {
    const m = /^\((.*?)\) (?:"\/"|NIL) ("[^"]*"|\S+)(.*)$/.exec(r.text)!;
    return `${m[2]!.replace(/^"|"$/g, '')} (${m[1]}${')'}${m[3]}`;
  });
}

describe('LIST-EXTENDED and subscriptions (RFC 5258)', () => {
  async function tree(): Promise<ImapTestClient> {
    const c = await fresh();
    for (const box of ['a/b/c', 'a/x', 'd', 'e/f']) await c.transact('ok', `CREATE ${box}`);
    for (const box of ['a/b/c', 'd', 'e/f']) await c.transact('ok', `SUBSCRIBE ${box}`);
    for (const box of ['d', 'e/f']) await c.transact('ok', `DELETE ${box}`);
    for (const box of ['INBOX', 'Archive', 'Drafts', 'Junk', 'Sent', 'Trash']) await c.transact('ok', `UNSUBSCRIBE ${box}`);
    return c;
  }

  it('LIST (SUBSCRIBED) returns subscribed names, the deleted ones \\NonExistent (RFC 5258 §3.1)', async () => {
    const c = await tree();
    const r = await c.transact('ok', 'LIST (SUBSCRIBED) "" "*" RETURN (CHILDREN)');
    expect(lines(r.untagged)).toEqual(['a/b/c (\\Subscribed \\HasNoChildren)', 'd (\\NonExistent \\Subscribed \\HasNoChildren)', 'e/f (\\NonExistent \\Subscribed \\HasNoChildren)']);
  });

  it('RECURSIVEMATCH: parents of subscribed names with CHILDINFO (RFC 5258 §3.5)', async () => {
    const c = await tree();
    const r = await c.transact('ok', 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"');
    expect(lines(r.untagged)).toEqual(['a (\\HasChildren) ("CHILDINFO" ("SUBSCRIBED"))', 'd (\\NonExistent \\Subscribed \\HasNoChildren)', 'e (\\HasNoChildren) ("CHILDINFO" ("SUBSCRIBED"))']);
    await c.transact('bad', 'LIST (RECURSIVEMATCH) "" "*"'); // never alone (RFC 5258 §3.1)
  });

  it('RETURN (SUBSCRIBED CHILDREN) marks what is subscribed among existing names', async () => {
    const c = await tree();
    const r = await c.transact('ok', 'LIST "" "a*" RETURN (SUBSCRIBED CHILDREN)');
    expect(lines(r.untagged)).toEqual(['a (\\HasChildren)', 'a/b (\\HasChildren)', 'a/b/c (\\Subscribed \\HasNoChildren)', 'a/x (\\HasNoChildren)']);
  });

  it('LSUB keeps subscribed-but-deleted names; "%" shows unsubscribed parents as \\Noselect (RFC 3501 §6.3.9)', async () => {
    const c = await tree();
    expect(lines((await c.transact('ok', 'LSUB "" "*"')).untagged)).toEqual(['a/b/c ()', 'd ()', 'e/f ()']);
    expect(lines((await c.transact('ok', 'LSUB "" "%"')).untagged)).toEqual(['a (\\Noselect)', 'd ()', 'e (\\Noselect)']);
    await c.transact('ok', 'UNSUBSCRIBE d'); // a stale subscription can be removed
    expect(lines((await c.transact('ok', 'LSUB "" "d"')).untagged)).toEqual([]);
  });

  it('a subscription follows RENAME, and the name comes back when the mailbox is created again', async () => {
    const c = await fresh();
    await c.transact('ok', 'CREATE r1');
    await c.transact('ok', 'SUBSCRIBE r1');
    await c.transact('ok', 'RENAME r1 r2');
    expect(lines((await c.transact('ok', 'LSUB "" "r*"')).untagged)).toEqual(['r2 ()']);
    await c.transact('ok', 'DELETE r2');
    await c.transact('ok', 'CREATE r2');
    expect(lines((await c.transact('ok', 'LIST "" "r2" RETURN (SUBSCRIBED)')).untagged)).toEqual(['r2 (\\Subscribed \\HasNoChildren)']);
  });
});

describe('patterns that froze the regex matcher', () => {
  it('answer at once while another session NOOPs; work per LIST is bounded', async () => {
    const c = await fresh();
    // The deepest hierarchy the store allows (32 levels, names.ts) and 200 mailboxes in all.
    const deep = Array.from({ length: 32 }, () => 'l').join('/');
    await t.f.ctx.store.createMailbox(user, deep);
    for (let i = 0; i < 200 - 32 - 6 - 1; i++) await t.f.ctx.store.createMailbox(user, `w/${'x'.repeat(40)}${i}`);
    const other = await t.f.client();
    let stop = false;
    const noop: number[] = [];
    const noops = (async () => {
      while (!stop) {
        const t = performance.now();
        await other.transact('ok', 'NOOP');
        noop.push(performance.now() - t);
      }
    })();
    // The first LIST after the CREATEs also reads the new folders: not the matcher's cost.
    const t0 = performance.now();
    const all = await c.transact('ok', 'LIST "" "*"');
    const times = [`LIST "" "*" (${all.untagged.length} names): ${(performance.now() - t0).toFixed(1)} ms`];
    const patterns = ['*'.repeat(70) + 'Z', '%'.repeat(500), '%/'.repeat(200) + 'Z', '*l'.repeat(100) + 'Z', '*%'.repeat(300) + 'x'];
    for (const p of patterns) {
      const t = performance.now();
      const r = await c.transact('ok', `LIST "" "${p}"`);
      const ms = performance.now() - t;
      times.push(`${p.slice(0, 6)}…(${p.length}): ${ms.toFixed(1)} ms, ${r.untagged.length} names`);
      expect(ms).toBeLessThan(1000); // generous; the figures are printed
    }
    stop = true;
    await noops;
    console.log(`LIST timings: ${times.join('; ')}; NOOP during them: ${noop.length} answered, max ${Math.max(...noop).toFixed(1)} ms`);
    expect(Math.max(...noop)).toBeLessThan(1000);
  });

  it('a pattern too costly for the budget gets NO [LIMIT], the connection goes on', async () => {
    const c = await fresh();
    // ~250² / 2 steps per name: 200 names are over the 5 000 000 steps of one LIST.
    for (let i = 0; i < 200; i++) await t.f.ctx.store.createMailbox(user, `${'a'.repeat(245)}${i}`);
    const r = await c.transact('no', `LIST "" "*${'a'.repeat(1000)}Z"`);
    expect(r.tagged.code).toBe('LIMIT');
    await c.transact('ok', 'NOOP');
  });
});
