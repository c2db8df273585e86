// Port 25 for accounts whose classifier is not trained (nor the shared base): Bayes is not
// used then, so the message is not tokenised, and not even decoded when GTUBE can be
// looked for in its raw bytes; GTUBE is still found in every part and encoding the
// decoded check finds it in (base64, quoted-printable split by a soft line break, UTF-16,
// an ISO-2022-JP escape sequence inside it, an HTML alternative, a 330 KB message). Once
// the account (or the base) is trained, messages are tokenised and scored again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maildirFolder } from '../helpers/maildir.js';
import type { TestServer } from '../helpers/servers.js';
import { corpus } from './corpus.js';
import { crlf, imap, PW, seedBase, send, smtp, spamServer } from './env.js';

const GTUBE = 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X';
const MIN_TRAINED = 3;
const U = 'untrained@example.test';
const K = 'base-only@example.test';

const head = (to: string, subject: string, extra = '') => `From: someone@remote.example\r\nTo: ${to}\r\nSubject: ${subject}\r\n${extra}`;
const b64 = (s: Buffer | string) => (Buffer.isBuffer(s) ? s : Buffer.from(s)).toString('base64').replace(/.{76}/g, '$&\r\n');

/** GTUBE where the raw bytes do not show it, but the decoded text part does. */
function hidden(to: string): Array<{ name: string; raw: Buffer }> {
  const mime = 'MIME-Version: 1.0\r\n';
  const qp = `${GTUBE.slice(0, 20)}=\r\n${GTUBE.slice(20, 40).replace(/\*/g, '=2A')}=\r\n${GTUBE.slice(40)}`;
  const jis = Buffer.concat([Buffer.from(GTUBE.slice(0, 30)), Buffer.from([0x1b, 0x28, 0x42]), Buffer.from(`${GTUBE.slice(30)}\r\n`)]);
  const big = Buffer.from(`Hello\r\n${'filler text of an ordinary long message\r\n'.repeat(6000)}${GTUBE}\r\n`);
  return [
    { name: 'base64', raw: Buffer.from(`${head(to, 'b64', mime)}Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64(`Hi\r\n${GTUBE}\r\n`)}\r\n`) },
    { name: 'quoted-printable', raw: Buffer.from(`${head(to, 'qp', mime)}Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n${qp}\r\n`) },
    { name: 'utf-16le', raw: Buffer.concat([Buffer.from(`${head(to, 'utf16', mime)}Content-Type: text/plain; charset=utf-16le\r\nContent-Transfer-Encoding: 8bit\r\n\r\n`), Buffer.from(GTUBE, 'utf16le'), Buffer.from('\r\n')]) },
    { name: 'iso-2022-jp', raw: Buffer.concat([Buffer.from(`${head(to, 'jis', mime)}Content-Type: text/plain; charset=iso-2022-jp\r\n\r\n`), jis]) },
    {
      name: 'html alternative, base64',
      raw: Buffer.from(
        `${head(to, 'alt', mime)}Content-Type: multipart/alternative; boundary="b1"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nSee the HTML part.\r\n` +
          `--b1\r\nContent-Type: text/html; charset=windows-1252\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64(`<p>${GTUBE}</p>`)}\r\n--b1--\r\n`,
      ),
    },
    { name: '330 KB, base64', raw: Buffer.from(`${head(to, 'big', mime)}Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64(big)}\r\n`) },
  ];
}

let t: TestServer;

beforeAll(async () => {
  t = await spamServer((c) => {
    c.spam.minTrained = MIN_TRAINED;
  });
  await t.addAccount(U, PW);
  await t.addAccount(K, PW);
});
afterAll(() => t?.close());

describe('an untrained classifier on port 25', () => {
  it('reads only the header of plain mail (single part, 7bit/8bit, ASCII-compatible charset), of every size', async () => {
    const before = { ...t.ctx.spam!.scans };
    const tr = smtp(t);
    try {
      for (const [i, body] of ['Lunch on Thursday?\r\n', `${'x'.repeat(76)}\r\n`.repeat(8000), 'Caf\xe9 cr\xe8me \xe0 9h\r\n'].entries()) {
        const charset = i === 2 ? 'Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\nMIME-Version: 1.0\r\n' : '';
        expect((await send(tr, U, Buffer.from(`${head(U, `plain ${i}`, charset)}\r\n${body}`, 'latin1'))).code).toBe(250);
      }
    } finally {
      tr.close();
    }
    expect(t.ctx.spam!.scans).toEqual({ ...before, header: before.header + 3 });
    const inbox = maildirFolder(t.dataRoot, U, '', 'latin1').filter((m) => /^Subject: plain /m.test(m.text));
    expect(inbox).toHaveLength(3);
    for (const m of inbox) {
      expect(m.text).toMatch(/^X-Spam-Status: No, score=0\.500 required=0\.900\r\n\ttests=none\r\n/m);
      expect(m.text).toMatch(/^X-Spam-Reasons: bayes not used: trained 0 ham, 0 spam \(needs 3 of each\)/m);
    }
  });

  it('GTUBE in the raw bytes: refused at end of DATA without decoding', async () => {
    const before = { ...t.ctx.spam!.scans };
    const tr = smtp(t);
    try {
      const r = await send(tr, U, Buffer.from(`${head(U, 'raw')}\r\nThis is the GTUBE:\r\n${GTUBE}\r\n`));
      expect(r.code).toBe(550);
      expect(r.response).toMatch(/GTUBE test string/);
    } finally {
      tr.close();
    }
    expect(t.ctx.spam!.scans).toEqual({ ...before, header: before.header + 1 });
  });

  it('GTUBE only in a decoded part: decoded (not tokenised) and refused, in every encoding', async () => {
    const tr = smtp(t);
    try {
      for (const m of hidden(U)) {
        expect(m.raw.includes(GTUBE), m.name).toBe(false);
        const before = { ...t.ctx.spam!.scans };
        const r = await send(tr, U, m.raw);
        expect(r.code, m.name).toBe(550);
        expect(r.response, m.name).toMatch(/GTUBE test string/);
        expect(t.ctx.spam!.scans, m.name).toEqual({ ...before, decoded: before.decoded + 1 });
      }
      // The same shapes without GTUBE are delivered.
      const clean = Buffer.from(`${head(U, 'clean b64', 'MIME-Version: 1.0\r\n')}Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64('XJS*C4JDBQADN1.NSBN3 is not it\r\n')}\r\n`);
      expect((await send(tr, U, clean)).code).toBe(250);
    } finally {
      tr.close();
    }
    expect(t.ctx.spam!.scans.tokenised).toBe(0);
  });

  it('once trained (through IMAP moves), messages are tokenised and scored by Bayes', async () => {
    const train = corpus('train', MIN_TRAINED);
    const deliver = async (m: { bytes: Buffer }, mailbox: string) => (await t.ctx.store.deliver([{ account: U, mailbox }], { data: crlf(m.bytes) }))[0]!.uid;
    const ham: number[] = [];
    for (const m of train.filter((x) => !x.spam)) ham.push(await deliver(m, 'Junk'));
    const spam: number[] = [];
    for (const m of train.filter((x) => x.spam)) spam.push(await deliver(m, 'INBOX'));
    const c = imap(t, U);
    await c.connect();
    try {
      await c.mailboxOpen('Junk');
      await c.messageMove(ham.join(','), 'INBOX', { uid: true });
      await c.mailboxOpen('INBOX');
      await c.messageMove(spam.join(','), 'Junk', { uid: true });
    } finally {
      await c.logout();
    }
    await t.ctx.spam!.idle();
    expect(t.ctx.spam!.classifiers.totals(U)).toEqual({ nham: MIN_TRAINED, nspam: MIN_TRAINED });

    const before = { ...t.ctx.spam!.scans };
    const tr = smtp(t);
    try {
      expect((await send(tr, U, Buffer.from(`${head(U, 'after training')}\r\nLunch on Thursday?\r\n`))).code).toBe(250);
    } finally {
      tr.close();
    }
    expect(t.ctx.spam!.scans).toEqual({ ...before, tokenised: before.tokenised + 1 });
    const m = maildirFolder(t.dataRoot, U, '', 'latin1').find((x) => x.text.includes('Subject: after training\r\n'));
    expect(m?.text).toMatch(/^X-Spam-Reasons: bayes \d\.\d{3} \(trained 3 ham, 3 spam\)/m);
  });
});

describe('an untrained account with a trained shared base', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await spamServer((c) => {
      c.spam.minTrained = MIN_TRAINED;
    });
    await s.addAccount(K, PW);
    // Seeded as `mailserver spam train --spam DIR --ham DIR` without an account does, before the first message.
    seedBase(s.dataRoot, MIN_TRAINED);
  });
  afterAll(() => s?.close());

  it('tokenises and scores with the base', async () => {
    const tr = smtp(s);
    try {
      expect((await send(tr, K, Buffer.from(`${head(K, 'base trained')}\r\nLunch on Thursday?\r\n`))).code).toBe(250);
    } finally {
      tr.close();
    }
    expect(s.ctx.spam!.scans).toEqual({ header: 0, decoded: 0, tokenised: 1 });
    const m = maildirFolder(s.dataRoot, K, '', 'latin1').find((x) => x.text.includes('Subject: base trained\r\n'));
    expect(m?.text).toMatch(/^X-Spam-Reasons: bayes \d\.\d{3} \(trained 3 ham, 3 spam\)/m);
  });
});
