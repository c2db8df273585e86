// PREVIEW (RFC 8970) on both stores: the example of §3 (FETCH PREVIEW, then PREVIEW (LAZY)
// answered from the cache, NIL before it), and the text itself: first text/plain part,
// else text/html without tags, decoded (quoted-printable, base64, charset), whitespace
// folded, at most 200 characters; nothing for a message without text. python imaplib
// fetches it as a client would.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchAttrs, valueText, type ImapTestClient } from '../helpers/imap-client.js';
import { needs } from '../helpers/peers.js';
import { imaplibFetch } from './py-fetch.js';
import { startImapFixture, type ImapFixture } from './fixture.js';

const HEAD = 'From: a@example.org\r\nTo: b@example.test\r\nSubject: p\r\nMIME-Version: 1.0\r\n';
const MESSAGES: Array<[string, string | null]> = [
  [HEAD + 'Content-Type: text/plain\r\n\r\nPreview text!\r\n', 'Preview text!'],
  [
    HEAD +
      'Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=E9   au\r\n\r\n\tlait =\r\nsoon\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>not this</p>\r\n--b--\r\n',
    'Café au lait soon',
  ],
  [
    HEAD + 'Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n' + Buffer.from('<html><head><style>p{}</style></head><body><p>Hello&nbsp;<b>world</b> &amp; more</p></body></html>').toString('base64') + '\r\n',
    'Hello world & more',
  ],
  [HEAD + 'Content-Type: text/plain\r\n\r\n' + 'word '.repeat(100) + '\r\n', ('word '.repeat(40)).trim()],
  [HEAD + 'Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment\r\n\r\nxx\r\n--b--\r\n', ''],
];

let n = 0;
async function setup(f: ImapFixture): Promise<{ user: string; c: ImapTestClient }> {
  const user = `pv${++n}@example.test`;
  await f.addAccount(user, 'pw');
  for (const [m] of MESSAGES) await f.deliver(user, m);
  const c = await f.client(user, 'pw');
  await c.transact('ok', 'SELECT INBOX');
  return { user, c };
}

for (const store of ['memory', 'maildir'] as const) {
  describe(`PREVIEW (${store} store)`, () => {
    let f: ImapFixture;
    beforeAll(async () => {
      f = await startImapFixture(store === 'memory' ? { store: 'memory' } : {});
    });
    afterAll(async () => {
      await f.close();
    });

    it('the example of RFC 8970 §3: PREVIEW (LAZY) is NIL until PREVIEW computed it, then the cached text', async () => {
      const { c } = await setup(f);
      expect((await c.transact('ok', 'CAPABILITY')).untagged[0]!.raw.split(' ')).toContain('PREVIEW');
      expect((await c.transact('ok', 'FETCH 1 (PREVIEW (LAZY))')).untagged.map((r) => r.raw)).toEqual(['* 1 FETCH (PREVIEW NIL)']);
      expect((await c.transact('ok', 'FETCH 1 (PREVIEW)')).untagged.map((r) => r.raw)).toEqual(['* 1 FETCH (PREVIEW "Preview text!")']);
      expect((await c.transact('ok', 'UID FETCH 1 (PREVIEW (lazy))')).untagged.map((r) => r.raw)).toEqual(['* 1 FETCH (UID 1 PREVIEW "Preview text!")']);
      await c.transact('bad', 'FETCH 1 (PREVIEW (EAGER))');
      await c.close();
    });

    it('first text part, decoded and folded, at most 200 characters; "" without text; UTF-8 as a literal before UTF8=ACCEPT', async () => {
      const { c } = await setup(f);
      const r = await c.transact('ok', `FETCH 1:${MESSAGES.length} (PREVIEW)`);
      const fetches = r.untagged.filter((x) => x.type === 'FETCH');
      const got = fetches.map((x) => valueText(fetchAttrs(x).PREVIEW!));
      expect(fetches[1]!.raw).toMatch(/PREVIEW \{18\}/); // "Café" needs a literal in IMAP4rev1
      expect(got).toEqual(MESSAGES.map(([, want]) => want));
      expect(Array.from(got[3]!).length).toBeLessThanOrEqual(200);
      await c.transact('ok', 'ENABLE UTF8=ACCEPT');
      expect((await c.transact('ok', 'FETCH 2 (PREVIEW (LAZY))')).untagged.map((x) => x.raw)).toEqual(['* 2 FETCH (PREVIEW "Café au lait soon")']);
      await c.close();
    });

    it('python imaplib fetches PREVIEW', needs('python3'), async () => {
      const { user, c } = await setup(f);
      await c.close();
      const stdout = await imaplibFetch(f.port, user, '3', '(PREVIEW)');
      expect(stdout.trim()).toBe('3 (PREVIEW "Hello world & more")');
    });
  });
}
