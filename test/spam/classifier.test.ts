// The classifier's parts on real messages: the SpamAssassin corpus and messages in the
// charsets people actually send (ISO-2022-JP, GB2312, KOI8-R, UTF-8 Thai), built with
// Python's email package (test/fixtures/spam).
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chi2Q, classify, combine, tokenProb } from '../../src/spam/bayes.js';
import { Classifiers } from '../../src/spam/classifier.js';
import { SpamDb, tokenHash, VERSION_CHECK_MS } from '../../src/spam/db.js';
import { htmlToText } from '../../src/spam/html.js';
import { recipientsOf, scan } from '../../src/spam/message.js';
import { TokenSet } from '../../src/spam/token-set.js';
import { trainMessage } from '../../src/spam/train.js';
import { corpus, rates } from './corpus.js';

const fixture = (n: string) => readFileSync(path.join(import.meta.dirname, '../fixtures/spam', n));
/** Past the time within which another connection's commits are noticed (data_version is read at most that often). */
const afterVersionCheck = () => new Promise((r) => setTimeout(r, VERSION_CHECK_MS + 5));
const tokensOf = (b: Buffer | string) => scan(Buffer.from(b), false, 'mx.ours.test').tokens;

describe('tokenizer', () => {
  it('Japanese in ISO-2022-JP: subject and body decoded to character bigrams', () => {
    const t = tokensOf(fixture('ja-iso2022jp.eml'));
    for (const bg of ['会議', '議の', '資料', 'subject:会議', 'subject:資料', '確認']) expect(t).toContain(bg);
    expect(t).toContain('from:name:山田'); // an encoded-word display name
    expect(t).toContain('charset:iso-2022-jp');
  });

  it('Chinese GB2312 in quoted-printable text and HTML; Thai in base64 UTF-8; Russian KOI8-R words', () => {
    const zh = tokensOf(fixture('zh-gb2312.eml'));
    expect(zh).toContain('发票');
    expect(zh).toContain('免费');
    expect(zh).toContain('点击');
    expect(zh).toContain('url:promo.example.cn');
    expect(zh).toContain('html:a');
    const th = tokensOf(fixture('th-utf8.eml'));
    expect(th).toContain('สว'); // code point bigrams (Thai vowel marks are code points of their own)
    expect(th).toContain('ขอ');
    expect(th).toContain('subject:ยื');
    const ru = tokensOf(fixture('ru-koi8r.eml'));
    expect(ru).toContain('отправляю');
    expect(ru).toContain('skip:з 10'); // "здравствуйте!": 13 characters
    expect(ru).toContain('квартал');
    expect(ru).toContain('subject:отчёт');
  });

  it('a real HTML spam: words from the body, not from <style>; links; tags; long words as skip tokens', () => {
    const spam = corpus('test').find((m) => m.name.startsWith('spam-2/00905.'))!;
    const t = tokensOf(spam.bytes);
    expect(t).toContain('birthday');
    expect(t).toContain('anniversary');
    expect(t).toContain('url:www.cardsinadvance.com');
    expect(t).toContain('url:cardsinadvance.com');
    expect(t).toContain('html:table');
    expect(t).toContain('html:only');
    expect(t).not.toContain('scrollbar-face-color:'); // CSS inside <style>
    expect([...tokensOf('Subject: x\r\n\r\nsupercalifragilisticexpialidocious\r\n')]).toContain('skip:s 30');
  });

  it('our own trace fields are skipped: the same tokens before delivery and as stored', () => {
    const raw = corpus('test', 3)[1]!.bytes;
    const stored = Buffer.concat([
      Buffer.from(
        'Return-Path: <a@b.test>\r\nReceived-SPF: pass (x) client-ip=192.0.2.1;\r\n' +
          'Authentication-Results: mx.ours.test;\r\n spf=pass smtp.mailfrom=a@b.test\r\n' +
          'X-Spam-Status: Yes, score=1.000 required=0.900\r\n\ttests=GTUBE\r\nX-Spam-Score: 1.000\r\n' +
          'Received: from c.test (c.test [192.0.2.1])\r\n\tby mx.ours.test with ESMTP id X;\r\n\tMon, 1 Jul 2024 00:00:00 +0000\r\n',
      ),
      raw,
    ]);
    expect([...tokensOf(stored)].sort()).toEqual([...tokensOf(raw)].sort());
  });

  it('hostile HTML (unclosed comments and tags, 2 MB) is read in one pass', () => {
    const evil = '<!--'.repeat(200_000) + '<a href="'.repeat(100_000) + 'x';
    const h = htmlToText(evil);
    expect(h.comments).toBe(true);
    expect(h.text).toBe('');
    const tags = htmlToText('<p>one</p><style>p{}</style>two<script>var x="<p>";</script><B>three</B>');
    expect(tags.text.split(/\s+/).filter(Boolean)).toEqual(['one', 'two', 'three']);
  });
});

describe('HTML read where it lies', () => {
  it('tag names, URLs (only from the first 4 KB of a tag), raw text elements and block breaks', () => {
    const far = `<img alt="${'x'.repeat(5000)}" src="http://far.example/">`;
    const h = htmlToText(
      `<>< / ><HTML><Body BGCOLOR=white><A HREF='http://one.example/a'>x</A>y<b>z</b><br/>` +
        `<SCRIPT src=http://two.example/s.js>var a = "<p>";</SCRIPT><h1>t&amp;t</h1><averyveryverylongtag>w</averyveryverylongtag>${far}<td background="bg.gif">`,
    );
    expect(h.tags).toEqual(['html', 'body', 'a', 'b', 'br', 'script', 'h1', 'averyveryver', 'img', 'td']);
    expect(h.urls).toEqual(['http://one.example/a', 'http://two.example/s.js', 'bg.gif']);
    // As the implementation that sliced every tag gave it ("<>" and "< / >" are tags without a name).
    expect(h.text).toBe(' \n  \n xyz \n   \n t&t \n w \n  \n ');
    expect(h.comments).toBe(false);
  });
});

describe('hostile messages', () => {
  it('megabyte header fields without "@", thousands of "@", a 180 KB tag of unclosed attributes: read in bounded time', () => {
    const long = 'a'.repeat(1_000_000);
    const head = `From: ${long}\r\nTo: ${'x@'.repeat(200_000)}\r\nCc: ${long}\r\nMessage-ID: <${'@a'.repeat(100_000)} x\r\nSubject: ${'word '.repeat(100_000)}\r\n`;
    const html = `<a ${'href="'.repeat(30_000)}>`;
    const msg = Buffer.from(`${head}Content-Type: text/html\r\n\r\n${html}${'x@b.example '.repeat(50_000)}\r\n`);
    const started = Date.now();
    const m = scan(msg, false, 'mx.ours.test');
    expect(m.tokens.size).toBeGreaterThan(5);
    expect(m.tokens).toContain('email:b.example');
    expect(recipientsOf(m.text.fields).length).toBeLessThanOrEqual(50);
    // Linear work: well under the test's timeout even on a busy machine.
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});

describe('Robinson/Fisher arithmetic', () => {
  it('chi2Q and combining as SpamBayes computes them', () => {
    // P(chi² ≥ 2) with 2 degrees of freedom = e^-1
    expect(chi2Q(2, 2)).toBeCloseTo(Math.exp(-1), 12);
    expect(chi2Q(0, 10)).toBe(1);
    expect(combine([])).toBe(0.5);
    expect(combine([0.99, 0.99, 0.99])).toBeGreaterThan(0.99);
    expect(combine([0.01, 0.01, 0.01])).toBeLessThan(0.01);
    // Strong evidence both ways: unsure.
    expect(combine([0.99, 0.99, 0.01, 0.01])).toBeCloseTo(0.5, 6);
    // Robinson: one sighting is weak, balanced by class sizes.
    expect(tokenProb({ ham: 0, spam: 1 }, { nham: 100, nspam: 100 })).toBeCloseTo((0.45 * 0.5 + 1) / 1.45, 12);
    expect(tokenProb({ ham: 10, spam: 10 }, { nham: 1000, nspam: 10 })).toBeGreaterThan(0.9);
  });

  it('keeps at most 150 clues, strongest first, ignoring those near 0.5', () => {
    const tokens: Array<[string, { ham: number; spam: number }]> = [];
    for (let i = 0; i < 300; i++) tokens.push([`s${i}`, { ham: 0, spam: 1 + (i % 5) }]);
    tokens.push(['neutral', { ham: 5, spam: 5 }]);
    const c = classify(tokens, { nham: 10, nspam: 10 });
    expect(c.clues).toHaveLength(150);
    expect(c.clues.map((x) => x.token)).not.toContain('neutral');
    expect(c.clues[0]!.p).toBeGreaterThanOrEqual(c.clues[149]!.p);
    expect(c.score).toBeGreaterThan(0.99);
  });
});

describe('per-account database and training', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(path.join(tmpdir(), 'spam-db-'));
    mkdirSync(path.join(root, 'maildir', 'example.test', 'u'), { recursive: true });
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('trains, untrains the old verdict when it changes, and trains a message once', () => {
    const c = new Classifiers(root);
    const m = scan(corpus('train', 2)[1]!.bytes, false, 'mx.ours.test');
    const o = { how: 'moved to Junk', implicit: false, hostname: 'mx.ours.test', implicitPerDay: 5 };
    expect(trainMessage(c, 'u@example.test', m, 'spam', o)).toBe('trained');
    expect(trainMessage(c, 'u@example.test', m, 'spam', o)).toBe('same');
    expect(c.totals('u@example.test')).toEqual({ nham: 0, nspam: 1 });
    const db = c.handle('u@example.test')!.db;
    const some = tokenHash([...m.tokens][0]!);
    expect(db.lookup([some]).get(some)).toEqual({ ham: 0, spam: 1 });
    // Out of Junk: ham now, the spam counts taken back.
    expect(trainMessage(c, 'u@example.test', m, 'ham', { ...o, how: 'moved out of Junk' })).toBe('retrained');
    expect(c.totals('u@example.test')).toEqual({ nham: 1, nspam: 0 });
    expect(db.lookup([some]).get(some)).toEqual({ ham: 1, spam: 0 });
    // Implicit ham never overrides a verdict the user gave.
    expect(trainMessage(c, 'u@example.test', m, 'ham', { ...o, implicit: true, how: 'replied to' })).toBe('skipped');
    expect(db.judgements(10).map((j) => [j.user, j.how])).toEqual([
      ['ham', 'moved out of Junk'],
      ['spam', 'moved to Junk'],
    ]);
    c.close();
  });

  it('implicit ham is bounded per day', () => {
    const c = new Classifiers(root);
    const msgs = corpus('train', 8).filter((x) => !x.spam);
    const o = { how: 'kept in INBOX', implicit: true, hostname: 'mx.ours.test', implicitPerDay: 3 };
    const outcomes = msgs.map((x) => trainMessage(c, 'u@example.test', scan(x.bytes, false, 'mx.ours.test'), 'ham', o));
    expect(outcomes.filter((x) => x === 'trained')).toHaveLength(3);
    expect(outcomes.slice(3).every((x) => x === 'skipped')).toBe(true);
    c.close();
  });

  it('a removed account gets no database re-created; another connection’s training is seen', async () => {
    const c = new Classifiers(root);
    expect(c.handle('gone@example.test', true)).toBeUndefined();
    const other = new SpamDb(path.join(root, 'maildir', 'example.test', 'u', 'spam.sqlite'));
    const before = c.score('u@example.test', new Set(['zzz-new-token'])).totals;
    other.db.transaction(() => other.addTokens([tokenHash('zzz-new-token')], 'spam', 1))();
    await afterVersionCheck();
    const after = c.score('u@example.test', new Set(['zzz-new-token']));
    expect(after.totals.nspam).toBe(before.nspam + 1);
    other.close();
    c.close();
  });

  it('counts read whole into memory follow training here and by another connection', async () => {
    mkdirSync(path.join(root, 'maildir', 'example.test', 'whole'), { recursive: true });
    const acct = 'whole@example.test';
    const c = new Classifiers(root);
    const o = { how: 'moved to Junk', implicit: false, hostname: 'mx.ours.test', implicitPerDay: 0 };
    const m = scan(corpus('train', 2)[1]!.bytes, false, 'mx.ours.test');
    const tok = [...m.tokens][0]!;
    const clue = (t: string) => c.score(acct, new Set([t])).clues[0];
    trainMessage(c, acct, m, 'spam', o);
    expect(clue(tok)).toMatchObject({ ham: 0, spam: 1 });
    expect(c.handle(acct)!.complete).toBe(true);
    // In memory, a token not there is one never trained: no query tells otherwise.
    expect(clue('never-trained-token')).toBeUndefined();
    trainMessage(c, acct, m, 'ham', { ...o, how: 'moved out of Junk' });
    expect(clue(tok)).toMatchObject({ ham: 1, spam: 0 });
    const other = new SpamDb(path.join(root, 'maildir', 'example.test', 'whole', 'spam.sqlite'));
    other.db.transaction(() => other.addTokens([tokenHash('never-trained-token')], 'spam', 1))();
    other.close();
    await afterVersionCheck();
    expect(clue('never-trained-token')).toMatchObject({ ham: 0, spam: 1 });
    expect(c.handle(acct)!.complete).toBe(true);
    c.close();
  });

  it('reputation rows kept in memory follow training here and by another connection', async () => {
    mkdirSync(path.join(root, 'maildir', 'example.test', 'rep'), { recursive: true });
    const acct = 'rep@example.test';
    const c = new Classifiers(root);
    const keys: Array<[string, string]> = [['ip', '192.0.2']];
    const t = TokenSet.of(['some-token']);
    const row = () => c.assess(acct, () => t, keys).reputation[0];
    c.update(acct, (db) => db.addReputation(keys, 'spam', 1, Date.now()));
    expect(row()).toMatchObject({ ham: 0, spam: 1 });
    expect(row()).toMatchObject({ ham: 0, spam: 1 }); // from memory now
    c.update(acct, (db) => db.addReputation(keys, 'ham', 1, Date.now()));
    expect(row()).toMatchObject({ ham: 1, spam: 1 });
    const other = new SpamDb(path.join(root, 'maildir', 'example.test', 'rep', 'spam.sqlite'));
    other.db.transaction(() => other.addReputation(keys, 'ham', 1, Date.now()))();
    other.close();
    await afterVersionCheck();
    expect(row()).toMatchObject({ ham: 2, spam: 1 });
    // A sender never seen has no row, and that too is remembered until a change.
    expect(c.assess(acct, () => t, [['ip', '198.51.100']]).reputation).toEqual([]);
    c.update(acct, (db) => db.addReputation([['ip', '198.51.100']], 'spam', 1, Date.now()));
    expect(c.assess(acct, () => t, [['ip', '198.51.100']]).reputation[0]).toMatchObject({ spam: 1 });
    c.close();
  });

  it('trained on 200 + 200 corpus messages, it files ≥ 85 % of 150 unseen spam and ≤ 2 % of 150 ham', () => {
    mkdirSync(path.join(root, 'maildir', 'example.test', 'small'), { recursive: true });
    const c = new Classifiers(root);
    const o = { how: 'imported', implicit: false, hostname: 'mx.ours.test', implicitPerDay: 0 };
    for (const x of corpus('train', 200)) trainMessage(c, 'small@example.test', scan(x.bytes, false, 'mx.ours.test'), x.spam ? 'spam' : 'ham', o);
    const results = corpus('test', 150).map((x) => ({ spam: x.spam, junk: c.score('small@example.test', scan(x.bytes, false, 'mx.ours.test').tokens).score >= 0.9 }));
    const r = rates(results);
    expect(r.recall).toBeGreaterThanOrEqual(85);
    expect(r.hamInJunk).toBeLessThanOrEqual(2);
    c.close();
  });
});
