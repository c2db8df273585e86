// Contract: close (operations under way finish, later calls fail typed), account
// removal, and the optional import interface (UIDs and UIDVALIDITY kept, UIDs used up).
import { describe, expect, it } from 'vitest';
import { openSnapshot, supportsImport } from '../../../src/store/types.js';
import { A, B, fill, kindOf, msg, uidsOf, type Env } from './env.js';

const MAX_UID = 0xffffffff;

export function importAndClose(env: Env): void {
  describe('accounts and close', () => {
    it('removeAccount removes the mail; the account starts afresh on next use', async () => {
      await fill(env.store, A, 'INBOX', 2);
      await env.store.createMailbox(A, 'Mine');
      await env.store.removeAccount(A);
      expect((await env.store.listMailboxes(A)).map((m) => m.name)).not.toContain('Mine');
      expect(await env.store.usage(A)).toEqual({ bytes: 0, messages: 0 });
      expect((await env.store.getMailbox(A, 'INBOX')).messages).toBe(0);
    });

    it('removeAccount racing the first open of the account leaves either nothing or a whole account', async () => {
      const ops = await Promise.allSettled([env.store.ensureAccount(B), env.store.removeAccount(B), env.store.deliver([{ account: B }], { data: msg(1) })]);
      expect(ops.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
      // Whatever order they ran in, the account works afterwards.
      await env.store.deliver([{ account: B }], { data: msg(2) });
      expect((await env.store.getMailbox(B, 'INBOX')).messages).toBeGreaterThanOrEqual(1);
      expect((await env.store.listMailboxes(B)).map((m) => m.name)).toContain('Sent');
    });

    it('close lets the operations under way finish; later calls fail with closed', async () => {
      await env.store.ensureAccount(A);
      const running = Promise.all([
        env.store.deliver([{ account: A }], { data: msg(1) }),
        env.store.append(A, 'INBOX', { data: msg(2) }),
        env.store.createMailbox(A, 'During/Close'),
      ]);
      await env.store.close();
      await expect(running).resolves.toHaveLength(3);
      expect(await kindOf(env.store.getMailbox(A, 'INBOX'))).toBe('closed');
      expect(await kindOf(env.store.deliver([{ account: A }], { data: msg(3) }))).toBe('closed');
      expect(await kindOf(env.store.listMailboxes(A))).toBe('closed');
    });

    it('openSnapshot gives every message of a mailbox with the \\Recent of this open', async () => {
      await env.store.deliver([{ account: A }], { data: msg(1) });
      await env.store.append(A, 'INBOX', { data: msg(2) }, { flags: ['\\Seen'] });
      const snap = await openSnapshot(env.store, A, 'INBOX');
      expect(snap.messages.map((m) => [m.uid, [...m.flags], m.size])).toEqual([
        [1, [], msg(1).length],
        [2, ['\\Seen'], msg(2).length],
      ]);
      expect(snap.mailbox.recent).toBe(1);
      expect((await openSnapshot(env.store, A, 'INBOX')).mailbox.recent).toBe(0);
    });
  });

  describe('import (SupportsImport)', () => {
    it('a mailbox that never held mail takes the origin UIDVALIDITY; UIDs are kept, never below UIDNEXT', async (ctx) => {
      if (!supportsImport(env.store)) return ctx.skip();
      const s = env.store;
      await s.createMailbox(A, 'Imported');
      const mb = await s.setUidState(A, 'Imported', { uidValidity: 4242 });
      expect(mb.uidValidity).toBe(4242);
      const r = await s.importMessage(A, 'Imported', { data: msg(1) }, { uid: 100, flags: ['\\Seen'] });
      expect(r).toMatchObject({ uid: 100, uidValidity: 4242, mailboxId: mb.id });
      expect(await kindOf(s.importMessage(A, 'Imported', { data: msg(2) }, { uid: 50 }))).toBe('exists');
      expect(await kindOf(s.importMessage(A, 'Imported', { data: msg(2) }, { uid: 0 }))).toBe('invalidName');
      expect(await kindOf(s.setUidState(A, 'Imported', { uidValidity: 7 }))).toBe('exists');
      const raised = await s.setUidState(A, 'Imported', { uidNext: 500 });
      expect(raised.uidNext).toBe(500);
      expect((await s.setUidState(A, 'Imported', { uidNext: 200 })).uidNext).toBe(500); // never lowered
      expect((await s.append(A, 'Imported', { data: msg(3) })).uid).toBe(500);
      expect(await uidsOf(s, A, 'Imported')).toEqual([100, 500]);
    });

    it('a mailbox whose UIDs are used up refuses new mail with uidsExhausted, and stores nothing (RFC 9051 §2.3.1.1)', async (ctx) => {
      if (!supportsImport(env.store)) return ctx.skip();
      const s = env.store;
      await s.setUidState(A, 'INBOX', { uidNext: MAX_UID });
      const last = await s.append(A, 'INBOX', { data: msg(1) });
      expect(last.uid).toBe(MAX_UID);
      expect(await kindOf(s.append(A, 'INBOX', { data: msg(2) }))).toBe('uidsExhausted');
      expect(await kindOf(s.deliver([{ account: A }, { account: A, mailbox: 'Sent' }], { data: msg(3) }))).toBe('uidsExhausted');
      await s.setUidState(A, 'Archive', { uidNext: MAX_UID });
      await s.append(A, 'Archive', { data: msg(4) });
      const inbox = await s.getMailbox(A, 'INBOX');
      expect(await kindOf(s.copy(A, inbox.id, [last.uid], 'Archive'))).toBe('uidsExhausted');
      expect(await kindOf(s.move(A, inbox.id, [last.uid], 'Archive'))).toBe('uidsExhausted');
      expect(await uidsOf(s, A, 'INBOX')).toEqual([MAX_UID]);
      expect(await uidsOf(s, A, 'Sent')).toEqual([]);
      expect(await uidsOf(s, A, 'Archive')).toEqual([MAX_UID]);
    });
  });
}
