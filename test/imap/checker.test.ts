// The strict checking client itself: it must catch each kind of violation on scripted
// response lines, and find none in Dovecot's answers to the multi-session scenarios
// (Dovecot is the reference: a violation there is a bug of the checker).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImapChecker } from '../helpers/imap-checker.js';
import { ImapTestClient, parseResponse } from '../helpers/imap-client.js';
import { dovecotMissing, startDovecot, type DovecotServer } from '../helpers/dovecot.js';
import { SCENARIOS } from './scenarios.js';

/** Runs client lines ("C: ...") and server lines through a checker; returns the violations. */
function run(script: string[]): string[] {
  const c = new ImapChecker();
  c.received(parseResponse('* OK ready', []));
  for (const line of script) {
    if (line.startsWith('C: ')) c.wrote(line.slice(3) + '\r\n');
    else c.received(parseResponse(line, []));
  }
  return c.violations;
}

const SELECT = ['C: s SELECT INBOX', '* 3 EXISTS', '* 0 RECENT', '* FLAGS (\\Seen \\Deleted $a)', '* OK [UIDVALIDITY 7] x', 's OK [READ-WRITE] done'];

describe('the checker finds', () => {
  it.each([
    ['EXPUNGE during FETCH (RFC 9051 §7.5.1)', ['C: f FETCH 1 FLAGS', '* 1 EXPUNGE', 'f OK done'], /EXPUNGE during FETCH/],
    ['EXPUNGE during SEARCH', ['C: f SEARCH ALL', '* 2 EXPUNGE', '* SEARCH 1', 'f OK done'], /EXPUNGE during SEARCH/],
    ['EXPUNGE of an unknown message', ['C: n NOOP', '* 4 EXPUNGE', 'n OK done'], /EXPUNGE of message 4/],
    ['FETCH beyond EXISTS (RFC 9051 §7.5.2)', ['C: n NOOP', '* 4 FETCH (FLAGS ())', 'n OK done'], /FETCH for message 4/],
    ['a keyword before FLAGS (RFC 3501 §7.2.6)', ['C: n NOOP', '* 1 FETCH (FLAGS (\\Deleted $smoke3) UID 1)', 'n OK done'], /keyword \$smoke3/],
    ['EXISTS going down', ['C: n NOOP', '* 2 EXISTS', 'n OK done'], /EXISTS went down/],
    ['a UID changing', ['C: f FETCH 1 UID', '* 1 FETCH (UID 5)', 'f OK', 'C: g FETCH 1 UID', '* 1 FETCH (UID 6)', 'g OK'], /was UID 5, now UID 6/],
    ['UIDs not ascending', ['C: f FETCH 1:2 UID', '* 1 FETCH (UID 5)', '* 2 FETCH (UID 4)', 'f OK'], /not above/],
    ['UID FETCH without UID (RFC 9051 §6.4.9)', ['C: f UID FETCH 1 FLAGS', '* 1 FETCH (FLAGS ())', 'f OK'], /without UID/],
    ['an untagged response no command called for', ['C: n NOOP', '* LIST () "/" INBOX', 'n OK'], /LIST not called for/],
    ['a response while no command runs', ['* 4 EXISTS'], /no command is in progress/],
    ['SEARCH naming an unknown message', ['C: q SEARCH ALL', '* SEARCH 1 9', 'q OK'], /SEARCH result 9/],
    ['ESEARCH for another tag', ['C: q SEARCH RETURN (ALL) ALL', '* ESEARCH (TAG "zz") ALL 1:3', 'q OK'], /ESEARCH for tag zz/],
    ['\\Recent set again', ['C: f FETCH 1 FLAGS', '* 1 FETCH (FLAGS ())', 'f OK', 'C: g FETCH 1 FLAGS', '* 1 FETCH (FLAGS (\\Recent))', 'g OK'], /Recent set again/],
    ['BYE before LOGOUT', ['C: n NOOP', '* BYE bye', 'n OK'], /BYE during/],
  ])('%s', (_name, lines, want) => {
    const v = run([...SELECT, ...(lines as string[])]);
    expect(v.join('\n')).toMatch(want as RegExp);
  });

  it('SELECT without its required responses', () => {
    expect(run(['C: s SELECT INBOX', '* 3 EXISTS', 's OK [READ-WRITE] done']).join('\n')).toMatch(/FLAGS missing/);
  });

  it('\\Recent and RECENT in an IMAP4rev2 session', () => {
    const v = run(['C: e ENABLE IMAP4rev2', '* ENABLED IMAP4rev2', 'e OK', ...SELECT]);
    expect(v.join('\n')).toMatch(/RECENT in an IMAP4rev2 session/);
  });

  it('nothing in a clean session (EXPUNGE shifts numbers; literals in commands are skipped)', () => {
    const v = run([
      ...SELECT,
      'C: a APPEND INBOX {5}',
      'C: xxxxx',
      '* 4 EXISTS',
      'a OK [APPENDUID 7 4] done',
      'C: f FETCH 1:4 (UID FLAGS)',
      '* 1 FETCH (UID 1 FLAGS ($a))',
      '* 2 FETCH (UID 2 FLAGS ())',
      '* 3 FETCH (UID 3 FLAGS ())',
      '* 4 FETCH (UID 4 FLAGS (\\Seen))',
      'f OK',
      'C: x EXPUNGE',
      '* 2 EXPUNGE',
      '* 2 EXPUNGE',
      'x OK',
      'C: g UID FETCH 4 FLAGS',
      '* 2 FETCH (UID 4 FLAGS (\\Seen))',
      'g OK',
      'C: h STORE 1 +FLAGS ($b)',
      '* FLAGS (\\Seen \\Deleted $a $b)',
      '* OK [PERMANENTFLAGS (\\Seen \\Deleted $a $b \\*)] ok',
      '* 1 FETCH (FLAGS ($a $b))',
      'h OK',
    ]);
    expect(v).toEqual([]);
  });
});

const missing = dovecotMissing();
if (missing) console.log(`skip: Dovecot scenarios need the Debian package ${missing}`);

describe.skipIf(missing !== undefined)('Dovecot answers the scenarios without a violation', () => {
  let dovecot: DovecotServer;
  let n = 0;
  const clients: ImapTestClient[] = [];
  beforeAll(async () => {
    dovecot = await startDovecot();
  });
  afterAll(async () => {
    for (const c of clients) await c.close();
    await dovecot?.close();
  });

  it.each(Object.keys(SCENARIOS))('%s', async (name) => {
    const user = `user${++n}`;
    const open = async (): Promise<ImapTestClient> => {
      const c = await ImapTestClient.connect(dovecot.port);
      clients.push(c);
      await c.login(user, dovecot.password);
      return c;
    };
    await SCENARIOS[name]!({ open });
    for (const c of clients) c.leftover();
  });
});
