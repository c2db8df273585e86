// Contract: SupportsSearch answers as matchesQuery (src/store/search.ts) over fetchMeta
// would: flags and keywords without case, UID ranges, sizes, INTERNALDATE days, modseqs,
// NOT / AND / OR.
import { describe, expect, it } from 'vitest';
import { matchesQuery } from '../../../src/store/search.js';
import { supportsSearch, supportsTextSearch, type SearchQuery, type TextTerm } from '../../../src/store/types.js';
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
      // searchNumbers: the same UIDs within a range, less an offset, as " n n n" text.
      const ranges = [
        { lo: after[0]!.uid, hi: after[6]!.uid, less: after[0]!.uid - 1 },
        { lo: after[2]!.uid, hi: after[5]!.uid, less: after[2]!.uid - 1 },
        { lo: after[0]!.uid, hi: after[6]!.uid, less: 0 },
      ];
      for (const q of queries) {
        const want = after.filter((m) => matchesQuery(q, m)).map((m) => m.uid);
        expect(await env.store.searchUids(A, box.id, q), JSON.stringify(q)).toEqual(want);
        for (const r of env.store.searchNumbers ? ranges : []) {
          const nums = want.filter((u) => u >= r.lo && u <= r.hi).map((u) => u - r.less);
          expect(await env.store.searchNumbers!(A, box.id, q, r), JSON.stringify([q, r])).toEqual({ count: nums.length, text: nums.map((n) => ` ${n}`).join('') });
        }
      }
      expect(await env.store.searchUids(A, box.id, { k: 'flag', flag: '\\Seen', set: false })).toHaveLength(5);
    });
  });
}

/** Waits for a store's background full-text fill, when it has one. */
async function indexed(store: unknown): Promise<void> {
  await (store as { ftsIdle?: () => Promise<void> }).ftsIdle?.();
}

const crlf = (lines: string[]): Buffer => Buffer.from(lines.join('\r\n'), 'latin1');

/** Messages of the content cases (RFC 2047 subject, base64, QP soft breaks, an attachment). */
const CONTENT = [
  crlf(['From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <jm@example.org>', 'To: a@example.test', 'Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=', '', 'plain body ok', '']),
  crlf(['From: b@example.org', 'Subject: encoded', 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: base64', '', Buffer.from('Der Bär schläft im Winterquartier\r\n').toString('base64'), '']),
  crlf(['From: c@example.org', 'Subject: soft breaks', 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=iso-8859-1', 'Content-Transfer-Encoding: quoted-printable', '', 'Ein sehr langes Wort: Donaudampfschiff=', 'fahrtsgesellschaft und K=E4se', '']),
  crlf([
    'From: d@example.org', 'Subject: with attachment', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b1"', '',
    '--b1', 'Content-Type: text/plain', '', 'see the attached report', '--b1',
    'Content-Type: application/pdf; name="quarterly-figures.pdf"', 'Content-Disposition: attachment; filename="quarterly-figures.pdf"', 'Content-Transfer-Encoding: base64', '',
    Buffer.from('%PDF secretpayload').toString('base64'), '--b1--', '',
  ]),
  Buffer.from('Subject: empty body\r\n\r\n'),
];

export function textSearches(env: Env): void {
  describe('searchText (SupportsTextSearch)', () => {
    it('finds decoded words in subjects, base64 and quoted-printable bodies, headers and part headers', async () => {
      if (!supportsTextSearch(env.store)) return;
      const s = env.store;
      await s.ensureAccount(A);
      for (const data of CONTENT) await s.append(A, 'INBOX', { data });
      const box = await s.getMailbox(A, 'INBOX');
      await indexed(s);
      const uids = (await s.fetchMeta(A, box.id)).map((m) => m.uid);
      const cases: Array<[TextTerm, number[]]> = [
        [{ where: 'header', field: 'SUBJECT', value: 'grüße aus KÖLN' }, [0]],
        [{ where: 'header', field: 'from', value: 'jürgen' }, [0]],
        [{ where: 'header', field: 'subject', value: 'jürgen' }, []],
        [{ where: 'body', value: 'BÄR SCHLÄFT' }, [1]],
        [{ where: 'body', value: 'Donaudampfschifffahrtsgesellschaft' }, [2]], // one word across a soft line break
        [{ where: 'body', value: 'käse' }, [2]],
        [{ where: 'body', value: 'schiff=' }, []],
        [{ where: 'body', value: 'ok' }, [0]], // 2 characters: no trigram, still exact
        [{ where: 'text', value: 'ok' }, [0]],
        [{ where: 'body', value: 'quarterly-figures' }, []], // a file name is in the part header, not the text
        [{ where: 'text', value: 'quarterly-figures' }, [3]],
        [{ where: 'body', value: 'secretpayload' }, []], // attachments are not text
        [{ where: 'text', value: 'secretpayload' }, []],
        [{ where: 'text', value: 'empty body' }, [4]],
        [{ where: 'header', field: 'subject', value: '' }, [0, 1, 2, 3, 4]],
        [{ where: 'header', field: 'X-None', value: '' }, []],
        [{ where: 'body', value: '' }, [0, 1, 2, 3, 4]],
        [{ where: 'body', value: 'b\0är' }, []], // a NUL in the needle (FTS5's query syntax ends a string there)
        [{ where: 'text', value: '\0\0\0' }, []],
      ];
      for (const [term, want] of cases) {
        const r = await s.searchText(A, box.id, term);
        expect(r.unsure, JSON.stringify(term)).toEqual([]);
        expect(r.hits, JSON.stringify(term)).toEqual(want.map((i) => uids[i]));
      }
    });

    it('keeps up with expunge, copy and move; a 1 KB and a 5 MB message; answers stay right before the index is filled', async () => {
      if (!supportsTextSearch(env.store)) return;
      const s = env.store;
      await s.ensureAccount(A);
      await s.createMailbox(A, 'Kept');
      const big = Buffer.concat([Buffer.from('Subject: big\r\n\r\n'), Buffer.alloc(5 * 1024 * 1024, 'lorem ipsum '), Buffer.from('needlefive\r\n')]);
      const kb = Buffer.from(`Subject: small\r\n\r\n${'x'.repeat(1000)} needleone\r\n`);
      const box = await s.getMailbox(A, 'INBOX');
      const a1 = await s.append(A, 'INBOX', { data: kb });
      const a2 = await s.append(A, 'INBOX', { data: big });
      // Whatever the fill did so far: every match is a hit or unsure, and no hit is wrong.
      const early = await s.searchText(A, box.id, { where: 'body', value: 'needleONE' });
      expect([...early.hits, ...early.unsure]).toContain(a1.uid);
      expect(early.hits).not.toContain(a2.uid);
      await indexed(s);
      // 5 MB of text is past what the index keeps: always unsure (the caller reads it).
      const five = await s.searchText(A, box.id, { where: 'body', value: 'needlefive' });
      expect([...five.hits, ...five.unsure]).toContain(a2.uid);
      expect((await s.searchText(A, box.id, { where: 'body', value: 'needleone' })).hits).toEqual([a1.uid]);
      const archive = await s.getMailbox(A, 'Kept');
      const copied = await s.copy(A, box.id, [a1.uid], 'Kept');
      await indexed(s);
      expect((await s.searchText(A, archive.id, { where: 'body', value: 'needleone' })).hits).toEqual(copied.to);
      const moved = await s.move(A, box.id, [a2.uid], 'Kept');
      await indexed(s);
      expect(await s.searchText(A, archive.id, { where: 'body', value: 'needlefive' })).toEqual({ hits: [], unsure: moved.to });
      expect(await s.searchText(A, box.id, { where: 'body', value: 'needlefive' })).toEqual({ hits: [], unsure: [] });
      await s.updateFlags(A, box.id, [a1.uid], 'add', ['\\Deleted']);
      await s.expunge(A, box.id);
      expect(await s.searchText(A, box.id, { where: 'body', value: 'needleone' })).toEqual({ hits: [], unsure: [] });
    });
  });
}
