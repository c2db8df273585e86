// python3 imaplib's sort() and thread() (and their UID forms) against our server: the
// client checks the SORT capability and reads the untagged SORT / THREAD data.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { needs, peer } from '../helpers/peers.js';
import { fixtureForFile } from './fixture.js';

const run = promisify(execFile);
const t = fixtureForFile();

const PY = String.raw`
import imaplib, json, sys
port, user, pw = int(sys.argv[1]), sys.argv[2], sys.argv[3]
out = {}
M = imaplib.IMAP4('127.0.0.1', port)
M.login(user, pw)
out['caps'] = [c for c in M.capabilities if c.startswith(('SORT', 'THREAD', 'ESORT'))]
msgs = [
  ('Re: lunch', 'Tue, 4 Jun 2024 12:00:00 +0000', '<b@x>', '<a@x>', 'Zoe <zoe@example.org>'),
  ('lunch', 'Mon, 3 Jun 2024 12:00:00 +0000', '<a@x>', None, 'adam@example.org'),
  ('=?utf-8?q?=C3=A0_propos?=', 'Wed, 5 Jun 2024 08:00:00 +0200', '<c@x>', None, 'Bob <bob@example.org>'),
  ('Re: Re: lunch', 'Thu, 6 Jun 2024 12:00:00 +0000', '<d@x>', '<a@x> <b@x>', 'carl@example.org'),
]
for subj, date, mid, refs, frm in msgs:
    h = 'From: %s\r\nTo: me@example.org\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: %s\r\n' % (frm, subj, date, mid)
    if refs: h += 'References: %s\r\n' % refs
    M.append('INBOX', None, None, (h + '\r\nhi\r\n').encode())
M.select('INBOX')
out['sort_date'] = M.sort('(DATE)', 'UTF-8', 'ALL')[1][0].decode()
out['sort_subject'] = M.sort('(SUBJECT REVERSE DATE)', 'UTF-8', 'ALL')[1][0].decode()
out['sort_from'] = M.sort('(DISPLAYFROM)', 'US-ASCII', 'SINCE', '1-Jan-2000')[1][0].decode()
out['uid_sort'] = M.uid('SORT', '(REVERSE ARRIVAL)', 'UTF-8', 'ALL')[1][0].decode()
out['thread'] = M.thread('REFERENCES', 'UTF-8', 'ALL')[1][0].decode()
out['thread_os'] = M.thread('ORDEREDSUBJECT', 'UTF-8', 'ALL')[1][0].decode()
out['uid_thread'] = M.uid('THREAD', 'REFS', 'UTF-8', 'NOT', 'SUBJECT', 'propos')[1][0].decode()
typ, dat = M.sort('(DATE)', 'KOI8-R', 'ALL')
out['badcharset'] = typ + ' ' + dat[-1].decode()
M.logout()
print(json.dumps(out))
`;

describe('python3 imaplib sort() and thread()', needs('python3'), () => {
  it('sorts and threads as RFC 5256 says', async () => {
    const user = await t.account('sortpy');
    const { stdout } = await run(peer('python3'), ['-c', PY, String(t.f.port), user, 'pw']);
    const out = JSON.parse(stdout) as Record<string, unknown>;
    expect(out.caps).toEqual(expect.arrayContaining(['SORT', 'SORT=DISPLAY', 'ESORT', 'THREAD=ORDEREDSUBJECT', 'THREAD=REFERENCES', 'THREAD=REFS']));
    expect(out.sort_date).toBe('2 1 3 4');
    // "À PROPOS" decomposes to "A" + U+0300: first; then LUNCH newest first.
    expect(out.sort_subject).toBe('3 4 1 2');
    expect(out.sort_from).toBe('2 3 4 1'); // adam@..., Bob, carl@..., Zoe
    expect(out.uid_sort).toBe('4 3 2 1');
    expect(out.thread).toBe('(2 1 4)(3)');
    expect(out.thread_os).toBe('(2 (1)(4))(3)');
    expect(out.uid_thread).toBe('(2 1 4)');
    expect(out.badcharset).toMatch(/^NO \[BADCHARSET/);
  });
});
