// Contract: SupportsSearch answers as matchesQuery (src/store/search.ts) over fetchMeta
// would: flags and keywords without case, UID ranges, sizes, INTERNALDATE days, modseqs,
// NOT / AND / OR.
import { describe, expect, it } from 'vitest';
import { matchesQuery } from '../../../src/store/search.js';
import { supportsSearch, type SearchQuery } from '../../../src/store/types.js';
import { A, msg, type Env } from './env.js';

const DAY = Date.UTC(2024, 4, 10);

export function searches(env: Env): void {
  describe('searchUids (SupportsSearch)', () => {
    it('agrees with the reference evaluation on flags, keywords, UIDs, sizes, dates and modseqs', async () => {
      if (!supportsSearch(env.store)) return;
      await env.store.ensureAccount(A);
      const flags = [['\\Seen'], [], ['\\Seen', '\\Flagged'], ['$Junk'], ['\\Deleted', 'Work'], ['$Forwarded'], []];
      for (const [i, f] of flags.entries()) {
        await env.store.append(A, 'INBOX', { data: msg(i, 'x'.repeat(i * 100)) }, { flags: f, internalDate: new Date(DAY + (i - 3) * 43_200_000) });
      }
      const box = await env.store.getMailbox(A, 'INBOX');
      const metas = await env.store.fetchMeta(A, box.id);
      await env.store.updateFlags(A, box.id, [metas[6]!.uid], 'add', ['\\Answered']);
      const after = await env.store.fetchMeta(A, box.id);
      const queries: SearchQuery[] = [
        { k: 'all' },
        { k: 'none' },
        { k: 'flag', flag: '\\Seen', set: false },
        { k: 'flag', flag: '\\seen', set: true },
        { k: 'flag', flag: '$junk', set: true },
        { k: 'flag', flag: 'work', set: false },
        { k: 'flag', flag: '$Forwarded', set: true },
        { k: 'flag', flag: '\\Recent', set: true },
        { k: 'uids', ranges: [[2, 3], [6, 100]] },
        { k: 'size', op: 'larger', n: metas[3]!.size },
        { k: 'size', op: 'smaller', n: metas[3]!.size },
        { k: 'date', op: 'on', day: DAY },
        { k: 'date', op: 'before', day: DAY },
        { k: 'date', op: 'since', day: DAY },
        { k: 'modseq', n: after[6]!.modseq },
        { k: 'not', q: { k: 'or', a: { k: 'flag', flag: '\\Seen', set: true }, b: { k: 'flag', flag: '\\Deleted', set: true } } },
        { k: 'and', qs: [{ k: 'flag', flag: '\\Seen', set: false }, { k: 'size', op: 'larger', n: 0 }] },
        { k: 'and', qs: [] },
      ];
      for (const q of queries) {
        const want = after.filter((m) => matchesQuery(q, m)).map((m) => m.uid);
        expect(await env.store.searchUids(A, box.id, q), JSON.stringify(q)).toEqual(want);
      }
      expect(await env.store.searchUids(A, box.id, { k: 'flag', flag: '\\Seen', set: false })).toHaveLength(5);
    });
  });
}
