// SORT, THREAD, SORT=DISPLAY, ESORT (RFC 5256, RFC 5957, RFC 5267): the RFCs' examples
// replayed on mailboxes built to hold what the examples imply, through the strict
// checking client (test/helpers/imap-checker.ts), on both stores.
import { describe, expect, it } from 'vitest';
import { fixtureForFile } from './fixture.js';

type Client = Awaited<ReturnType<ReturnType<typeof fixtureForFile>['f']['connect']>>;

interface Mail {
  subject?: string;
  date?: string;
  from?: string;
  to?: string;
  cc?: string;
  id?: string;
  refs?: string;
  inReplyTo?: string;
  body?: string;
  flags?: string;
}

function raw(m: Mail, n: number): Buffer {
  const h = [
    `From: ${m.from ?? 'alice@example.org'}`,
    `To: ${m.to ?? 'bob@example.org'}`,
    ...(m.cc ? [`Cc: ${m.cc}`] : []),
    `Subject: ${m.subject ?? `message ${n}`}`,
    ...(m.date === '' ? [] : [`Date: ${m.date ?? `Mon, 2 Nov 2026 10:00:${String(n % 60).padStart(2, '0')} +0000`}`]),
    ...(m.id ? [`Message-ID: <${m.id}>`] : []),
    ...(m.refs ? [`References: ${m.refs}`] : []),
    ...(m.inReplyTo ? [`In-Reply-To: ${m.inReplyTo}`] : []),
  ];
  return Buffer.from(`${h.join('\r\n')}\r\n\r\n${m.body ?? `body ${n}`}\r\n`);
}

async function mailbox(c: Client, mails: Mail[]): Promise<void> {
  for (const [i, m] of mails.entries()) await c.transact('ok', [`APPEND INBOX (${m.flags ?? ''}) "0${(i % 9) + 1}-Mar-2000 10:00:00 +0000" `, raw(m, i + 1)]);
  await c.transact('ok', 'SELECT INBOX');
}

async function one(c: Client, cmd: string, type = 'SORT', tag?: string): Promise<string> {
  return (await c.transact('ok', cmd, tag ? { tag } : {})).untagged.find((r) => r.type === type)!.raw;
}

for (const store of ['memory', 'maildir'] as const) {
  const t = fixtureForFile({ store });
  const session = async (): Promise<Client> => {
    const c = await t.f.connect();
    await c.login(await t.account(), 'pw');
    return c;
  };

  describe(`SORT and THREAD (${store})`, () => {
    it('advertises SORT, SORT=DISPLAY, ESORT and the three THREAD algorithms', async () => {
      const c = await session();
      const caps = (await c.transact('ok', 'CAPABILITY')).untagged[0]!.raw.split(' ');
      for (const cap of ['SORT', 'SORT=DISPLAY', 'ESORT', 'THREAD=ORDEREDSUBJECT', 'THREAD=REFERENCES', 'THREAD=REFS']) expect(caps).toContain(cap);
      await c.close();
    });

    it('RFC 5256 §4: SORT (SUBJECT), SORT (SUBJECT REVERSE DATE), an empty SORT', async () => {
      const c = await session();
      // 1..5 so that (SUBJECT REVERSE DATE) is 5 3 4 1 2: "a" twice, "b" twice, "c" once.
      await mailbox(c, [
        { subject: 'Re: b', date: 'Tue, 1 Feb 1994 08:00:00 +0000' },
        { subject: 'c', date: 'Mon, 7 Feb 1994 08:00:00 +0000' },
        { subject: 'Fwd: [list] a', date: 'Wed, 2 Feb 1994 08:00:00 +0000' },
        { subject: 'B (fwd)', date: 'Tue, 1 Feb 1994 09:30:00 +0100' },
        { subject: '[fwd: A]', date: 'Thu, 3 Feb 1994 08:00:00 +0000' },
      ]);
      expect(await one(c, 'SORT (SUBJECT) UTF-8 SINCE 1-Feb-1994')).toBe('* SORT 3 5 1 4 2');
      expect(await one(c, 'SORT (SUBJECT REVERSE DATE) UTF-8 ALL')).toBe('* SORT 5 3 4 1 2');
      expect(await one(c, 'SORT (SUBJECT) US-ASCII TEXT "not in mailbox"')).toBe('* SORT');
      expect(await one(c, 'UID SORT (REVERSE ARRIVAL) UTF-8 2:4')).toBe('* SORT 4 3 2');
      await c.transact('bad', 'SORT () UTF-8 ALL');
      // The charset is required (RFC 5256 §3): "ALL" there is a charset nobody knows.
      expect((await c.transact('no', 'SORT (SUBJECT) ALL')).tagged.code).toMatch(/^BADCHARSET/);
      await c.transact('bad', 'SORT (SUBJECT) UTF-8');
      await c.transact('bad', 'SORT (NAME) UTF-8 ALL');
      expect((await c.transact('no', 'SORT (SUBJECT) KOI8-R ALL')).tagged.code).toMatch(/^BADCHARSET/);
      await c.close();
    });

    it('RFC 5256 §2.1 base subjects and RFC 5051 collation: encoded words, leaders, blobs, trailers, case and accents', async () => {
      const c = await session();
      await mailbox(c, [
        { subject: '=?utf-8?q?=C3=A9cole?=' }, // école
        { subject: 'RE: [list] Re: Ecole (fwd) (FWD)' },
        { subject: '[list] [tag]' }, // (4) removes "[list] ", not the last blob: base "[TAG]"
        { subject: 'Re:   zebra' },
        { subject: '[Fwd: Re: ZEBRA]' },
        { subject: 'apple' },
        { subject: '' },
      ]);
      // "" < "APPLE" < "ECOLE" < "E\u0301COLE" (É decomposed) < "ZEBRA" (4, 5 by sequence) < "[TAG]" ("[" is 0x5B)
      expect(await one(c, 'SORT (SUBJECT) UTF-8 ALL')).toBe('* SORT 7 6 2 1 4 5 3');
      await c.close();
    });

    it('SORT by FROM, TO, CC, SIZE, DATE and RFC 5957 DISPLAYFROM/DISPLAYTO', async () => {
      const c = await session();
      await mailbox(c, [
        { from: 'Zoe <adam@example.org>', to: 'undisclosed-recipients:;', date: 'Mon, 2 Nov 2026 10:00:00 -0500', body: 'x'.repeat(300) },
        { from: '"=?utf-8?q?=C3=89mile?=" <zed@example.org>', to: 'Carl <carl@example.org>', cc: 'b@example.org', date: 'Mon, 2 Nov 2026 14:00:00 +0000' },
        { from: 'bob@example.org', to: 'Anne <zz@example.org>', cc: 'a@example.org', date: '', body: 'x'.repeat(100) },
      ]);
      expect(await one(c, 'SORT (FROM) UTF-8 ALL')).toBe('* SORT 1 3 2');
      expect(await one(c, 'SORT (DISPLAYFROM) UTF-8 ALL')).toBe('* SORT 3 2 1');
      // A list that starts with a group sorts by the group's name (its ENVELOPE addr-mailbox), as Dovecot does.
      expect(await one(c, 'SORT (TO) UTF-8 ALL')).toBe('* SORT 2 1 3');
      expect(await one(c, 'SORT (DISPLAYTO) UTF-8 ALL')).toBe('* SORT 3 2 1');
      expect(await one(c, 'SORT (CC FROM) UTF-8 ALL')).toBe('* SORT 1 3 2');
      expect(await one(c, 'SORT (REVERSE SIZE) UTF-8 ALL')).toBe('* SORT 1 3 2');
      // 1 is 15:00 UTC; 3 has no Date: its INTERNALDATE (3 Mar 2000) comes first.
      expect(await one(c, 'SORT (DATE) UTF-8 ALL')).toBe('* SORT 3 2 1');
      await c.close();
    });

    it('RFC 5267 §3 ESORT: RETURN (MIN COUNT), (ALL) in sort order, nothing found, PARTIAL', async () => {
      const c = await session();
      // Dates make UNSEEN by DATE come out 5,3,2,9,6,7 (1, 4 and 8 are \Seen).
      const order = [5, 3, 2, 9, 6, 7, 1, 4, 8];
      const mails: Mail[] = Array.from({ length: 9 }, (_, i) => ({
        date: `Tue, ${order.indexOf(i + 1) + 2} Feb 1994 08:00:00 +0000`,
        flags: [1, 4, 8].includes(i + 1) ? '\\Seen' : '',
      }));
      await mailbox(c, mails);
      expect(await one(c, 'SORT RETURN (MIN COUNT) (DATE) UTF-8 SINCE 1-Feb-1994', 'ESEARCH', 'A282')).toBe('* ESEARCH (TAG "A282") MIN 5 COUNT 9');
      expect(await one(c, 'SORT RETURN (ALL) (DATE) UTF-8 UNSEEN', 'ESEARCH', 'A283')).toBe('* ESEARCH (TAG "A283") ALL 5,3,2,9,6:7');
      expect(await one(c, 'SORT RETURN (MIN MAX) (DATE) UTF-8 DELETED', 'ESEARCH', 'A284')).toBe('* ESEARCH (TAG "A284")');
      expect(await one(c, 'UID SORT RETURN (MAX COUNT PARTIAL 2:3) (DATE) UTF-8 UNSEEN', 'ESEARCH', 'A285')).toBe('* ESEARCH (TAG "A285") UID MAX 7 COUNT 6 PARTIAL (2:3 3,2)');
      expect(await one(c, 'SORT RETURN () (REVERSE DATE) UTF-8 SEEN', 'ESEARCH', 'A286')).toBe('* ESEARCH (TAG "A286") ALL 8,4,1');
      await c.transact('bad', 'SORT RETURN (SAVE2) (DATE) UTF-8 ALL');
      await c.close();
    });

    it('RFC 5256 §4 THREAD example shape "(2)(3 6 (4 23)(44 7 96))", REFERENCES and ORDEREDSUBJECT', async () => {
      const c = await session();
      // 1 alone; 2 the root; 5 replies to 2; 3 and 4 reply to 5 (3 with 7 below it; 4 with 6, then 8 below 6).
      await mailbox(c, [
        { subject: 'lonely', id: '1@x' },
        { subject: 'topic', id: '2@x' },
        { subject: 'Re: topic', id: '3@x', refs: '<2@x> <5@x>' },
        { subject: 'Re: topic', id: '4@x', refs: '<2@x> <5@x>' },
        { subject: 'Re: topic', id: '5@x', inReplyTo: '<2@x>' },
        { subject: 'Re: topic', id: '6@x', refs: '<2@x> <5@x> <4@x>' },
        { subject: 'Re: topic', id: '7@x', refs: '<5@x> <3@x>' },
        { subject: 'Re: topic', id: '8@x', refs: '<4@x> <6@x>' },
      ]);
      expect(await one(c, 'THREAD REFERENCES UTF-8 ALL', 'THREAD')).toBe('* THREAD (1)(2 5 (3 7)(4 6 8))');
      expect(await one(c, 'UID THREAD REFS UTF-8 ALL', 'THREAD')).toBe('* THREAD (1)(2 5 (3 7)(4 6 8))');
      expect(await one(c, 'THREAD ORDEREDSUBJECT UTF-8 ALL', 'THREAD')).toBe('* THREAD (1)(2 (3)(4)(5)(6)(7)(8))');
      expect(await one(c, 'THREAD REFERENCES US-ASCII TEXT "gewp"', 'THREAD')).toBe('* THREAD');
      // A search that leaves out 5: its children join 2 directly (5 is a dummy, pruned).
      expect(await one(c, 'THREAD REFERENCES UTF-8 NOT 5', 'THREAD')).toBe('* THREAD (1)(2 (3 7)(4 6 8))');
      await c.transact('bad', 'THREAD FOO UTF-8 ALL');
      await c.close();
    });

    it('sizes: a message without header, a 2 MB body, a 300 KB header (keys from its first 256 KB), a header without a body', async () => {
      const c = await session();
      const big = `X-Pad: ${'p'.repeat(998)}\r\n`.repeat(300);
      const msgs = [
        Buffer.from('\r\n'), // no header at all (an empty message is refused by APPEND)
        Buffer.from(`Subject: b\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\n\r\n${'x'.repeat(2 * 1024 * 1024)}`),
        Buffer.from(`Subject: c\r\n${big}Subject: a\r\nFrom: late@example.org\r\n\r\nbody\r\n`),
        Buffer.from('Subject: a\r\nFrom: z@example.org'),
      ];
      for (const m of msgs) await c.transact('ok', [`APPEND INBOX () "01-Mar-2000 10:00:00 +0000" `, m]);
      await c.transact('ok', 'SELECT INBOX');
      expect(await one(c, 'SORT (SUBJECT) UTF-8 ALL')).toBe('* SORT 1 4 2 3');
      expect(await one(c, 'SORT (FROM) UTF-8 ALL')).toBe('* SORT 1 2 3 4'); // 3's From is past the cut
      expect(await one(c, 'SORT (REVERSE SIZE) UTF-8 ALL')).toBe('* SORT 2 3 4 1');
      expect(await one(c, 'THREAD REFERENCES UTF-8 ALL', 'THREAD')).toBe('* THREAD (1)(3)(4)(2)');
      await c.close();
    });

    it('REFERENCES step 5: roots with one base subject gathered, a dummy over two originals', async () => {
      const c = await session();
      await mailbox(c, [
        { subject: 'plans', id: 'a@x' },
        { subject: 'Re: plans', id: 'b@x', refs: '<lost@x>' },
        { subject: 'plans', id: 'c@x' },
        { subject: 'other', id: 'd@x', refs: '<a@x> <a@x>' },
      ]);
      // 2 (a reply; its parent is not here) goes under 1; 1 and 3 are both originals: a dummy holds them.
      expect(await one(c, 'THREAD REFERENCES UTF-8 ALL', 'THREAD')).toBe('* THREAD ((1 (2)(4))(3))');
      await c.close();
    });
  });
}
