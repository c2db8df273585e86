// Contract: the mailbox tree (RFC 9051 §6.3.4-§6.3.6, RFC 6154) and mailbox names.
import { describe, expect, it } from 'vitest';
import type { StoreChange } from '../../../src/store/types.js';
import { A, B, fill, kindOf, uidsOf, type Env } from './env.js';

export function treeAndNames(env: Env): void {
  describe('mailbox tree', () => {
    it('a new account has INBOX first, then the special-use mailboxes, subscribed (RFC 6154)', async () => {
      await env.store.ensureAccount(A);
      const list = await env.store.listMailboxes(A);
      expect(list.map((m) => [m.name, m.specialUse ?? null, m.subscribed])).toEqual([
        ['INBOX', null, true],
        ['Archive', '\\Archive', true],
        ['Drafts', '\\Drafts', true],
        ['Junk', '\\Junk', true],
        ['Sent', '\\Sent', true],
        ['Trash', '\\Trash', true],
      ]);
      for (const m of list) expect(m).toMatchObject({ messages: 0, unseen: 0, size: 0, recent: 0, uidNext: 1 });
      expect(new Set(list.map((m) => m.id)).size).toBe(list.length);
      await env.store.ensureAccount(A); // idempotent
      expect(await env.store.listMailboxes(A)).toHaveLength(6);
    });

    it('CREATE makes the missing superior names; an existing name is refused (RFC 9051 §6.3.4)', async () => {
      const info = await env.store.createMailbox(A, 'a/b/c');
      expect(info).toMatchObject({ name: 'a/b/c', messages: 0, uidNext: 1, subscribed: false });
      expect((await env.store.listMailboxes(A)).map((m) => m.name)).toEqual(expect.arrayContaining(['a', 'a/b', 'a/b/c']));
      expect(await kindOf(env.store.createMailbox(A, 'a/b'))).toBe('exists');
      expect(await kindOf(env.store.createMailbox(A, 'inbox'))).toBe('exists');
      const su = await env.store.createMailbox(A, 'Important', { specialUse: '\\Flagged' });
      expect(su.specialUse).toBe('\\Flagged');
    });

    it('INBOX is case-insensitive, other names are not (RFC 9051 §5.1)', async () => {
      const inbox = await env.store.getMailbox(A, 'inbox');
      expect(inbox.name).toBe('INBOX');
      const sub = await env.store.createMailbox(A, 'iNbOx/child');
      expect(sub.name).toBe('INBOX/child');
      await env.store.createMailbox(A, 'Work');
      await env.store.createMailbox(A, 'work');
      expect((await env.store.listMailboxes(A)).filter((m) => m.name.toLowerCase() === 'work')).toHaveLength(2);
    });

    it('DELETE: INBOX never, a mailbox with children not, a leaf yes (RFC 9051 §6.3.5)', async () => {
      await env.store.createMailbox(A, 'p/q');
      expect(await kindOf(env.store.deleteMailbox(A, 'INBOX'))).toBe('noPermission');
      expect(await kindOf(env.store.deleteMailbox(A, 'p'))).toBe('hasChildren');
      expect(await kindOf(env.store.deleteMailbox(A, 'nope'))).toBe('nonexistent');
      await fill(env.store, A, 'p/q', 2);
      await env.store.deleteMailbox(A, 'p/q');
      await env.store.deleteMailbox(A, 'p');
      expect((await env.store.listMailboxes(A)).map((m) => m.name)).not.toEqual(expect.arrayContaining(['p']));
      expect(await kindOf(env.store.getMailbox(A, 'p/q'))).toBe('nonexistent');
      expect(await env.store.usage(A)).toEqual({ bytes: 0, messages: 0 });
      // A new mailbox of the same name is a new mailbox: a new UIDVALIDITY, UIDs from 1.
      const again = await env.store.createMailbox(A, 'p/q');
      expect(again.uidNext).toBe(1);
    });

    it('RENAME moves the children along, keeps UIDVALIDITY and messages, makes superior names (RFC 9051 §6.3.6)', async () => {
      await env.store.createMailbox(A, 'a/b');
      const before = await env.store.getMailbox(A, 'a');
      const child = await env.store.getMailbox(A, 'a/b');
      await fill(env.store, A, 'a/b', 3);
      await env.store.renameMailbox(A, 'a', 'x/y');
      expect(await kindOf(env.store.getMailbox(A, 'a'))).toBe('nonexistent');
      expect(await kindOf(env.store.getMailbox(A, 'a/b'))).toBe('nonexistent');
      expect((await env.store.getMailbox(A, 'x/y')).uidValidity).toBe(before.uidValidity);
      const moved = await env.store.getMailbox(A, 'x/y/b');
      expect(moved).toMatchObject({ id: child.id, uidValidity: child.uidValidity, messages: 3, uidNext: 4 });
      expect(await uidsOf(env.store, A, 'x/y/b')).toEqual([1, 2, 3]);
      expect((await env.store.getMailbox(A, 'x')).name).toBe('x');
      expect(await kindOf(env.store.renameMailbox(A, 'x/y', 'Sent'))).toBe('exists');
      expect(await kindOf(env.store.renameMailbox(A, 'nope', 'other'))).toBe('nonexistent');
      expect(await kindOf(env.store.renameMailbox(A, 'x', 'x/z'))).toBe('invalidName');
    });

    it('RENAME INBOX moves its messages with their UIDs and leaves INBOX empty (RFC 9051 §6.3.6)', async () => {
      await fill(env.store, A, 'INBOX', 3);
      const inbox = await env.store.getMailbox(A, 'INBOX');
      await env.store.renameMailbox(A, 'INBOX', 'Old/Inbox');
      expect(await uidsOf(env.store, A, 'Old/Inbox')).toEqual([1, 2, 3]);
      const after = await env.store.getMailbox(A, 'INBOX');
      expect(after).toMatchObject({ id: inbox.id, uidValidity: inbox.uidValidity, messages: 0 });
      const { uid } = await env.store.append(A, 'INBOX', { data: Buffer.from('Subject: x\r\n\r\n') });
      expect(uid).toBeGreaterThanOrEqual(4); // never reused in INBOX under its UIDVALIDITY
      expect((await env.store.getMailbox(A, 'Old/Inbox')).uidNext).toBeGreaterThanOrEqual(4);
    });

    it('subscriptions are kept; a missing mailbox cannot be subscribed', async () => {
      await env.store.createMailbox(A, 'Lists');
      await env.store.setSubscribed(A, 'Lists', true);
      expect((await env.store.getMailbox(A, 'Lists')).subscribed).toBe(true);
      await env.store.setSubscribed(A, 'Lists', false);
      expect((await env.store.getMailbox(A, 'Lists')).subscribed).toBe(false);
      expect(await kindOf(env.store.setSubscribed(A, 'Nope', true))).toBe('nonexistent');
      expect(await env.store.listSubscriptions(A)).toEqual(['Archive', 'Drafts', 'INBOX', 'Junk', 'Sent', 'Trash']);
    });

    it('a subscription is a name: it outlives its mailbox, follows a RENAME, is removed by name (RFC 3501 §6.3.6)', async () => {
      await env.store.createMailbox(A, 'Old/Child');
      await env.store.setSubscribed(A, 'Old/Child', true);
      await env.store.renameMailbox(A, 'Old', 'New');
      expect(await env.store.listSubscriptions(A)).toContain('New/Child');
      expect(await env.store.listSubscriptions(A)).not.toContain('Old/Child');
      expect((await env.store.getMailbox(A, 'New/Child')).subscribed).toBe(true);
      await env.store.deleteMailbox(A, 'New/Child');
      expect(await env.store.listSubscriptions(A)).toContain('New/Child');
      await env.store.createMailbox(A, 'New/Child'); // made again: subscribed, as its name is
      expect((await env.store.getMailbox(A, 'New/Child')).subscribed).toBe(true);
      await env.store.deleteMailbox(A, 'New/Child');
      await env.store.setSubscribed(A, 'New/Child', false);
      expect(await env.store.listSubscriptions(A)).not.toContain('New/Child');
      await env.store.setSubscribed(A, 'Never/Subscribed', false); // no error
      await env.store.setSubscribed(A, 'Trash', false);
      expect(await env.store.listSubscriptions(A)).toEqual(['Archive', 'Drafts', 'INBOX', 'Junk', 'Sent']);
    });

    it('publishes mailboxAdded, mailboxRenamed and mailboxRemoved to the account only', async () => {
      await env.store.ensureAccount(A);
      await env.store.ensureAccount(B);
      const seen: StoreChange[] = [];
      const other: StoreChange[] = [];
      const off = env.store.changes.subscribe(A, (c) => seen.push(c));
      const offB = env.store.changes.subscribe(B, (c) => other.push(c));
      await env.store.createMailbox(A, 'm/n');
      await env.store.renameMailbox(A, 'm', 'k');
      await env.store.deleteMailbox(A, 'k/n');
      off();
      offB();
      await env.store.createMailbox(A, 'after');
      expect(seen).toEqual([
        { kind: 'mailboxAdded', account: A, name: 'm' },
        { kind: 'mailboxAdded', account: A, name: 'm/n' },
        { kind: 'mailboxRenamed', account: A, from: 'm', to: 'k' },
        { kind: 'mailboxRenamed', account: A, from: 'm/n', to: 'k/n' },
        { kind: 'mailboxRemoved', account: A, name: 'k/n' },
      ]);
      expect(other).toEqual([]);
    });
  });

  describe('mailbox names', () => {
    it.each(['Entwürfe', '日本語/子', '📬 Post', 'v1.2', 'a%b', 'R&D', 'with space', 'a.b/c%d', 'ÄÖÜ/äöü/ß'])('keeps %j as given', async (name) => {
      const info = await env.store.createMailbox(A, name);
      expect(info.name).toBe(name);
      expect((await env.store.getMailbox(A, name)).id).toBe(info.id);
      expect((await env.store.listMailboxes(A)).map((m) => m.name)).toContain(name);
      await env.store.append(A, name, { data: Buffer.from('Subject: n\r\n\r\n') });
      expect((await env.store.getMailbox(A, name)).messages).toBe(1);
    });

    it.each([
      ['empty', ''],
      ['leading /', '/a'],
      ['trailing /', 'a/'],
      ['empty level', 'a//b'],
      ['..', '..'],
      ['.. inside', 'a/../b'],
      ['.', '.'],
      ['NUL', 'a\u0000b'],
      ['newline', 'a\nb'],
      ['DEL', 'a\u007fb'],
      ['~', '~root'],
      ['lone surrogate', 'a\ud800b'],
      ['too long', 'x'.repeat(600)],
      ['too deep', Array.from({ length: 40 }, (_v, i) => `l${i}`).join('/')],
    ])('refuses %s with invalidName', async (_what, name) => {
      expect(await kindOf(env.store.createMailbox(A, name))).toBe('invalidName');
      expect(await kindOf(env.store.getMailbox(A, name))).toBe('invalidName');
      expect(await kindOf(env.store.append(A, name, { data: Buffer.from('x') }))).toBe('invalidName');
    });

    it('refuses account ids that are not local@domain', async () => {
      for (const bad of ['nodomain', '@example.test', 'a@', '../x@example.test', 'a@../..', 'a/b@example.test']) {
        expect(await kindOf(env.store.ensureAccount(bad)), bad).toBe('invalidName');
      }
    });
  });
}
