// Contract: COPY (RFC 9051 §6.4.7), MOVE (RFC 6851) and EXPUNGE (RFC 9051 §6.4.3) with
// their UID mappings (UIDPLUS, RFC 4315).
import { describe, expect, it } from 'vitest';
import type { MailboxId, StoreChange, Uid } from '../../../src/store/types.js';
import { A, fill, kindOf, msg, textOf, uidsOf, type Env } from './env.js';

export function transfers(env: Env): void {
  describe('copy, move, expunge', () => {
    it('the save date (RFC 8514) is when a message came into its mailbox: APPEND, then COPY and MOVE give the copy a new one; INTERNALDATE and EMAILID travel', async () => {
      const old = new Date(Date.UTC(2020, 0, 1, 10));
      const { uid } = await env.store.append(A, 'INBOX', { data: msg('saved') }, { internalDate: old });
      const inbox = await env.store.getMailbox(A, 'INBOX');
      const [m] = await env.store.fetchMeta(A, inbox.id, { uids: [uid] });
      expect(m!.internalDate.getTime()).toBe(old.getTime());
      expect(Math.abs(m!.saveDate!.getTime() - Date.now())).toBeLessThan(60_000);
      await new Promise((r) => setTimeout(r, 20));
      const copied = await env.store.copy(A, inbox.id, [uid], 'Archive');
      const moved = await env.store.move(A, inbox.id, [uid], 'Trash');
      for (const [name, to] of [['Archive', copied.to[0]!], ['Trash', moved.to[0]!]] as const) {
        const mb = await env.store.getMailbox(A, name);
        const [c] = await env.store.fetchMeta(A, mb.id, { uids: [to] });
        expect(c!.internalDate.getTime()).toBe(old.getTime());
        expect(c!.saveDate!.getTime()).toBeGreaterThan(m!.saveDate!.getTime());
        expect(c!.emailId).toBe(m!.emailId); // EMAILID travels (RFC 8474 §5.1)
      }
      const other = await env.store.append(A, 'INBOX', { data: msg('saved') });
      const [o] = await env.store.fetchMeta(A, inbox.id, { uids: [other.uid] });
      expect(o!.emailId).toMatch(/^[A-Za-z0-9_-]{1,255}$/);
      expect(o!.emailId).not.toBe(m!.emailId);
    });

    it('COPY maps source UIDs to new destination UIDs in order, keeps flags, dates and bytes, leaves the source', async () => {
      const src = await fill(env.store, A, 'INBOX', 3, ['\\Seen', 'Kw']);
      const inbox = await env.store.getMailbox(A, 'INBOX');
      await fill(env.store, A, 'Archive', 1);
      const arch = await env.store.getMailbox(A, 'Archive');
      const map = await env.store.copy(A, inbox.id, [src[2]!, src[0]!, src[2]!], 'Archive');
      expect(map.uidValidity).toBe(arch.uidValidity);
      expect(map.from).toEqual([src[0], src[2]]);
      expect(map.to).toEqual([2, 3]);
      const srcMeta = await env.store.fetchMeta(A, inbox.id, { uids: map.from });
      const dstMeta = await env.store.fetchMeta(A, arch.id, { uids: map.to });
      expect(dstMeta.map((m) => [[...m.flags].sort(), m.size, m.internalDate.getTime()])).toEqual(srcMeta.map((m) => [[...m.flags].sort(), m.size, m.internalDate.getTime()]));
      for (let i = 0; i < map.from.length; i++) {
        expect(await textOf(env.store, A, arch.id, map.to[i]!)).toBe(await textOf(env.store, A, inbox.id, map.from[i]!));
      }
      expect(await uidsOf(env.store, A, 'INBOX')).toEqual(src);
      expect((await env.store.getMailbox(A, 'Archive')).messages).toBe(3);
      expect((await env.store.usage(A)).messages).toBe(6);
    });

    it('COPY and MOVE are all or nothing: one UID gone from the source (expunged meanwhile) and nothing is done', async () => {
      const src = await fill(env.store, A, 'INBOX', 3);
      const inbox = await env.store.getMailbox(A, 'INBOX');
      await env.store.expunge(A, inbox.id, [src[1]!]);
      const seen: StoreChange[] = [];
      const off = env.store.changes.subscribe(A, (c) => seen.push(c));
      const arch = await env.store.getMailbox(A, 'Archive');
      expect(await env.store.copy(A, inbox.id, [src[0]!, src[1]!], 'Archive')).toEqual({ uidValidity: arch.uidValidity, from: [], to: [] });
      expect(await env.store.move(A, inbox.id, [src[2]!, src[1]!], 'Archive')).toEqual({ uidValidity: arch.uidValidity, from: [], to: [] });
      off();
      expect(seen).toEqual([]);
      expect(await uidsOf(env.store, A, 'INBOX')).toEqual([src[0], src[2]]);
      expect(await env.store.getMailbox(A, 'Archive')).toMatchObject({ messages: 0, uidNext: 1 });
    });

    it('MOVE removes from the source, adds to the destination, publishes expunged then added', async () => {
      const src = await fill(env.store, A, 'INBOX', 3);
      const inbox = await env.store.getMailbox(A, 'INBOX');
      const trash = await env.store.getMailbox(A, 'Trash');
      const seen: StoreChange[] = [];
      const off = env.store.changes.subscribe(A, (c) => seen.push(c));
      const map = await env.store.move(A, inbox.id, [src[0]!, src[1]!], 'Trash');
      off();
      expect(map).toEqual({ uidValidity: trash.uidValidity, from: [src[0], src[1]], to: [1, 2] });
      expect(await uidsOf(env.store, A, 'INBOX')).toEqual([src[2]]);
      expect(await uidsOf(env.store, A, 'Trash')).toEqual([1, 2]);
      expect(seen.map((c) => c.kind)).toEqual(['expunged', 'added']);
      expect(seen[0]).toMatchObject({ mailboxId: inbox.id, uids: [src[0], src[1]] });
      expect(seen[1]).toMatchObject({ mailboxId: trash.id, uids: [1, 2] });
      expect(await env.store.usage(A)).toMatchObject({ messages: 3 });
    });

    it('COPY or MOVE of nothing, to a missing mailbox, or from a missing one', async () => {
      const inbox = await env.store.getMailbox(A, 'INBOX');
      const arch = await env.store.getMailbox(A, 'Archive');
      expect(await env.store.copy(A, inbox.id, [5 as Uid], 'Archive')).toEqual({ uidValidity: arch.uidValidity, from: [], to: [] });
      await fill(env.store, A, 'INBOX', 1);
      expect(await kindOf(env.store.copy(A, inbox.id, [1 as Uid], 'No/Such'))).toBe('nonexistent');
      expect(await kindOf(env.store.move(A, inbox.id, [1 as Uid], 'No/Such'))).toBe('nonexistent');
      expect(await kindOf(env.store.copy(A, 987654 as MailboxId, [1 as Uid], 'Archive'))).toBe('nonexistent');
      expect(await uidsOf(env.store, A, 'INBOX')).toEqual([1]);
    });

    it('EXPUNGE without UIDs removes the \\Deleted ones; with UIDs, those whatever their flags', async () => {
      const u = await fill(env.store, A, 'INBOX', 5);
      const mb = await env.store.getMailbox(A, 'INBOX');
      await env.store.updateFlags(A, mb.id, [u[1]!, u[3]!], 'add', ['\\Deleted']);
      const before = (await env.store.getMailbox(A, 'INBOX')).highestModseq;
      expect(await env.store.expunge(A, mb.id)).toEqual([u[1], u[3]]);
      expect(await env.store.expunge(A, mb.id)).toEqual([]);
      expect(await env.store.expunge(A, mb.id, [u[4]!, u[0]!, 1234 as Uid])).toEqual([u[0], u[4]]);
      expect(await uidsOf(env.store, A, 'INBOX')).toEqual([u[2]]);
      const after = await env.store.getMailbox(A, 'INBOX');
      expect(after.messages).toBe(1);
      expect(after.highestModseq).toBeGreaterThan(before);
      expect(await kindOf(env.store.readMessage(A, mb.id, u[0]!))).toBe('nonexistent');
      expect(await env.store.usage(A)).toMatchObject({ messages: 1 });
    });
  });
}
