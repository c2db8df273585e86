// Contract: flags and keywords (RFC 9051 §2.3.2, §6.4.6) and modseqs (RFC 7162).
import { describe, expect, it } from 'vitest';
import type { StoreChange, Uid } from '../../../src/store/types.js';
import { A, fill, flagsOf, msg, type Env } from './env.js';

export function flagsAndModseqs(env: Env): void {
  describe('flags, keywords, modseqs', () => {
    it('keeps system flags and keywords as given: case of system flags normalised, keywords de-duplicated without case, \\Recent and unknown \\flags dropped', async () => {
      const { mailboxId } = await env.store.append(A, 'INBOX', { data: msg(1) }, { flags: ['\\seen', 'Work', '\\Recent', 'work', '\\Bogus', '$Forwarded', '\\FLAGGED'] });
      const [m] = await env.store.fetchMeta(A, mailboxId);
      expect([...m!.flags].sort()).toEqual(['$Forwarded', 'Work', '\\Flagged', '\\Seen'].sort());
      expect((await env.store.getMailbox(A, 'INBOX')).unseen).toBe(0);
    });

    it('add, remove and set change only what differs; one modseq per call, above every earlier one', async () => {
      const [u1, u2, u3] = await fill(env.store, A, 'INBOX', 3);
      const mb = await env.store.getMailbox(A, 'INBOX');
      const base = mb.highestModseq;
      const metas0 = await env.store.fetchMeta(A, mb.id);
      for (const m of metas0) expect(m.modseq).toBeLessThanOrEqual(base);

      const r1 = await env.store.updateFlags(A, mb.id, [u1!, u2!], 'add', ['\\Seen', 'Label']);
      expect(r1.failed).toEqual([]);
      expect(r1.changed.map((c) => [c.uid, [...c.flags].sort()])).toEqual([
        [u1, ['Label', '\\Seen']],
        [u2, ['Label', '\\Seen']],
      ]);
      const ms1 = r1.changed[0]!.modseq;
      expect(ms1).toBeGreaterThan(base);
      expect(r1.changed.every((c) => c.modseq === ms1)).toBe(true);
      expect((await env.store.getMailbox(A, 'INBOX')).highestModseq).toBe(ms1);
      expect((await env.store.getMailbox(A, 'INBOX')).unseen).toBe(1);

      // Already set: nothing changes, no new modseq.
      const again = await env.store.updateFlags(A, mb.id, [u1!], 'add', ['\\seen', 'label']);
      expect(again.changed).toEqual([]);
      expect((await env.store.getMailbox(A, 'INBOX')).highestModseq).toBe(ms1);

      const r2 = await env.store.updateFlags(A, mb.id, [u1!, u2!, u3!], 'remove', ['LABEL']);
      expect(r2.changed.map((c) => c.uid)).toEqual([u1, u2]);
      const r3 = await env.store.updateFlags(A, mb.id, [u3!], 'set', ['\\Answered', '\\Draft', 'A', 'B']);
      expect([...r3.changed[0]!.flags].sort()).toEqual(['A', 'B', '\\Answered', '\\Draft']);
      expect(r3.changed[0]!.modseq).toBeGreaterThan(r2.changed[0]!.modseq);
      const all = await flagsOf(env.store, A, 'INBOX');
      expect(all.map(([u, f]) => [u, [...f].sort()])).toEqual([
        [u1, ['\\Seen']],
        [u2, ['\\Seen']],
        [u3, ['A', 'B', '\\Answered', '\\Draft']],
      ]);
      // UIDs that do not exist are passed over.
      expect((await env.store.updateFlags(A, mb.id, [999 as Uid], 'add', ['\\Flagged'])).changed).toEqual([]);
    });

    it('keywords keep their first spelling and the order they were added', async () => {
      const { uid, mailboxId } = await env.store.append(A, 'INBOX', { data: msg(1) }, { flags: ['Zeta'] });
      await env.store.updateFlags(A, mailboxId, [uid], 'add', ['alpha', 'ZETA', 'Mid']);
      const [m] = await env.store.fetchMeta(A, mailboxId);
      expect(m!.flags).toEqual(['Zeta', 'alpha', 'Mid']);
      const view = await env.store.selectMailbox(A, 'INBOX');
      expect([...view.keywords].sort()).toEqual(['Mid', 'Zeta', 'alpha']);
    });

    it('UNCHANGEDSINCE fails the messages modified after it; CHANGEDSINCE lists only later changes (RFC 7162 §3.1.3, §3.1.4.1)', async () => {
      const [u1, u2] = await fill(env.store, A, 'INBOX', 2);
      const mb = await env.store.getMailbox(A, 'INBOX');
      const r = await env.store.updateFlags(A, mb.id, [u1!], 'add', ['\\Flagged']);
      const ms = r.changed[0]!.modseq;
      const cond = await env.store.updateFlags(A, mb.id, [u1!, u2!], 'add', ['\\Seen'], { unchangedSince: ms - 1 });
      expect(cond.failed).toEqual([u1]);
      expect(cond.changed.map((c) => c.uid)).toEqual([u2]);
      const since = await env.store.fetchMeta(A, mb.id, { changedSince: ms });
      expect(since.map((m) => m.uid)).toEqual([u2]);
      expect(since[0]!.modseq).toBe(cond.changed[0]!.modseq);
      expect((await env.store.fetchMeta(A, mb.id, { changedSince: cond.changed[0]!.modseq })).map((m) => m.uid)).toEqual([]);
      const light = await env.store.fetchMeta(A, mb.id, { uids: [u2!, 77 as Uid], fields: 'flags' });
      expect(light.map((m) => [m.uid, [...m.flags]])).toEqual([[u2, ['\\Seen']]]);
    });

    it('publishes one flags change per call, after it is stored', async () => {
      const [u1] = await fill(env.store, A, 'INBOX', 1);
      const mb = await env.store.getMailbox(A, 'INBOX');
      const seen: StoreChange[] = [];
      const off = env.store.changes.subscribe(A, (c) => seen.push(c));
      const r = await env.store.updateFlags(A, mb.id, [u1!], 'add', ['\\Deleted', 'K']);
      await env.store.updateFlags(A, mb.id, [u1!], 'add', ['K']); // no change, no event
      off();
      expect(seen).toEqual([{ kind: 'flags', account: A, mailboxId: mb.id, changes: r.changed }]);
    });

    it('first unseen and keywords of SELECT follow the flags', async () => {
      const [u1, u2] = await fill(env.store, A, 'INBOX', 3);
      const mb = await env.store.getMailbox(A, 'INBOX');
      await env.store.updateFlags(A, mb.id, [u1!], 'add', ['\\Seen']);
      const view = await env.store.selectMailbox(A, 'INBOX');
      expect(view.firstUnseen).toBe(u2);
      await env.store.updateFlags(A, mb.id, [...view.uids], 'add', ['\\Seen']);
      expect((await env.store.selectMailbox(A, 'INBOX')).firstUnseen).toBeUndefined();
    });
  });
}
