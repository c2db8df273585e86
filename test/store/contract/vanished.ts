// Contract: the expunged-UID record of QRESYNC (RFC 7162 §3.2.5, §3.2.6; types.ts
// Vanished). The contract stores keep CONTRACT_EXPUNGED_KEPT records per mailbox.
import { describe, expect, it } from 'vitest';
import type { StoreChange } from '../../../src/store/types.js';
import { A, fill, kindOf, type Env } from './env.js';

/** What the contract's makeStore passes as expungedKept. */
export const CONTRACT_EXPUNGED_KEPT = 6;

export function vanishedRecord(env: Env): void {
  describe('vanished (QRESYNC)', () => {
    it('an EXPUNGE raises HIGHESTMODSEQ and is remembered above the modseq the client knew', async () => {
      const uids = await fill(env.store, A, 'INBOX', 4);
      const before = await env.store.getMailbox(A, 'INBOX');
      expect(await env.store.vanished(A, before.id, before.highestModseq)).toEqual({ uids: [], complete: true });
      await env.store.expunge(A, before.id, [uids[3]!, uids[1]!]);
      const after = await env.store.getMailbox(A, 'INBOX');
      expect(after.highestModseq).toBeGreaterThan(before.highestModseq);
      expect(await env.store.vanished(A, before.id, before.highestModseq)).toEqual({ uids: [uids[1], uids[3]], complete: true });
      expect(await env.store.vanished(A, before.id, 0)).toEqual({ uids: [uids[1], uids[3]], complete: true });
      // A client that saw the expunge's modseq is told nothing more.
      expect(await env.store.vanished(A, before.id, after.highestModseq)).toEqual({ uids: [], complete: true });
      // Flag changes are not expunges.
      await env.store.updateFlags(A, before.id, [uids[0]!], 'add', ['\\Seen']);
      expect((await env.store.vanished(A, before.id, after.highestModseq)).uids).toEqual([]);
    });

    it("the expunged event carries the expunge's modseq, the mailbox's HIGHESTMODSEQ after it (EXPUNGE, MOVE, RENAME of INBOX)", async () => {
      const uids = await fill(env.store, A, 'INBOX', 4);
      const inbox = await env.store.getMailbox(A, 'INBOX');
      const seen: StoreChange[] = [];
      const off = env.store.changes.subscribe(A, (c) => seen.push(c));
      const modseqNow = async (): Promise<number> => (await env.store.getMailbox(A, 'INBOX')).highestModseq;
      const lastExpunged = (): number | undefined => seen.filter((c) => c.kind === 'expunged').map((c) => (c.kind === 'expunged' ? c.modseq : 0)).pop();
      await env.store.expunge(A, inbox.id, [uids[0]!]);
      expect(lastExpunged()).toBe(await modseqNow());
      await env.store.move(A, inbox.id, [uids[1]!], 'Archive');
      expect(lastExpunged()).toBe(await modseqNow());
      const before = await modseqNow();
      await env.store.renameMailbox(A, 'INBOX', 'Old');
      expect(lastExpunged()).toBeGreaterThan(before);
      off();
    });

    it('MOVE out of a mailbox and RENAME of INBOX are expunges of the source', async () => {
      const uids = await fill(env.store, A, 'INBOX', 3);
      const inbox = await env.store.getMailbox(A, 'INBOX');
      await env.store.move(A, inbox.id, [uids[0]!], 'Archive');
      const afterMove = await env.store.getMailbox(A, 'INBOX');
      expect(afterMove.highestModseq).toBeGreaterThan(inbox.highestModseq);
      expect((await env.store.vanished(A, inbox.id, inbox.highestModseq)).uids).toEqual([uids[0]]);
      const arch = await env.store.getMailbox(A, 'Archive');
      expect((await env.store.vanished(A, arch.id, 0)).uids).toEqual([]);
      await env.store.renameMailbox(A, 'INBOX', 'Old');
      expect((await env.store.vanished(A, inbox.id, afterMove.highestModseq)).uids).toEqual([uids[1], uids[2]]);
    });

    it('keeps a bounded record: older expunges are forgotten and the answer says it may be incomplete', async () => {
      const uids = await fill(env.store, A, 'INBOX', CONTRACT_EXPUNGED_KEPT + 4);
      const mb = await env.store.getMailbox(A, 'INBOX');
      const seen: number[] = [];
      for (const u of uids) {
        await env.store.expunge(A, mb.id, [u]);
        seen.push((await env.store.getMailbox(A, 'INBOX')).highestModseq);
      }
      const all = await env.store.vanished(A, mb.id, mb.highestModseq);
      expect(all.complete).toBe(false);
      expect(all.uids.length).toBeLessThanOrEqual(CONTRACT_EXPUNGED_KEPT);
      // The most recent ones are whole: a client that saw the 5th-from-last expunge misses nothing.
      const since = seen[seen.length - 5]!;
      expect(await env.store.vanished(A, mb.id, since)).toEqual({ uids: uids.slice(-4), complete: true });
      // Never an UID that is still there.
      for (const u of all.uids) expect(uids).toContain(u);
    });

    it('a mailbox deleted and made again starts with no record; an unknown mailbox is nonexistent', async () => {
      await env.store.createMailbox(A, 'Box');
      const uids = await fill(env.store, A, 'Box', 2);
      const mb = await env.store.getMailbox(A, 'Box');
      await env.store.expunge(A, mb.id, uids);
      await env.store.deleteMailbox(A, 'Box');
      expect(await kindOf(env.store.vanished(A, mb.id, 0))).toBe('nonexistent');
      const again = await env.store.createMailbox(A, 'Box');
      expect(await env.store.vanished(A, again.id, 0)).toEqual({ uids: [], complete: true });
    });
  });
}
