// The tokeniser's output, pinned: the tokens of every message of the SpamAssassin corpus
// and of hand-made messages in other scripts and shapes, as a digest taken from the
// tokeniser the trained databases were built with. A change that alters one token of one
// message (and so, possibly, a score, or what an existing database's counts mean) fails
// here; a deliberate one updates the digests and says why.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { tokenHash } from '../../src/spam/db.js';
import { htmlToText } from '../../src/spam/html.js';
import { scan } from '../../src/spam/message.js';
import { prefixOf, TokenSet } from '../../src/spam/token-set.js';
import { addressParts, BIGRAM_SCRIPT, fieldText, isBigramScript, isSplit, SPLIT, words } from '../../src/spam/tokenize.js';
import { corpus } from './corpus.js';
import { crlf } from './env.js';
import { oracleWords } from './oracle-words.js';

const HOST = 'mx.ours.test';

function digest(messages: Buffer[]): { digest: string; tokens: number } {
  const h = createHash('sha256');
  let tokens = 0;
  for (const b of messages) {
    const t = [...scan(b, false, HOST).tokens].sort();
    tokens += t.length;
    h.update(t.join('\n')).update('\0');
  }
  return { digest: h.digest('hex'), tokens };
}

const b64 = (s: string, enc: BufferEncoding = 'utf8') => Buffer.from(s, enc).toString('base64').replace(/.{76}/g, '$&\r\n');

/** Messages in the shapes and scripts the corpus lacks. */
function handMade(): Buffer[] {
  const h = (subject: string, extra = '') =>
    `Received: from mx.ours.test by ${HOST}; Mon, 1 Jan 2024 00:00:00 +0000\r\nReturn-Path: <a@b.example>\r\n` +
    `Received: from relay.sender.example (relay.sender.example [203.0.113.7]) by mx.sender.example; Mon, 1 Jan 2024 00:00:00 +0000\r\n` +
    `From: "Ünïcode Nàme" <Sales.Team@Shop.Example.>\r\nTo: a@x.example, b@y.example, c@z.example\r\nReply-To: other@elsewhere.example\r\n` +
    `Message-ID: <abc.123@mailer.Shop.example>\r\nSubject: ${subject}\r\nX-Mailer: SuperMailer/3.1 (build 7)\r\nList-Id: <news.shop.example>\r\nPrecedence: bulk\r\n${extra}`;
  const mime = 'MIME-Version: 1.0\r\n';
  const texts = [
    '東京都の天気は晴れです。明日は雨が降るでしょう。日本語のテキスト',
    '한국어 텍스트입니다 서울의 날씨는 맑음',
    'ภาษาไทยไม่มีช่องว่างระหว่างคำ ทดสอบ',
    '中文mixed with English词语and数字123测试',
    'Ａｂｃ（全角）テスト、句読点。「かぎ」',
    'Größe STRASSE İstanbul ΣΊΣΥΦΟΣ Ǆungla ﬁnance ÉCOLE',
    'emoji 😀😀 test 𠀋𠀋 surrogate 𝔘𝔫𝔦',
    "(quoted) \"words\" [brackets] {braces} <angles> *stars* `ticks` |pipes| ~tilde~ end. comma, semi; colon: ''",
    'a ab abc abcd abcdefghijkl abcdefghijklm supercalifragilisticexpialidocious ' + 'x'.repeat(150),
    'Visit https://user:pw@Sub.Domain.Example.COM:8080/path?q=1 and http://192.0.2.4/x and ftp://[2001:db8::1]/f and HTTP://plain.example',
    'mail me at John.Doe+tag@Example.Org or x@y or @alone or trailing@ and weird@-.- too',
    'no\u00a0break\u2003em\u3000ideographic\u200bzero-width space',
    'tab\tseparated\r\nlines\nand\r\rcarriage returns',
    'URL inside word:https://inside.example/path and (https://paren.example)',
  ];
  const out: Buffer[] = [];
  for (const [i, text] of texts.entries()) {
    out.push(Buffer.from(`${h(`plain ${i} ${text.slice(0, 20)}!!`, `${mime}Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n`)}\r\n${text}\r\n`));
    out.push(Buffer.from(`${h(`=?UTF-8?B?${b64(text.slice(0, 30)).replace(/\r\n/g, '')}?= $$$`, `${mime}Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n`)}\r\n${b64(`<html><!-- c --><body><p>${text}</p><a href="https://link${i}.example/x">l</a><img src="http://img.example/i.png"></body></html>`)}\r\n`));
  }
  out.push(
    Buffer.from(
      `${h('multipart ???', mime)}Content-Type: multipart/mixed; boundary="mm"\r\n\r\n--mm\r\nContent-Type: multipart/alternative; boundary="aa"\r\n\r\n--aa\r\n` +
        `Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=E9 cr=E8me, soft=\r\nbreak and =3D signs\r\n` +
        `--aa\r\nContent-Type: text/html; charset=koi8-r\r\n\r\n<b>\xf0\xd2\xc9\xd7\xc5\xd4</b>\r\n--aa--\r\n` +
        `--mm\r\nContent-Type: application/pdf; name="invoice.PDF"\r\nContent-Disposition: attachment; filename="Invoice.PDF"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n` +
        `--mm\r\nContent-Type: text/plain; charset=shift_jis\r\nContent-Disposition: attachment; filename="notes.txt"\r\n\r\n\x93\xfa\x96\x7b\r\n` +
        `--mm\r\nContent-Type: message/rfc822\r\n\r\nFrom: inner@inner.example\r\nSubject: inner\r\n\r\ninner body words here\r\n--mm--\r\n`,
      'latin1',
    ),
  );
  out.push(Buffer.concat([Buffer.from(`${h('utf-16', mime)}Content-Type: text/plain; charset=utf-16le\r\n\r\n`), Buffer.from('UTF-16 text ü 日本', 'utf16le')]));
  out.push(Buffer.from(`From: nobody\r\nSubject: bare\r\n\r\nno mime at all, words only\r\n`));
  return out;
}

describe('tokens', () => {
  it('of the whole SpamAssassin corpus are those the classifier was trained with', () => {
    const msgs = [...corpus('train'), ...corpus('test')].map((m) => crlf(m.bytes));
    expect(digest(msgs)).toEqual({ digest: '4cec16660d1fda741dbc254f65cddeb215cd35e0a96830fae6829ca3c8614059', tokens: 1_083_683 });
  });

  it('of messages in other scripts, encodings and shapes are unchanged', () => {
    expect(digest(handMade())).toEqual({ digest: '916423ce1f027063367178eaa16548a5fc0f42cf14be73e2ef758b1440bbc7d3', tokens: 1627 });
  });
});

describe('the tokeniser’s character classes', () => {
  it('are the separators and bigram scripts of its patterns, for every UTF-16 code unit', () => {
    const split = new RegExp(`^${SPLIT.source}$`);
    const bigram = new RegExp(`^${BIGRAM_SCRIPT.source}$`);
    const wrong: string[] = [];
    for (let c = 0; c < 0x10000; c++) {
      const ch = String.fromCharCode(c);
      if (split.test(ch) !== isSplit(c)) wrong.push(`split U+${c.toString(16)}`);
      if (bigram.test(ch) !== isBigramScript(c)) wrong.push(`bigram U+${c.toString(16)}`);
    }
    expect(wrong).toEqual([]);
  });
});

/** A deterministic text of `size` characters: words of every length and case, punctuation, other scripts, links, addresses. */
function bigText(size: number): string {
  const vocab = ['Hello', 'WORLD', 'free!!', '(money)', '"quoted"', 'a', 'of', 'the', 'Größe', 'İstanbul', 'ΣΊΣΥΦΟΣ', '日本語のテキスト', 'ภาษาไทย', 'mixed中文words', 'supercalifragilistic', 'x'.repeat(40), 'https://Link.Example.com/p?q=1', 'User@Example.Org', 'end.', 'semi;', '*stars*', 'tab\there', 'ÉCOLE', '😀emoji', '\u00a0nbsp', 'ﬁnance'];
  const parts: string[] = [];
  let n = 0;
  let x = 12345;
  while (n < size) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const w = vocab[x % vocab.length]! + (x % 7 === 0 ? String(x % 1000) : '');
    parts.push(w, x % 11 === 0 ? '\r\n' : ' ');
    n += w.length + 1;
  }
  return parts.join('').slice(0, size);
}

/** Messages of every size class: empty, 1 KB, other scripts and encodings (base64, quoted-printable, HTML), the corpus, 5 MB. */
function sized(): Buffer[] {
  const kb = Buffer.from(`From: "Some Body" <some@body.example>\r\nSubject: One KB\r\n\r\n${bigText(1000)}\r\n`);
  const big = Buffer.from(`From: big@big.example\r\nSubject: Five MB\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${bigText(5 * 1024 * 1024)}\r\n`);
  const bigB64 = Buffer.from(`From: big@big.example\r\nSubject: base64\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64(`<p>${bigText(300_000)}</p>`)}\r\n`);
  return [Buffer.alloc(0), kb, ...handMade(), ...corpus('test').map((m) => crlf(m.bytes)), big, bigB64];
}

describe('tokens hashed where they lie', () => {
  it('are the old tokeniser’s words in its order, and hash as their strings do, for messages of every size', () => {
    const wrong: string[] = [];
    let checked = 0;
    for (const [n, b] of sized().entries()) {
      const m = scan(b, false, HOST);
      const t = m.tokens;
      for (let i = 0; i < t.size; i++) if (t.hash(i) !== tokenHash(t.token(i))) wrong.push(`message ${n}: hash of ${t.token(i)}`);
      // What words() reads: the text parts, the visible text of HTML, the subject and the From name.
      const subject = m.fields.find((f) => f.name.toLowerCase() === 'subject');
      const from = m.fields.find((f) => f.name.toLowerCase() === 'from');
      const texts: Array<[string, string]> = [...m.text.plain.map((x): [string, string] => [x, '']), ...m.text.html.map((x): [string, string] => [htmlToText(x).text, ''])];
      if (subject) texts.push([fieldText(subject.value), 'subject:']);
      const name = from && addressParts(fieldText(from.value)).name;
      if (name) texts.push([name, 'from:name:']);
      for (const [text, prefix] of texts) {
        const set = new TokenSet();
        words(text, prefixOf(prefix), set);
        const expected = oracleWords(text, prefix);
        checked += expected.length;
        if ([...set].join('\n') !== expected.join('\n')) wrong.push(`message ${n}: words of a ${text.length}-character text`);
        for (let i = 0; i < set.size; i++) if (set.hash(i) !== tokenHash(expected[i] ?? '')) wrong.push(`message ${n}: hash of ${expected[i]}`);
      }
    }
    expect(wrong.slice(0, 10)).toEqual([]);
    expect(checked).toBeGreaterThan(400_000);
  });

  it('spans beyond what two packed numbers hold (long words, many prefixes) keep their strings, hashes and order', () => {
    const set = new TokenSet();
    const text = 'A Word Of TwentyTwo Chars: ThisIsAVeryLongWordIndeed, short';
    set.addSpan(text, 0, text.length, prefixOf('body:'));
    set.addSpan(text, text.indexOf('ThisIs'), text.indexOf(','), prefixOf(''));
    for (let p = 0; p < 300; p++) set.addSpan(text, text.indexOf('short'), text.length, prefixOf(`p${p}:`));
    set.add('b-string');
    const expected = ['body:a word of twentytwo chars: thisisaverylongwordindeed, short', 'thisisaverylongwordindeed', ...Array.from({ length: 300 }, (_, p) => `p${p}:short`), 'b-string'];
    expect([...set]).toEqual(expected);
    for (let i = 0; i < set.size; i++) expect(set.hash(i)).toBe(tokenHash(expected[i]!));
    const fresh = new TokenSet();
    for (let p = 298; p < 300; p++) fresh.addSpan(text, text.indexOf('short'), text.length, prefixOf(`p${p}:`));
    fresh.add('p298:shore');
    expect([0, 1, 2].sort((i, j) => fresh.compare(i, j)).map((i) => fresh.token(i))).toEqual(['p298:shore', 'p298:short', 'p299:short']);
  });

  it('compare and look up by their strings without making them', () => {
    const set = new TokenSet();
    const text = 'Zebra apple APPLE Apples zebra2 mango';
    words(text, prefixOf(''), set);
    set.add('apple:x');
    set.add('banana');
    const order = [...Array(set.size).keys()].sort((i, j) => set.compare(i, j)).map((i) => set.token(i));
    expect(order).toEqual([...set].sort());
    expect(set.has('apples')).toBe(true);
    expect(set.has('Apples')).toBe(false);
    expect(set.has('zebra2')).toBe(true);
    expect(set.size).toBe(7);
  });
});
