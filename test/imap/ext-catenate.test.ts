// CATENATE (RFC 4469): APPEND of TEXT literals and IMAP URLs (RFC 5092) to the user's own
// messages, through the strict client; BADURL and TOOBIG leave nothing stored.
import { describe, expect, it } from 'vitest';
import type { AppendOptions } from '../../src/store/types.js';
import { fetchAttrs } from '../helpers/imap-client.js';
import { fixtureForFile, message } from './fixture.js';

const LIMIT = 256 * 1024;
const t = fixtureForFile({ store: 'memory', configure: (c) => (c.limits.maxMessageSize = LIMIT) });

/** The RFC 4469 Appendix A draft: a multipart with a text part and an attachment. */
const HEADER = 'From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: draft\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n';
const PART1_MIME = 'Content-Type: text/plain; charset=us-ascii\r\n\r\n';
const PART1 = 'The original text of the draft.\r\n';
const PART2_MIME = 'Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n';
const PART2 = Buffer.alloc(3000, 7).toString('base64').replace(/.{76}/g, '$&\r\n') + '\r\n';
const DRAFT = `${HEADER}--b1\r\n${PART1_MIME}${PART1}\r\n--b1\r\n${PART2_MIME}${PART2}\r\n--b1--\r\n`;

async function setup(opts: AppendOptions = {}) {
  const user = await t.account();
  const store = t.f.ctx.store;
  const draft = await store.append(user, 'Drafts', { data: Buffer.from(DRAFT) }, opts);
  const other = await store.append(user, 'INBOX', { data: Buffer.from(message(30)) });
  const c = await t.f.connect();
  await c.login(user, 'pw');
  return { user, c, draft, other };
}

async function fetchWhole(c: Awaited<ReturnType<typeof setup>>['c'], box: string, seq = '*'): Promise<string> {
  await c.transact('ok', `EXAMINE ${box}`);
  const r = await c.transact('ok', `FETCH ${seq} BODY.PEEK[]`);
  const v = fetchAttrs(r.untagged.find((u) => u.type === 'FETCH')!)['BODY[]']!;
  return v && typeof v === 'object' && 'literal' in v ? v.literal.toString('latin1') : String(v);
}

describe('CATENATE', () => {
  it('RFC 4469 Appendix A: a new draft from the old one\'s header and parts, a new text part and a whole message', async () => {
    const { c, draft } = await setup();
    expect((await c.transact('ok', 'CAPABILITY')).untagged[0]!.raw).toMatch(/ CATENATE\b/);
    const v = draft.uidValidity;
    const u = (rest: string) => `URL "/Drafts;UIDVALIDITY=${v}/;UID=${draft.uid}${rest}"`;
    const newText = 'A new text part.\r\n';
    const r = await c.transact('ok', [
      `APPEND Drafts (\\Seen \\Draft $MDNSent) CATENATE (${u('/;SECTION=HEADER')} TEXT `,
      Buffer.from('--b1\r\n'),
      ` ${u('/;section=1.MIME')} ${u('/;SECTION=1')} TEXT `,
      Buffer.from(`\r\n--b1\r\nContent-Type: text/plain\r\n\r\n${newText}\r\n--b1\r\nContent-Type: message/rfc822\r\n\r\n`),
      ` URL "/INBOX/;UID=1" TEXT `,
      Buffer.from('\r\n--b1--\r\n'),
      ')',
    ]);
    expect(r.tagged.code).toMatch(/^APPENDUID \d+ 2$/);
    const made = await fetchWhole(c, 'Drafts', '2');
    expect(made).toBe(`${HEADER}--b1\r\n${PART1_MIME}${PART1}\r\n--b1\r\nContent-Type: text/plain\r\n\r\n${newText}\r\n--b1\r\nContent-Type: message/rfc822\r\n\r\n${message(30)}\r\n--b1--\r\n`);
    const flags = await c.transact('ok', 'FETCH 2 FLAGS');
    expect(flags.untagged[0]!.raw).toMatch(/FLAGS \(\\Seen \\Draft \$MDNSent\)/);
    await c.close();
  });

  it('URLs relative to the selected mailbox, absolute imap:// URLs of this user, and PARTIAL', async () => {
    const { c, user } = await setup();
    await c.transact('ok', 'SELECT INBOX');
    const whole = message(30);
    const enc = encodeURIComponent(user);
    await c.transact('ok', `APPEND INBOX CATENATE (URL ";UID=1/;SECTION=TEXT" URL "/;UID=1/;PARTIAL=0.4" URL "imap://${enc}@mail.example.test/INBOX/;UID=1/;SECTION=HEADER.FIELDS%20(SUBJECT)/;PARTIAL=9.7")`);
    const body = whole.slice(whole.indexOf('\r\n\r\n') + 4);
    expect(await fetchWhole(c, 'INBOX', '2')).toBe(`${body}From${'message'}`);
    await c.close();
  });

  it('NO [BADURL] for another user, URLAUTH, a stale UIDVALIDITY, a missing message, mailbox or section; nothing is stored', async () => {
    const { c, draft } = await setup();
    const bad = [
      `imap://someone-else%40example.test@host/INBOX/;UID=1`,
      `/INBOX/;UID=1;URLAUTH=anonymous:internal:0123`,
      `/Drafts;UIDVALIDITY=${draft.uidValidity + 1}/;UID=${draft.uid}`,
      `/Drafts/;UID=${draft.uid + 5}`,
      `/Nowhere/;UID=1`,
      `/Drafts/;UID=${draft.uid}/;SECTION=9`,
      `/Drafts/;UID=0`,
      `http://example.org/`,
      `;UID=1`, // relative, nothing selected
    ];
    for (const url of bad) {
      const r = await c.transact('no', ['APPEND Drafts CATENATE (TEXT ', Buffer.from('Subject: x\r\n\r\n'), ` URL "${url}")`]);
      expect(r.tagged.code, url).toBe(`BADURL ${url}`);
    }
    expect((await c.transact('ok', 'STATUS Drafts (MESSAGES)')).untagged[0]!.raw).toMatch(/MESSAGES 1\)/);
    await c.close();
  });

  it('a result over APPENDLIMIT is NO [TOOBIG]; with MULTIAPPEND a failing CATENATE message undoes the others', async () => {
    const { c, draft } = await setup();
    const url = `URL "/Drafts/;UID=${draft.uid}"`;
    const many = Array.from({ length: Math.ceil(LIMIT / DRAFT.length) + 1 }, () => url).join(' ');
    const r = await c.transact('no', `APPEND INBOX CATENATE (${many})`);
    expect(r.tagged.code).toBe('TOOBIG');
    const r2 = await c.transact('no', ['APPEND INBOX ', Buffer.from(message(1)), ` CATENATE (URL "/Drafts/;UID=${draft.uid}") CATENATE (URL "/Drafts/;UID=99")`]);
    expect(r2.tagged.code).toBe(`BADURL /Drafts/;UID=99`);
    expect((await c.transact('ok', 'STATUS INBOX (MESSAGES)')).untagged[0]!.raw).toMatch(/MESSAGES 1\)/);
    const ok = await c.transact('ok', ['APPEND INBOX ', Buffer.from(message(1)), ` CATENATE (URL "/Drafts/;UID=${draft.uid}" TEXT `, Buffer.from('\r\n'), ')']);
    expect(ok.tagged.code).toMatch(/^APPENDUID \d+ \d+:\d+$/);
    expect(await fetchWhole(c, 'INBOX')).toBe(`${DRAFT}\r\n`);
    await c.close();
  });

  it('sizes: an empty result is refused; 1 KB of text and a 200 KB message by URL come through byte for byte', async () => {
    const { c, user } = await setup();
    const big = Buffer.concat([Buffer.from('Subject: big\r\n\r\n'), Buffer.alloc(200 * 1024, 'abcdefgh\r\n')]);
    await t.f.ctx.store.append(user, 'INBOX', { data: big });
    const empty = await c.transact('no', ['APPEND INBOX CATENATE (TEXT ', Buffer.alloc(0), ')']);
    expect(empty.tagged.code).toBe('CANNOT');
    const kb = Buffer.alloc(1024, 'x');
    await c.transact('ok', ['APPEND INBOX CATENATE (TEXT ', Buffer.from('Subject: kb\r\n\r\n'), ' TEXT ', kb, ' URL "/INBOX/;UID=2/;SECTION=TEXT")']);
    expect(await fetchWhole(c, 'INBOX')).toBe(`Subject: kb\r\n\r\n${kb.toString()}${big.subarray(16).toString('latin1')}`);
    await c.close();
  });

  it('a bad CATENATE part is BAD and the session goes on', async () => {
    const { c } = await setup();
    await c.transact('bad', 'APPEND INBOX CATENATE (FOO "x")');
    await c.transact('bad', 'APPEND INBOX CATENATE ()');
    await c.transact('ok', 'NOOP');
    await c.close();
  });
});
