// Contract: delivery to several targets (all or nothing), quota errors, and message bytes
// read back exactly as stored at every size.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { StoreError, supportsRangeRead, type MailboxId, type StoreChange, type Uid } from '../../../src/store/types.js';
import { A, B, bytesOf, fill, kindOf, msg, uidsOf, type Env } from './env.js';

/** Messages that must come back byte for byte: empty, tiny, odd line ends, every byte value, 1 KB, 1 MB. */
function sizes(): Array<[string, Buffer]> {
  const all = Buffer.alloc(256);
  for (let i = 0; i < 256; i++) all[i] = i;
  const kb = Buffer.concat([Buffer.from('Subject: 1 KB\r\n\r\n'), Buffer.alloc(1024 - 17, 'k')]);
  const mb = Buffer.concat([Buffer.from('Subject: 1 MB\r\n\r\n'), randomBytes(1024 * 1024 - 17)]);
  return [
    ['0 bytes', Buffer.alloc(0)],
    ['1 byte', Buffer.from('x')],
    ['bare LF, bare CR, no final newline', Buffer.from('Subject: lf\n\nline\rcr\r\nlast')],
    ['every byte value', all],
    ['1 KB', kb],
    ['1 MB', mb],
  ];
}

export function deliveryAndBytes(env: Env): void {
  describe('delivery', () => {
    it('METADATA (RFC 5464): server and mailbox entries apart, set and removed together, kept by RENAME, gone with DELETE; HIGHESTMODSEQ raised', async () => {
      await env.store.createMailbox(A, 'Box');
      const box = await env.store.getMailbox(A, 'Box');
      await env.store.setMetadata(A, null, [{ entry: '/shared/comment', value: Buffer.from('server') }]);
      await env.store.setMetadata(A, box.id, [
        { entry: '/shared/comment', value: Buffer.from('box') },
        { entry: '/private/a', value: Buffer.from([0, 1, 2]) },
      ]);
      expect((await env.store.getMailbox(A, 'Box')).highestModseq).toBeGreaterThan(box.highestModseq);
      expect(await env.store.getMetadata(A, null)).toEqual([{ entry: '/shared/comment', value: Buffer.from('server') }]);
      expect(await env.store.getMetadata(A, box.id)).toEqual([
        { entry: '/private/a', value: Buffer.from([0, 1, 2]) },
        { entry: '/shared/comment', value: Buffer.from('box') },
      ]);
      await env.store.setMetadata(A, box.id, [{ entry: '/private/a', value: null }]);
      await env.store.renameMailbox(A, 'Box', 'Renamed');
      const renamed = await env.store.getMailbox(A, 'Renamed');
      expect((await env.store.getMetadata(A, renamed.id)).map((x) => x.entry)).toEqual(['/shared/comment']);
      await env.store.deleteMailbox(A, 'Renamed');
      await env.store.createMailbox(A, 'Renamed');
      expect(await env.store.getMetadata(A, (await env.store.getMailbox(A, 'Renamed')).id)).toEqual([]);
      expect(await env.store.getMetadata(A, null)).toHaveLength(1);
    });

    it('cachePreview keeps a PREVIEW text (RFC 8970) for the full fetchMeta; a message gone is ignored', async () => {
      const [uid] = await fill(env.store, A, 'INBOX', 1);
      const inbox = await env.store.getMailbox(A, 'INBOX');
      expect((await env.store.fetchMeta(A, inbox.id, { uids: [uid!] }))[0]!.preview).toBeUndefined();
      await env.store.cachePreview(A, inbox.id, uid!, 'Café ☕');
      expect((await env.store.fetchMeta(A, inbox.id, { uids: [uid!] }))[0]!.preview).toBe('Café ☕');
      await env.store.cachePreview(A, inbox.id, 999 as typeof uid & number, 'x');
      expect(await env.store.fetchMeta(A, inbox.id, { uids: [999 as typeof uid & number] })).toEqual([]);
    });

    it('stores one copy per distinct mailbox, in target order; a missing mailbox is INBOX', async () => {
      await env.store.ensureAccount(B);
      const r = await env.store.deliver(
        [{ account: A }, { account: A, mailbox: 'Sent' }, { account: B }, { account: A, mailbox: 'inbox' }, { account: A, mailbox: 'No/Such' }],
        { data: msg(1) },
      );
      expect(r.map((x) => [x.account, x.mailbox, x.uid])).toEqual([
        [A, 'INBOX', 1],
        [A, 'Sent', 1],
        [B, 'INBOX', 1],
      ]);
      expect(await env.store.usage(A)).toEqual({ bytes: 2 * msg(1).length, messages: 2 });
      expect(await env.store.usage(B)).toEqual({ bytes: msg(1).length, messages: 1 });
      expect(await env.store.deliver([], { data: msg(2) })).toEqual([]);
    });

    it('applies flags and the internal date to every target', async () => {
      const date = new Date('2021-06-07T08:09:10Z');
      const r = await env.store.deliver([{ account: A }, { account: B, mailbox: 'Junk' }], { data: msg(1) }, { flags: ['\\Seen', '$Junk'], internalDate: date });
      for (const d of r) {
        const mb = await env.store.getMailbox(d.account, d.mailbox);
        const [m] = await env.store.fetchMeta(d.account, mb.id);
        expect([...m!.flags].sort()).toEqual(['$Junk', '\\Seen']);
        expect(m!.internalDate.getTime()).toBe(date.getTime());
      }
    });

    it("gives a target its own flags when it has some (Sieve's fileinto :flags), others the delivery's", async () => {
      await env.store.ensureAccount(B);
      const r = await env.store.deliver(
        [{ account: A }, { account: A, mailbox: 'Archive', flags: ['\\Seen', '$Label1'] }, { account: B, flags: [] }, { account: A, mailbox: 'inbox', flags: ['\\Draft'] }],
        { data: msg(1) },
        { flags: ['\\Answered'] },
      );
      const got: Array<[string, string, string[]]> = [];
      for (const d of r) {
        const [m] = await env.store.fetchMeta(d.account, (await env.store.getMailbox(d.account, d.mailbox)).id);
        got.push([d.account, d.mailbox, [...m!.flags].sort()]);
      }
      // The same mailbox twice is one copy, with the first target's flags.
      expect(got).toEqual([
        [A, 'INBOX', ['\\Answered']],
        [A, 'Archive', ['$Label1', '\\Seen']],
        [B, 'INBOX', []],
      ]);
      // A copy without flags is new (\Recent); one with flags is not, as in Maildir's new/ and cur/.
      expect((await env.store.getMailbox(B, 'INBOX')).recent).toBe(1);
      expect((await env.store.getMailbox(A, 'Archive')).recent).toBe(0);
    });

    it('is all or nothing: one account over quota stores nothing anywhere, and names it', async () => {
      await env.store.ensureAccount(B);
      env.quotas.set(B, { messages: 0 });
      const seen: StoreChange[] = [];
      const off = env.store.changes.subscribe(A, (c) => seen.push(c));
      let err: unknown;
      try {
        await env.store.deliver([{ account: A }, { account: A, mailbox: 'Sent' }, { account: B }], { data: msg(1) });
      } catch (e) {
        err = e;
      }
      off();
      expect(err).toBeInstanceOf(StoreError);
      expect((err as StoreError).kind).toBe('overQuota');
      expect((err as StoreError).account).toBe(B);
      expect(await env.store.usage(A)).toEqual({ bytes: 0, messages: 0 });
      expect(await env.store.usage(B)).toEqual({ bytes: 0, messages: 0 });
      expect(seen.filter((c) => c.kind === 'added')).toEqual([]);
      // Without B it goes through.
      expect(await env.store.deliver([{ account: A }], { data: msg(1) })).toHaveLength(1);
    });
  });

  describe('quota', () => {
    it('append, copy and deliver are refused over quota; move is allowed (to Trash when full)', async () => {
      const [u1] = await fill(env.store, A, 'INBOX', 2);
      const used = await env.store.usage(A);
      env.quotas.set(A, { bytes: used.bytes + 10 });
      expect(await kindOf(env.store.append(A, 'INBOX', { data: msg('big', 'x'.repeat(100)) }))).toBe('overQuota');
      expect(await kindOf(env.store.deliver([{ account: A }], { data: msg('big', 'x'.repeat(100)) }))).toBe('overQuota');
      const inbox = await env.store.getMailbox(A, 'INBOX');
      expect(await kindOf(env.store.copy(A, inbox.id, [u1!], 'Archive'))).toBe('overQuota');
      expect(await uidsOf(env.store, A, 'Archive')).toEqual([]);
      const mv = await env.store.move(A, inbox.id, [u1!], 'Trash');
      expect(mv.from).toEqual([u1]);
      expect(await env.store.usage(A)).toEqual(used);
      env.quotas.set(A, { messages: 2 });
      expect(await kindOf(env.store.append(A, 'INBOX', { data: Buffer.from('x') }))).toBe('overQuota');
      env.quotas.set(A, { messages: 3, bytes: null });
      await env.store.append(A, 'INBOX', { data: Buffer.from('x') });
      expect((await env.store.usage(A)).messages).toBe(3);
    });

    it('deliver with opts.unenforced skips the check for those accounts only, for that call only', async () => {
      await env.store.ensureAccount(B);
      env.quotas.set(A, { messages: 0 });
      env.quotas.set(B, { messages: 0 });
      // Only A is exempt: B still refuses the whole delivery, and nothing is stored for A.
      const both = env.store.deliver([{ account: A }, { account: B }], { data: msg(1) }, { unenforced: [A] });
      expect(await kindOf(both)).toBe('overQuota');
      expect(await env.store.usage(A)).toEqual({ bytes: 0, messages: 0 });
      // Both exempt: stored over quota, for both.
      const r = await env.store.deliver([{ account: A }, { account: A, mailbox: 'Sent' }, { account: B }], { data: msg(2) }, { unenforced: [A, B] });
      expect(r.map((d) => [d.account, d.mailbox])).toEqual([[A, 'INBOX'], [A, 'Sent'], [B, 'INBOX']]);
      expect((await env.store.usage(A)).messages).toBe(2);
      expect((await env.store.usage(B)).messages).toBe(1);
      // The exemption was that call's: the next delivery, append and copy are enforced again.
      expect(await kindOf(env.store.deliver([{ account: A }], { data: msg(3) }))).toBe('overQuota');
      expect(await kindOf(env.store.append(A, 'INBOX', { data: msg(4) }))).toBe('overQuota');
      const inbox = await env.store.getMailbox(A, 'INBOX');
      expect(await kindOf(env.store.copy(A, inbox.id, [r[0]!.uid], 'Archive'))).toBe('overQuota');
      expect((await env.store.usage(A)).messages).toBe(2);
    });
  });

  describe('message bytes', () => {
    it.each(sizes())('%s: read back identical through append and deliver, from bytes and from a file', async (_what, data) => {
      const dir = await mkdtemp(path.join(tmpdir(), 'store-contract-src-'));
      try {
        const file = path.join(dir, 'message');
        await writeFile(file, data);
        const got: Array<{ mailboxId: MailboxId; uid: Uid; account: string }> = [];
        got.push({ account: A, ...(await env.store.append(A, 'INBOX', { data })) });
        got.push({ account: A, ...(await env.store.append(A, 'Drafts', { path: file }, { flags: ['\\Draft'] })) });
        for (const src of [{ data }, { path: file }]) {
          for (const d of await env.store.deliver([{ account: A, mailbox: 'Sent' }, { account: B }], src)) {
            got.push({ account: d.account, mailboxId: (await env.store.getMailbox(d.account, d.mailbox)).id, uid: d.uid });
          }
        }
        for (const g of got) {
          expect((await bytesOf(env.store, g.account, g.mailboxId, g.uid)).equals(data)).toBe(true);
          const [meta] = await env.store.fetchMeta(g.account, g.mailboxId, { uids: [g.uid] });
          expect(meta!.size).toBe(data.length);
        }
        expect((await env.store.usage(A)).bytes).toBe(4 * data.length);
        expect((await env.store.getMailbox(A, 'Sent')).size).toBe(2 * data.length);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('a byte range reads [start, end) of the message, fewer at its end (SupportsRangeRead, where offered)', async () => {
      const store = env.store;
      if (!supportsRangeRead(store)) return; // optional: FETCH then reads from byte 0
      const data = Buffer.concat([Buffer.from('Subject: range\r\n\r\n'), randomBytes(200_000)]);
      const { uid, mailboxId } = await store.append(A, 'INBOX', { data });
      const read = async (start: number, end: number) => Buffer.concat(await (await store.readMessageRange(A, mailboxId, uid, { start, end })).toArray());
      expect((await read(0, data.length)).equals(data)).toBe(true);
      expect((await read(17, 150_017)).equals(data.subarray(17, 150_017))).toBe(true);
      expect((await read(data.length - 5, data.length + 100)).equals(data.subarray(data.length - 5))).toBe(true);
      expect(await read(10, 10)).toHaveLength(0);
      expect(await read(data.length + 1, data.length + 9)).toHaveLength(0);
      expect(await kindOf(store.readMessageRange(A, mailboxId, (uid + 1) as Uid, { start: 0, end: 1 }))).toBe('nonexistent');
    });

    it('reading an unknown UID or mailbox fails with nonexistent', async () => {
      const { mailboxId } = await env.store.append(A, 'INBOX', { data: msg(1) });
      expect(await kindOf(env.store.readMessage(A, mailboxId, 99 as Uid))).toBe('nonexistent');
      expect(await kindOf(env.store.readMessage(A, 123456 as MailboxId, 1 as Uid))).toBe('nonexistent');
      expect(await kindOf(env.store.fetchMeta(A, 123456 as MailboxId))).toBe('nonexistent');
      expect(await kindOf(env.store.append(A, 'No/Such', { data: msg(1) }))).toBe('nonexistent');
    });
  });
}
