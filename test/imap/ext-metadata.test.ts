// METADATA (RFC 5464) beyond the transcript (test/transcripts/imap/metadata.txt), on both
// stores: the literal value of the §4.3 example, the limits ([METADATA MAXSIZE] before
// the "+", [METADATA TOOMANY]), entries following RENAME and gone with DELETE, the
// mailbox's HIGHESTMODSEQ raised by SETMETADATA (RFC 7162 §3.2), and python imaplib.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { valueText } from '../helpers/imap-client.js';
import { needs, peer } from '../helpers/peers.js';
import { startImapFixture, type ImapFixture } from './fixture.js';

const run = promisify(execFile);
let n = 0;

for (const store of ['memory', 'maildir'] as const) {
  describe(`METADATA (${store} store)`, () => {
    let f: ImapFixture;
    beforeAll(async () => {
      f = await startImapFixture(store === 'memory' ? { store: 'memory' } : {});
    });
    afterAll(async () => {
      await f.close();
    });

    async function client(): Promise<{ user: string; c: Awaited<ReturnType<ImapFixture['client']>> }> {
      const user = `md${++n}@example.test`;
      await f.addAccount(user, 'pw');
      return { user, c: await f.client(user, 'pw') };
    }

    it('the literal value of §4.3, limits, RENAME and DELETE, HIGHESTMODSEQ', async () => {
      const { c } = await client();
      expect((await c.transact('ok', 'CAPABILITY')).untagged[0]!.raw.split(' ')).toContain('METADATA');
      const text = 'My new comment across\r\ntwo lines.';
      await c.transact('ok', ['SETMETADATA INBOX (/private/comment ', Buffer.from(text), ')']);
      const got = await c.transact('ok', 'GETMETADATA INBOX /private/comment');
      const vals = got.untagged[0]!.values;
      expect(vals[0]).toBe('INBOX');
      const list = vals[1] as unknown[];
      expect([list[0], valueText(list[1] as never)]).toEqual(['/private/comment', text]);
      // §4.3: over the size limit: NO [METADATA MAXSIZE n] before the literal is sent.
      c.write(`x1 SETMETADATA INBOX (/private/big {${64 * 1024 + 1}}\r\n`);
      const r = await c.readResponse();
      expect([r.tag, r.type, r.code]).toEqual(['x1', 'NO', 'METADATA MAXSIZE 65536']);
      // TOOMANY: 100 entries per mailbox, all or nothing.
      const many = Array.from({ length: 99 }, (_, i) => `/shared/e${i} "v"`).join(' ');
      await c.transact('ok', `SETMETADATA INBOX (${many})`);
      const no = await c.transact('no', 'SETMETADATA INBOX (/shared/x1 "a" /shared/x2 "b")');
      expect(no.tagged.code).toBe('METADATA TOOMANY');
      expect((await c.transact('ok', 'GETMETADATA INBOX /shared/x1')).untagged).toEqual([]);
      // A mailbox's entries follow RENAME and go with DELETE.
      await c.transact('ok', 'CREATE Work');
      await c.transact('ok', 'SETMETADATA Work (/shared/comment "work")');
      await c.transact('ok', 'RENAME Work Job');
      expect((await c.transact('ok', 'GETMETADATA Job /shared/comment')).untagged.map((x) => x.raw)).toEqual(['* METADATA Job (/shared/comment "work")']);
      await c.transact('ok', 'DELETE Job');
      await c.transact('ok', 'CREATE Job');
      expect((await c.transact('ok', 'GETMETADATA Job /shared/comment')).untagged).toEqual([]);
      // RFC 7162 §3.2: SETMETADATA on a mailbox raises its HIGHESTMODSEQ.
      const modseq = async (): Promise<number> => Number(/HIGHESTMODSEQ (\d+)/.exec((await c.transact('ok', 'STATUS Job (HIGHESTMODSEQ)')).untagged[0]!.raw)![1]);
      const before = await modseq();
      await c.transact('ok', 'SETMETADATA Job (/private/x "1")');
      expect(await modseq()).toBeGreaterThan(before);
      await c.close();
    });

    it('entry names built to be expensive are refused at once: 200 "/ab" segments then a byte outside printable ASCII, "//", a trailing "/"', async () => {
      const { c } = await client();
      // The old check split "/ab/ab/…" 2^n ways before failing on the last byte.
      const long = `/private${'/ab'.repeat(200)}`;
      await c.transact('bad', `GETMETADATA (DEPTH infinity) INBOX "${long}/\u00e9"`);
      await c.transact('bad', `SETMETADATA INBOX (${long}//x "v")`);
      await c.transact('bad', `SETMETADATA INBOX (${long}/ "v")`);
      await c.transact('ok', `SETMETADATA INBOX (${long} "v")`);
      const got = await c.transact('ok', `GETMETADATA INBOX ${long}`);
      expect(got.untagged.some((r) => r.type === 'METADATA')).toBe(true);
      await c.close();
    });

    it('python imaplib sets and reads entries', needs('python3'), async () => {
      const { user, c } = await client();
      await c.close();
      const py = String.raw`
import imaplib, sys
imaplib.Commands['SETMETADATA'] = ('AUTH', 'SELECTED')
imaplib.Commands['GETMETADATA'] = ('AUTH', 'SELECTED')
M = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
M.login(sys.argv[2], 'pw')
print(M._simple_command('SETMETADATA', 'INBOX', '(/private/comment "from python")')[0])
typ, data = M._simple_command('GETMETADATA', 'INBOX', '/private/comment')
print(typ, M.untagged_responses.get('METADATA'))
M.logout()
`;
      const { stdout } = await run(peer('python3'), ['-c', py, String(f.port), user]);
      expect(stdout.trim().split('\n')).toEqual(['OK', `OK [b'INBOX (/private/comment "from python")']`]);
    });
  });
}
