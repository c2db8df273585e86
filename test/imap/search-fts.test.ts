// SEARCH BODY / TEXT / SUBJECT / FROM / HEADER from the full-text index (issue 16 item 3),
// asked by python3 imaplib over real sockets: the answers of a server with the index
// equal those of one that reads every message (RFC 9051 §6.4.4 substring semantics),
// over messages of 0 bytes of body, 1 KB and 5 MB, encoded words, base64 and
// quoted-printable; and a costly SEARCH does not hold up a second client.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { needs, peer } from '../helpers/peers.js';
import { message, startImapFixture, USER, PASS, type ImapFixture } from './fixture.js';

const run = promisify(execFile);
let indexed: ImapFixture;
let reading: ImapFixture;
/** Every fill in the worker thread (src/store/maildir/fts-worker.ts). */
let worker: ImapFixture;

const B64 = Buffer.from('Der Bär schläft im Winterquartier\r\n').toString('base64');
const MESSAGES = [
  'Subject: empty body\r\nFrom: z@example.org\r\n\r\n',
  message(1, { subject: '=?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=', from: '=?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <jm@example.org>', body: 'k'.repeat(1024) + ' kilobyte' }),
  message(2, { body: 'x' }).replace('Message-ID', `MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\nMessage-ID`).replace('\r\n\r\nx\r\n', `\r\n\r\n${B64}\r\n`),
  message(3, { body: 'Ein Wort: Donaudampfschiff=\r\nfahrtsgesellschaft und K=E4se' }).replace('Message-ID', 'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\nX-Ticket: T-4711\r\nMessage-ID'),
  message(4, { body: 'lorem ipsum '.repeat(440_000) + 'needle at the end of five megabytes' }),
  message(5, { subject: 'Re: ok', body: 'short ok body' }),
];

const SEARCHES = [
  ['BODY', 'kilobyte'],
  ['SUBJECT', '"grüße aus köln"'],
  ['FROM', 'jürgen'],
  ['FROM', '"jm@example"'],
  ['BODY', '"bär schläft"'],
  ['BODY', 'Donaudampfschifffahrtsgesellschaft'],
  ['BODY', 'käse'],
  ['TEXT', 'T-4711'],
  ['HEADER', 'X-Ticket', '4711'],
  ['HEADER', 'X-Ticket', '""'],
  ['BODY', 'ok'],
  ['TEXT', 'ok'],
  ['SUBJECT', 'ok'],
  ['BODY', '"end of five"'],
  ['TEXT', '"empty body"'],
  ['NOT', 'BODY', 'lorem'],
  ['OR', 'BODY', 'käse', 'SUBJECT', 'ok'],
  ['BODY', 'nowhere-at-all'],
];

const PY = String.raw`
import imaplib, json, sys
port, user, pw, searches = int(sys.argv[1]), sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
M = imaplib.IMAP4('127.0.0.1', port)
M.login(user, pw)
M.select('INBOX')
out = []
for s in searches:
    typ, data = M.uid('SEARCH', 'CHARSET', 'UTF-8', *[x.encode() for x in s])
    out.append(data[0].decode())
M.logout()
print(json.dumps(out))
`;

async function ask(f: ImapFixture): Promise<string[]> {
  const { stdout } = await run(peer('python3'), ['-c', PY, String(f.port), USER, PASS, JSON.stringify(SEARCHES)], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout) as string[];
}

beforeAll(async () => {
  indexed = await startImapFixture();
  reading = await startImapFixture({ fts: false });
  worker = await startImapFixture({ ftsWorker: { min: 1 } });
  for (const m of MESSAGES) {
    await indexed.deliver(USER, m);
    await reading.deliver(USER, m);
    await worker.deliver(USER, m);
  }
}, 60_000);
afterAll(async () => {
  await indexed?.close();
  await reading?.close();
  await worker?.close();
});

describe('SEARCH from the full-text index (python3 imaplib)', needs('python3'), () => {
  it('answers as reading every message does, before and after the background fill', async () => {
    const want = await ask(reading);
    expect(want).toEqual(['2', '2', '2', '2', '3', '4', '4', '4', '4', '4', '6', '6', '6', '5', '1', '1 2 3 4 6', '4 6', '']);
    expect(await ask(indexed)).toEqual(want);
    await (indexed.ctx.store as { ftsIdle?: () => Promise<void> }).ftsIdle?.();
    expect(await ask(indexed)).toEqual(want);
  }, 60_000);

  it('answers the same when the fill runs in its worker thread', async () => {
    const want = await ask(reading);
    expect(await ask(worker)).toEqual(want);
    await (worker.ctx.store as { ftsIdle?: () => Promise<void> }).ftsIdle?.();
    expect(await ask(worker)).toEqual(want);
  }, 60_000);

  it('keeps a second client answered while a costly SEARCH runs', async () => {
    for (let i = 0; i < 1500; i++) await indexed.deliver(USER, message(100 + i, { body: `common words everywhere ${i}` }));
    const a = await indexed.client();
    const b = await indexed.client();
    await a.transact('ok', 'SELECT INBOX');
    const events: string[] = [];
    // The first content search indexes the 1 500 new messages, then checks a 1-letter needle against all.
    const costly = a.transact('ok', 'SEARCH TEXT "e"').then((r) => (events.push('search'), r));
    while (!events.includes('search')) {
      await b.transact('ok', 'NOOP');
      events.push('noop');
    }
    const r = await costly;
    expect(r.untagged.find((u) => u.type === 'SEARCH')!.values.length).toBeGreaterThan(1500);
    expect(events.indexOf('noop')).toBeLessThan(events.indexOf('search'));
  }, 120_000);
});
