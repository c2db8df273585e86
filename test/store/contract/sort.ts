// Contract: SupportsSort keeps the RFC 5256 keys of every message (delivered, appended,
// copied) and sorts by them as the reference order (src/store/sortkeys.ts compareKeys)
// does: each criterion in turn, REVERSE per criterion, ties by UID.
import { describe, expect, it } from 'vitest';
import { compareKeys, type SortCriterion } from '../../../src/store/sortkeys.js';
import { supportsSort, type Uid } from '../../../src/store/types.js';
import { A, type Env } from './env.js';

const T = Date.UTC(2024, 4, 10, 12);

function mail(from: string, to: string, subject: string, date: string | null, extra = ''): Buffer {
  return Buffer.from(`From: ${from}\r\nTo: ${to}\r\nSubject: ${subject}\r\n${date ? `Date: ${date}\r\n` : ''}${extra}\r\nbody ${'x'.repeat(subject.length * 7)}\r\n`);
}

const MAILS: Array<[Buffer, number]> = [
  [mail('Zed <zed@example.org>', 'b@example.org', 'Re: hello', 'Fri, 10 May 2024 14:00:00 +0200', 'Message-ID: <a@x>\r\n'), 0],
  [mail('alice@example.org', 'C <c@example.org>', '=?utf-8?q?=C3=A9t=C3=A9?=', 'Fri, 10 May 2024 11:00:00 +0000', 'Message-ID: <b@x>\r\nReferences: <a@x>\r\n'), 3],
  [mail('"Bob" <bob@example.org>', 'a@example.org', '[list] Fwd: Hello (fwd)', null, 'In-Reply-To: <b@x> (comment)\r\n'), 1],
  [mail('Émile <emile@example.org>', 'undisclosed:;', 'HELLO', 'garbage', 'Cc: dee@example.org\r\n'), 2],
  [mail('bob@example.org', 'a@example.org', 'été', 'Fri, 10 May 2024 11:00:00 +0000'), 5],
];

const ORDERS: SortCriterion[][] = [
  [{ key: 'date', reverse: false }],
  [{ key: 'arrival', reverse: true }],
  [{ key: 'subject', reverse: false }, { key: 'date', reverse: true }],
  [{ key: 'from', reverse: false }],
  [{ key: 'to', reverse: true }],
  [{ key: 'cc', reverse: false }],
  [{ key: 'size', reverse: false }],
  [{ key: 'displayfrom', reverse: false }],
  [{ key: 'displayto', reverse: false }, { key: 'subject', reverse: true }],
];

export function sorts(env: Env): void {
  describe('sortUids / sortKeys (SupportsSort)', () => {
    it('keeps the RFC 5256 keys of appended, delivered and copied messages and sorts as compareKeys', async () => {
      if (!supportsSort(env.store)) return;
      const s = env.store;
      await s.ensureAccount(A);
      for (const [i, [data, hour]] of MAILS.entries()) {
        if (i % 2 === 0) await s.append(A, 'INBOX', { data }, { internalDate: new Date(T + hour * 3_600_000) });
        else await s.deliver([{ account: A }], { data }, { internalDate: new Date(T + hour * 3_600_000) });
      }
      const box = await s.getMailbox(A, 'INBOX');
      const keys = await s.sortKeys(A, box.id);
      expect(keys.map((k) => k.uid)).toEqual([1, 2, 3, 4, 5]);
      expect(keys.map((k) => k.subject)).toEqual(['HELLO', 'ÉTÉ'.normalize('NFKD'), 'HELLO', 'HELLO', 'ÉTÉ'.normalize('NFKD')]);
      expect(keys.map((k) => k.reply)).toEqual([true, false, true, false, false]);
      expect(keys.map((k) => k.from)).toEqual(['ZED', 'ALICE', 'BOB', 'EMILE', 'BOB']);
      expect(keys.map((k) => k.to)).toEqual(['B', 'C', 'A', 'UNDISCLOSED', 'A']); // a group: its name
      expect(keys.map((k) => k.cc)).toEqual(['', '', '', 'DEE', '']);
      expect(keys.map((k) => k.displayFrom)).toEqual(['ZED', 'ALICE@EXAMPLE.ORG', 'BOB', 'ÉMILE'.normalize('NFKD'), 'BOB@EXAMPLE.ORG']);
      // RFC 5256 §2.2: no Date, or one that does not parse: the INTERNALDATE.
      expect(keys.map((k) => k.sent)).toEqual([T, T - 3_600_000, T + 3_600_000, T + 2 * 3_600_000, T - 3_600_000]);
      expect(keys.map((k) => k.messageId)).toEqual(['a@x', 'b@x', null, null, null]);
      expect(keys.map((k) => k.refs)).toEqual([[], ['a@x'], ['b@x'], [], []]);
      // What THREAD reads (threadKeys) is what sortKeys has.
      const pick = (k: (typeof keys)[number]) => [k.uid, k.sent, k.subject, k.reply, k.messageId, k.refs];
      const pickT = (k: Awaited<ReturnType<typeof s.threadKeys>>[number]) => [k.uid, k.sent, k.subject, k.reply, k.messageId, k.refs];
      expect((await s.threadKeys(A, box.id)).map(pickT)).toEqual(keys.map(pick));
      expect((await s.threadKeys(A, box.id, [2, 5] as Uid[])).map(pickT)).toEqual(keys.filter((k) => k.uid === 2 || k.uid === 5).map(pick));
      for (const by of ORDERS) {
        const want = [...keys].sort(compareKeys(by)).map((k) => k.uid);
        expect(await s.sortUids(A, box.id, by), JSON.stringify(by)).toEqual(want);
        expect(await s.sortUids(A, box.id, by, [2, 3, 5] as Uid[])).toEqual(want.filter((u) => [2, 3, 5].includes(u)));
      }
      // A copy has the same keys under its new UID; an expunged message leaves the order.
      await s.createMailbox(A, 'Other');
      const other = await s.getMailbox(A, 'Other');
      await s.copy(A, box.id, [2, 4] as Uid[], 'Other');
      expect((await s.sortKeys(A, other.id)).map((k) => [k.uid, k.from, k.sent])).toEqual([[1, 'ALICE', T - 3_600_000], [2, 'EMILE', T + 2 * 3_600_000]]);
      await s.expunge(A, box.id, [1] as Uid[]);
      expect(await s.sortUids(A, box.id, [{ key: 'subject', reverse: false }])).toEqual([2, 5, 3, 4]); // "E\u0301TE\u0301" before "HELLO"
    });
  });
}
