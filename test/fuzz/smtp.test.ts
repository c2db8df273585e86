// Fuzzing SMTP (issue 14 item 9): the command and DATA paths of port 25 and submission
// over a socket, as smtp-server parses them for our handlers: an SMTP dialogue whose
// commands and message (the MIME corpus) are mutated, one command at a time, each of
// which must get its numbered reply (RFC 5321 §4.2) before the deadline.
// See test/fuzz/lib.ts for budgets and replay.
import { mimeCorpus, mutate, type Rng } from './lib.js';
import { describeSocketFuzz, firstLine, FUZZ_PASSWORD, RawConn } from './socket.js';

const MIME = mimeCorpus();
const VERBS = [
  'EHLO client.example.org', 'HELO client.example.org', 'MAIL FROM:<alice@example.org>', 'MAIL FROM:<> SIZE=1000 BODY=8BITMIME',
  'MAIL FROM:<alice@example.org> SMTPUTF8 RET=HDRS ENVID=abc', 'RCPT TO:<$user>', 'RCPT TO:<$user> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;$user',
  'RCPT TO:<postmaster>', 'RCPT TO:<nobody@example.test>', 'RCPT TO:<"quoted local"@example.test>', 'DATA', 'RSET', 'NOOP', 'VRFY $user',
  'EXPN list', 'HELP', 'BDAT 10 LAST',
];
const DICT = [...VERBS.map((v) => Buffer.from(v)), ...MIME.slice(0, 4)];

describeSocketFuzz('SMTP over a socket', {
  codec: 'smtp-socket',
  asserts: 'answers every command and every message with a reply code, never hangs or crashes',
  // port 25, or submission (then with AUTH first)
  listener: (rng) => (rng.chance(0.25) ? 'submission' : 'smtp'),
  accountEvery: 100,
  run: smtpCase,
});

/** RFC 5321 §4.2.1: the last line of a reply is "code SP text". */
const reply = firstLine((l) => (/^\d{3}( |$)/.test(l) ? l : undefined), false);

async function smtpCase(rng: Rng, c: RawConn, user: string, listener: string): Promise<void> {
  const submission = listener === 'submission';
  const greeting = await c.until(reply);
  if (typeof greeting !== 'object') throw new Error(`greeting: ${greeting}`);
  const script = ['EHLO client.example.org'];
  if (submission) script.push(`AUTH PLAIN ${Buffer.from(`\0${user}\0${FUZZ_PASSWORD}`).toString('base64')}`);
  script.push(`MAIL FROM:<${submission ? user : 'alice@example.org'}>`, 'RCPT TO:<$user>', 'DATA');
  for (let i = rng.int(6); i > 0; i--) script.push(rng.pick(VERBS));
  for (const step of script) {
    if (c.closed) return;
    let line: Buffer = Buffer.from(step.replace(/\$user/g, user));
    if (rng.chance(0.25)) line = mutate(rng, line, DICT);
    // one command per line: an LF of its own would be a second command we do not track
    const text = line.toString('latin1').replace(/\n/g, ' ');
    const r = await command(c, text);
    if (r === undefined) return;
    if (r.startsWith('334')) {
      if ((await command(c, '*')) === undefined) return; // RFC 4954 §4: cancel the exchange
    } else if (r.startsWith('354')) {
      if ((await command(c, message(rng), 'the message')) === undefined) return;
    } else if (r.startsWith('220') && /^starttls/i.test(text)) {
      return; // the bytes after are TLS
    }
  }
}

/** A mutated message, dot-stuffed so that only our terminator ends it (RFC 5321 §4.5.2). */
function message(rng: Rng): string {
  const body = mutate(rng, rng.pick(MIME), MIME).toString('latin1');
  return body.replace(/(^|[\r\n])\./g, '$1..') + (body.endsWith('\r\n') ? '' : '\r\n') + '.';
}

async function command(c: RawConn, text: string, what = JSON.stringify(text.slice(0, 200))): Promise<string | undefined> {
  c.write(Buffer.from(text + '\r\n', 'latin1'));
  const r = await c.until(reply);
  if (r === 'timeout') throw new Error(`no reply to ${what} before the deadline`);
  if (r === 'closed') return undefined;
  return r.value;
}
