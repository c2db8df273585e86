// Contract: the change bus order (committed, then published, then the call resolves),
// and several operations at once on one mailbox.
import { describe, expect, it } from 'vitest';
import type { MessageMeta, StoreChange, Uid } from '../../../src/store/types.js';
import { A, B, fill, msg, uidsOf, type Env } from './env.js';

export function busAndConcurrency(env: Env): void {
  describe('change bus', () => {
    it('publishes after the change is stored and before the call resolves; a read started by a listener sees it', async () => {
      await env.store.ensureAccount(A);
      const inbox = await env.store.getMailbox(A, 'INBOX');
      const reads: Array<Promise<MessageMeta[]>> = [];
      const order: string[] = [];
      const off = env.store.changes.subscribe(A, (c) => {
        order.push(`event:${c.kind}`);
        if (c.kind === 'added' || c.kind === 'expunged') reads.push(env.store.fetchMeta(A, inbox.id, { fields: 'flags' }));
      });
      const r = await env.store.append(A, 'INBOX', { data: msg(1) }).then((x) => (order.push('resolved:append'), x));
      await env.store.deliver([{ account: A }], { data: msg(2) }).then(() => order.push('resolved:deliver'));
      await env.store.expunge(A, inbox.id, [r.uid]).then(() => order.push('resolved:expunge'));
      off();
      expect(order).toEqual(['event:added', 'resolved:append', 'event:added', 'resolved:deliver', 'event:expunged', 'resolved:expunge']);
      const [afterAppend, afterDeliver, afterExpunge] = await Promise.all(reads);
      expect(afterAppend!.map((m) => m.uid)).toContain(r.uid);
      expect(afterDeliver).toHaveLength(2);
      expect(afterExpunge!.map((m) => m.uid)).not.toContain(r.uid);
    });

    it('events come in the order of the changes, to the account concerned only', async () => {
      await env.store.ensureAccount(A);
      await env.store.ensureAccount(B);
      const a: StoreChange[] = [];
      const b: StoreChange[] = [];
      const offA = env.store.changes.subscribe(A, (c) => a.push(c));
      const offB = env.store.changes.subscribe(B, (c) => b.push(c));
      for (let i = 0; i < 5; i++) await env.store.deliver([{ account: i % 2 ? B : A }], { data: msg(i) });
      offA();
      offB();
      await env.store.deliver([{ account: A }], { data: msg('late') });
      expect(a.map((c) => (c.kind === 'added' ? c.uids : []))).toEqual([[1], [2], [3]]);
      expect(b.map((c) => (c.kind === 'added' ? c.uids : []))).toEqual([[1], [2]]);
      expect(a.every((c) => c.account === A)).toBe(true);
    });
  });

  describe('concurrency on one mailbox', () => {
    it('parallel appends and deliveries get distinct ascending UIDs; nothing lost', async () => {
      const n = 40;
      const jobs: Array<Promise<number>> = [];
      for (let i = 0; i < n; i++) {
        jobs.push(i % 2 ? env.store.append(A, 'INBOX', { data: msg(i) }).then((r) => r.uid) : env.store.deliver([{ account: A }], { data: msg(i) }).then((r) => r[0]!.uid));
      }
      const got = await Promise.all(jobs);
      expect(new Set(got).size).toBe(n);
      const stored = await uidsOf(env.store, A, 'INBOX');
      expect(stored).toEqual([...got].sort((x, y) => x - y));
      expect((await env.store.getMailbox(A, 'INBOX')).messages).toBe(n);
    });

    it('parallel expunges of overlapping sets remove each message once', async () => {
      const u = await fill(env.store, A, 'INBOX', 30);
      const mb = await env.store.getMailbox(A, 'INBOX');
      await env.store.updateFlags(A, mb.id, u.slice(10, 20), 'add', ['\\Deleted']);
      const results = await Promise.all([
        env.store.expunge(A, mb.id, u.slice(0, 15)),
        env.store.expunge(A, mb.id, u.slice(5, 25)),
        env.store.expunge(A, mb.id),
        env.store.expunge(A, mb.id, u.slice(20)),
      ]);
      const all = results.flat();
      expect(new Set(all).size).toBe(all.length);
      expect([...all].sort((x, y) => x - y)).toEqual(u);
      expect(await uidsOf(env.store, A, 'INBOX')).toEqual([]);
      expect(await env.store.usage(A)).toEqual({ bytes: 0, messages: 0 });
    });

    it('deliveries, flag changes and expunges racing leave a consistent mailbox', async () => {
      const first = await fill(env.store, A, 'INBOX', 10);
      const mb = await env.store.getMailbox(A, 'INBOX');
      const added: Uid[] = [];
      const jobs: Array<Promise<unknown>> = [];
      for (let i = 0; i < 10; i++) {
        jobs.push(env.store.deliver([{ account: A }], { data: msg(`r${i}`) }).then((r) => added.push(r[0]!.uid)));
        jobs.push(env.store.updateFlags(A, mb.id, [first[i]!], 'add', ['\\Seen']));
        if (i % 2 === 0) jobs.push(env.store.expunge(A, mb.id, [first[i]!]));
      }
      await Promise.all(jobs);
      const left = await uidsOf(env.store, A, 'INBOX');
      const want = [...first.filter((_u, i) => i % 2 === 1), ...added].sort((x, y) => x - y);
      expect(left).toEqual(want);
      const info = await env.store.getMailbox(A, 'INBOX');
      expect(info.messages).toBe(want.length);
      expect(info.unseen).toBe(10);
    });

    it('sessions at work (beginWork) never hold back store calls, and their ends may be called twice', async () => {
      const ends = [env.store.beginWork(), env.store.beginWork()];
      // Under the holds: every kind of call completes (none waits for the store to be quiet).
      const u = await fill(env.store, A, 'INBOX', 3);
      const mb = await env.store.getMailbox(A, 'INBOX');
      await env.store.updateFlags(A, mb.id, [u[0]!], 'add', ['\\Seen']);
      const view = await env.store.selectMailbox(A, 'INBOX');
      expect(view.uids).toEqual(u);
      for (const end of ends) {
        end();
        end();
      }
      expect(await env.store.expunge(A, mb.id, [u[1]!])).toEqual([u[1]]);
      expect(await uidsOf(env.store, A, 'INBOX')).toEqual([u[0], u[2]]);
    });
  });
}
