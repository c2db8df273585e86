// Contract: UIDs ascend strictly and are never given twice under one UIDVALIDITY
// (RFC 9051 §2.3.1.1), whatever path adds the message; \Recent counting.
import { describe, expect, it } from 'vitest';
import type { Uid } from '../../../src/store/types.js';
import { A, fill, msg, uidsOf, type Env } from './env.js';

export function uids(env: Env): void {
  describe('UIDs', () => {
    it('ascend across append, deliver, copy and move, and are not reused after expunge', async () => {
      await env.store.createMailbox(A, 'Box');
      const given: number[] = [];
      given.push(...(await fill(env.store, A, 'Box', 2)));
      given.push((await env.store.deliver([{ account: A, mailbox: 'Box' }], { data: msg('d') }))[0]!.uid);
      const inbox = await env.store.getMailbox(A, 'INBOX');
      const src = await fill(env.store, A, 'INBOX', 2);
      given.push(...(await env.store.copy(A, inbox.id, [src[0]!], 'Box')).to);
      given.push(...(await env.store.move(A, inbox.id, [src[1]!], 'Box')).to);
      for (let i = 1; i < given.length; i++) expect(given[i]).toBeGreaterThan(given[i - 1]!);
      const box = await env.store.getMailbox(A, 'Box');
      expect(box.uidNext).toBeGreaterThan(given[given.length - 1]!);
      // Expunge the highest UIDs, then add: the new UID is above every UID given.
      const top = given.slice(-2) as Uid[];
      expect(await env.store.expunge(A, box.id, top)).toEqual(top);
      const { uid } = await env.store.append(A, 'Box', { data: msg('after') });
      expect(uid).toBeGreaterThan(top[1]!);
      const all = await env.store.expunge(A, box.id, (await uidsOf(env.store, A, 'Box')) as Uid[]);
      expect(all).toHaveLength(4);
      const { uid: u2 } = await env.store.append(A, 'Box', { data: msg('empty') });
      expect(u2).toBeGreaterThan(uid);
      expect((await env.store.getMailbox(A, 'Box')).uidValidity).toBe(box.uidValidity);
    });

    it('UIDNEXT is above every UID and the same in getMailbox, listMailboxes and selectMailbox', async () => {
      await fill(env.store, A, 'INBOX', 3);
      const info = await env.store.getMailbox(A, 'INBOX');
      const listed = (await env.store.listMailboxes(A)).find((m) => m.name === 'INBOX')!;
      const view = await env.store.selectMailbox(A, 'INBOX');
      expect(info.uidNext).toBeGreaterThan(3);
      expect(listed.uidNext).toBe(info.uidNext);
      expect(view.mailbox.uidNext).toBe(info.uidNext);
      expect(view.uids).toEqual([1, 2, 3]);
    });

    it('a mailbox deleted and created again gets another UIDVALIDITY, even within the same second', async () => {
      const seen = new Set<number>();
      for (let i = 0; i < 3; i++) {
        const mb = await env.store.createMailbox(A, 'Again');
        expect(seen.has(mb.uidValidity)).toBe(false);
        seen.add(mb.uidValidity);
        await fill(env.store, A, 'Again', 1);
        await env.store.deleteMailbox(A, 'Again');
      }
      const other = await env.store.createMailbox(A, 'Other');
      expect(seen.has(other.uidValidity)).toBe(false);
    });

    it('UIDVALIDITY is a non-zero 32-bit number (RFC 9051 §2.3.1.1)', async () => {
      for (const m of await env.store.listMailboxes(A)) {
        expect(Number.isInteger(m.uidValidity)).toBe(true);
        expect(m.uidValidity).toBeGreaterThan(0);
        expect(m.uidValidity).toBeLessThanOrEqual(0xffffffff);
      }
    });

    it('\\Recent: delivered mail is recent until the first select sees it (RFC 3501 §2.3.2)', async () => {
      await env.store.deliver([{ account: A }], { data: msg(1) });
      await env.store.deliver([{ account: A }], { data: msg(2) });
      expect((await env.store.getMailbox(A, 'INBOX')).recent).toBe(2);
      const first = await env.store.selectMailbox(A, 'INBOX');
      expect(first.mailbox.recent).toBe(2);
      expect(first.recentUids).toEqual([1, 2]);
      expect((await env.store.getMailbox(A, 'INBOX')).recent).toBe(0);
      const second = await env.store.selectMailbox(A, 'INBOX');
      expect(second.mailbox.recent).toBe(0);
      expect(second.recentUids).toEqual([]);
      await env.store.append(A, 'INBOX', { data: msg(3) }, { flags: ['\\Seen'] }); // stored with flags: not new
      await env.store.deliver([{ account: A }], { data: msg(4) });
      const third = await env.store.selectMailbox(A, 'INBOX');
      expect(third.mailbox.recent).toBe(1);
      expect(third.recentUids).toEqual([4]);
      expect(third.uids).toEqual([1, 2, 3, 4]);
    });
  });
}
