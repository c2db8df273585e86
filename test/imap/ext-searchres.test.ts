// SEARCHRES (RFC 5182) beyond the transcript (test/transcripts/imap/searchres.txt):
// the pipelined example of §2.1 on the Maildir store (SEARCH, COPY and EXPUNGE sent
// together run in order), and python imaplib passing "$" to FETCH and STORE.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { needs, peer } from '../helpers/peers.js';
import { message, startImapFixture, type ImapFixture } from './fixture.js';

const run = promisify(execFile);
let f: ImapFixture;
let n = 0;
beforeAll(async () => {
  f = await startImapFixture();
});
afterAll(async () => {
  await f.close();
});

async function account(messages: number): Promise<string> {
  const user = `sr${++n}@example.test`;
  await f.addAccount(user, 'pw');
  for (let i = 1; i <= messages; i++) await f.deliver(user, message(i, { to: user, from: i % 2 ? 'Smith <smith@example.org>' : undefined }));
  return user;
}

describe('SEARCHRES', () => {
  it('the pipelined example of RFC 5182 §2.1: UID SEARCH RETURN (SAVE), UID COPY $, UID EXPUNGE $ in one write', async () => {
    const user = await account(8);
    const c = await f.client(user, 'pw');
    await c.transact('ok', 'CREATE "Other Messages"');
    await c.transact('ok', 'SELECT INBOX');
    await c.transact('ok', 'UID STORE 1:* +FLAGS.SILENT (\\Deleted)');
    // An empty "$" on the index-backed search: nothing, no error.
    expect((await c.transact('ok', 'UID SEARCH UID $')).untagged.map((r) => r.raw)).toEqual(['* SEARCH']);
    c.write('A301 UID SEARCH RETURN (SAVE) SINCE 1-Jan-2004 NOT FROM "Smith" UID 4:*\r\nA302 UID COPY $ "Other Messages"\r\nA303 UID EXPUNGE $\r\n');
    const tagged = [];
    const expunged = [];
    for (;;) {
      const r = await c.readResponse();
      if (r.tag === '*' && r.type === 'EXPUNGE') expunged.push(r.raw);
      if (r.tag !== '*') tagged.push(`${r.tag} ${r.type}${r.code ? ` ${r.code}` : ''}`);
      if (r.tag === 'A303') break;
    }
    // From UID 4: the even ones (4, 6, 8) are not from Smith.
    expect(tagged[0]).toBe('A301 OK');
    expect(tagged[1]).toMatch(/^A302 OK COPYUID \d+ 4,6,8 1:3$/);
    expect(tagged[2]).toBe('A303 OK');
    expect(expunged).toEqual(['* 4 EXPUNGE', '* 5 EXPUNGE', '* 6 EXPUNGE']);
    const st = await c.transact('ok', 'STATUS "Other Messages" (MESSAGES)');
    expect(st.untagged[0]!.raw).toBe('* STATUS "Other Messages" (MESSAGES 3)');
    await c.close();
  });

  it('"$" in SORT and THREAD criteria is the saved result, as in SEARCH (RFC 5182 §2.1: "$" is a sequence set)', async () => {
    const user = await account(6);
    const c = await f.client(user, 'pw');
    await c.transact('ok', 'SELECT INBOX');
    await c.transact('ok', 'UID SEARCH RETURN (SAVE) FROM "Smith"');
    // The odd ones (1, 3, 5) are from Smith; REVERSE ARRIVAL gives them highest first.
    expect((await c.transact('ok', 'UID SORT (REVERSE ARRIVAL) UTF-8 UID $')).untagged.map((r) => r.raw)).toEqual(['* SORT 5 3 1']);
    expect((await c.transact('ok', 'SORT (ARRIVAL) UTF-8 $')).untagged.map((r) => r.raw)).toEqual(['* SORT 1 3 5']);
    expect((await c.transact('ok', 'UID THREAD ORDEREDSUBJECT UTF-8 $')).untagged[0]!.raw).toMatch(/^\* THREAD (\([135]\)){3}$/);
    await c.close();
  });

  it('python imaplib: SEARCH RETURN (SAVE), then FETCH $ and STORE $', needs('python3'), async () => {
    const user = await account(5);
    const py = String.raw`
import imaplib, json, sys
M = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
M.login(sys.argv[2], 'pw')
M.select('INBOX')
out = {'caps': 'SEARCHRES' in M.capabilities}
typ, data = M._simple_command('SEARCH', 'RETURN', '(SAVE)', 'FROM', '"Smith"')
out['save'] = typ
typ, data = M.fetch('$', '(UID)')
out['fetch'] = [d.decode() for d in data]
typ, data = M.store('$', '+FLAGS.SILENT', '(\\Flagged)')
typ, data = M.search(None, 'FLAGGED')
out['flagged'] = data[0].decode()
M.logout()
print(json.dumps(out))
`;
    const { stdout } = await run(peer('python3'), ['-c', py, String(f.port), user]);
    const out = JSON.parse(stdout) as { caps: boolean; save: string; fetch: string[]; flagged: string };
    expect(out.caps).toBe(true);
    expect(out.save).toBe('OK');
    expect(out.fetch).toEqual(['1 (UID 1)', '3 (UID 3)', '5 (UID 5)']);
    expect(out.flagged).toBe('1 3 5');
  });
});
