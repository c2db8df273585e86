// NOTIFY (RFC 5465): what a session asked for arrives between commands, without IDLE or
// polling, checked by the strict client (which accepts it only after NOTIFY SET).
import { describe, expect, it } from 'vitest';
import type { Response } from '../helpers/imap-client.js';
import { fixtureForFile, message } from './fixture.js';

const t = fixtureForFile({ store: 'memory' });

async function session(user: string) {
  const c = await t.f.connect();
  await c.login(user, 'pw');
  return c;
}

const deliver = (user: string, box: string, n: number) => t.f.ctx.store.append(user, box, { data: Buffer.from(message(n)) });
const isStatus = (box: string) => (r: Response) => r.type === 'STATUS' && r.raw.includes(` ${box} (`);

describe('NOTIFY', () => {
  it('SET STATUS: a STATUS of every other mailbox at once; then new mail in another mailbox is told by STATUS, with no command', async () => {
    const user = await t.account();
    await t.f.ctx.store.createMailbox(user, 'Work');
    await deliver(user, 'Work', 1);
    const c = await session(user);
    expect((await c.transact('ok', 'CAPABILITY')).untagged[0]!.raw).toMatch(/ NOTIFY\b/);
    await c.transact('ok', 'SELECT INBOX');
    const set = await c.transact('ok', 'NOTIFY SET STATUS (SELECTED (MessageNew MessageExpunge FlagChange)) (PERSONAL (MessageNew MessageExpunge))');
    const statuses = set.untagged.filter((r) => r.type === 'STATUS').map((r) => r.raw);
    expect(statuses.some((s) => /STATUS Work \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+ UNSEEN 1\)/.test(s)), statuses.join('\n')).toBe(true);
    expect(statuses.some((s) => / INBOX /.test(s))).toBe(false); // never the selected mailbox (§5.2)
    await deliver(user, 'Work', 2);
    const st = await c.waitFor(isStatus('Work'));
    expect(st.raw).toMatch(/MESSAGES 2 UIDNEXT 3 /);
    await c.transact('ok', 'NOOP');
    c.leftover();
    await c.close();
  });

  it('SELECTED: EXISTS, FETCH FLAGS and EXPUNGE of the selected mailbox as they happen; SELECTED-DELAYED keeps the EXPUNGE for NOOP', async () => {
    const user = await t.account();
    await deliver(user, 'INBOX', 1);
    await deliver(user, 'INBOX', 2);
    const c = await session(user);
    const other = await session(user);
    await c.transact('ok', 'SELECT INBOX');
    await other.transact('ok', 'SELECT INBOX');
    await c.transact('ok', 'NOTIFY SET (SELECTED (MessageNew MessageExpunge FlagChange))');
    await deliver(user, 'INBOX', 3);
    expect((await c.waitFor((r) => r.type === 'EXISTS')).num).toBe(3);
    await other.transact('ok', 'STORE 1 +FLAGS (\\Flagged)');
    expect((await c.waitFor((r) => r.type === 'FETCH')).raw).toMatch(/^\* 1 FETCH \(FLAGS \(\\Flagged[ )]/);
    await other.transact('ok', 'STORE 2 +FLAGS (\\Deleted)');
    await c.waitFor((r) => r.type === 'FETCH');
    await other.transact('ok', 'EXPUNGE');
    expect((await c.waitFor((r) => r.type === 'EXPUNGE')).num).toBe(2);
    // SELECTED-DELAYED: the expunge waits for a command that may carry it.
    await c.transact('ok', 'NOTIFY SET (SELECTED-DELAYED (MessageNew MessageExpunge))');
    await other.transact('ok', 'STORE 1 +FLAGS (\\Deleted)');
    await other.transact('ok', 'EXPUNGE');
    expect((await c.drain(300)).filter((r) => r.type === 'EXPUNGE')).toEqual([]);
    const noop = await c.transact('ok', 'NOOP');
    expect(noop.untagged.filter((r) => r.type === 'EXPUNGE').map((r) => r.num)).toEqual([1]);
    c.leftover();
    await c.close();
    await other.close();
  });

  it('MailboxName: LIST for a mailbox created, renamed (OLDNAME) and deleted by another session', async () => {
    const user = await t.account();
    const c = await session(user);
    const other = await session(user);
    await c.transact('ok', 'NOTIFY SET (PERSONAL (MailboxName))');
    await other.transact('ok', 'CREATE Projects');
    expect((await c.waitFor((r) => r.type === 'LIST')).raw).toBe('* LIST () "/" Projects');
    await other.transact('ok', 'RENAME Projects Done');
    expect((await c.waitFor((r) => r.type === 'LIST')).raw).toBe('* LIST () "/" Done ("OLDNAME" (Projects))');
    await other.transact('ok', 'DELETE Done');
    expect((await c.waitFor((r) => r.type === 'LIST')).raw).toBe('* LIST (\\NonExistent) "/" Done');
    // MAILBOXES names only what it names: new mail in INBOX is not told.
    await c.transact('ok', 'NOTIFY SET (MAILBOXES Archive (MessageNew MessageExpunge))');
    await deliver(user, 'INBOX', 1);
    expect(await c.drain(300)).toEqual([]);
    await c.close();
    await other.close();
  });

  it('NOTIFY NONE stops it; unsupported events are NO [BADEVENT]; rule violations are BAD; too many names NOTIFICATIONOVERFLOW', async () => {
    const user = await t.account();
    const c = await session(user);
    await c.transact('ok', 'NOTIFY SET (INBOXES (MessageNew MessageExpunge))');
    await c.transact('ok', 'NOTIFY NONE');
    await deliver(user, 'INBOX', 1);
    expect(await c.drain(300)).toEqual([]);
    const bad = await c.transact('no', 'NOTIFY SET (PERSONAL (MessageNew MessageExpunge SubscriptionChange))');
    expect(bad.tagged.code).toBe('BADEVENT (MessageNew MessageExpunge FlagChange MailboxName)');
    const att = await c.transact('no', 'NOTIFY SET (SELECTED (MessageNew (UID FLAGS) MessageExpunge))');
    expect(att.tagged.code).toMatch(/^BADEVENT /);
    await c.transact('bad', 'NOTIFY SET (PERSONAL (MessageNew))'); // §5.2: with MessageExpunge
    await c.transact('bad', 'NOTIFY SET (PERSONAL (FlagChange))');
    await c.transact('bad', 'NOTIFY SET (ELSEWHERE (MessageNew MessageExpunge))');
    await c.transact('bad', 'NOTIFY SET (SELECTED NONE) (SELECTED-DELAYED NONE)');
    const names = Array.from({ length: 101 }, (_, i) => `box${i}`).join(' ');
    const over = await c.transact('no', `NOTIFY SET (MAILBOXES (${names}) (MessageNew MessageExpunge))`);
    expect(over.tagged.code).toBe('NOTIFICATIONOVERFLOW');
    await c.transact('ok', 'NOOP');
    await c.close();
  });

  it('a burst of 200 deliveries to another mailbox: STATUS lines that only grow, the last one exact, nothing after it', async () => {
    const user = await t.account();
    await t.f.ctx.store.createMailbox(user, 'Bulk');
    const c = await session(user);
    await c.transact('ok', 'NOTIFY SET (SUBTREE Bulk (MessageNew MessageExpunge))');
    await Promise.all(Array.from({ length: 200 }, (_, i) => deliver(user, 'Bulk', i)));
    const last = await c.waitFor((r) => /^\* STATUS Bulk \(MESSAGES 200 UIDNEXT 201 /.test(r.raw), 20_000);
    expect(last.type).toBe('STATUS');
    // Before it: STATUS lines of Bulk only, counts that only grow, at most one per delivery
    // (deliveries that land together are told together).
    const before = c.pending.splice(0).map((r) => Number(/^\* STATUS Bulk \(MESSAGES (\d+) /.exec(r.raw)?.[1]));
    expect(before.length).toBeLessThan(200);
    expect(before.every((m, i) => m > 0 && m < 200 && (i === 0 || m > before[i - 1]!))).toBe(true);
    expect(await c.drain(300)).toEqual([]); // nothing after the exact one
    await c.close();
  });
});
