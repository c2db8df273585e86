// Fuzzing POP3 (issue 14 item 9): the line framer, the command parser and the
// multi-line encoder in process, then the server over a socket with mutated transcript
// commands, one reply per command line. See test/fuzz/lib.ts for budgets and replay.
import { describe, expect, it } from 'vitest';
import { encodeMultiline, LineFramer, parseCommand, parseNumber, type FramedUnit } from '../../src/pop3/wire.js';
import { chunks, fuzz, mimeCorpus, mutate, testTimeout, transcriptCommands, type Rng } from './lib.js';
import { describeSocketFuzz, firstLine, FUZZ_PASSWORD, RawConn } from './socket.js';

const COMMANDS = transcriptCommands('pop3').filter((c) => !/^auth\b/i.test(c));
const MIME = mimeCorpus();
const DICT = COMMANDS.map((c) => Buffer.from(c));

describe('POP3 codec, in process', () => {
  it('frames lines the same at any split, parses them, and encodes any message reversibly', { timeout: testTimeout() }, async () => {
    await fuzz('pop3-wire', (rng) => {
      const input = mutate(rng, Buffer.from(Array.from({ length: 1 + rng.int(5) }, () => rng.pick(COMMANDS) + '\r\n').join('')), DICT);
      const max = 16 + rng.int(512);
      const whole = new LineFramer(max).push(input);
      const split: FramedUnit[] = [];
      const f = new LineFramer(max);
      for (const c of chunks(rng, input)) split.push(...f.push(c));
      expect(split).toEqual(whole);
      for (const u of whole) {
        if (!('line' in u)) continue;
        const p = parseCommand(u.line);
        if (p) for (const a of p.args) parseNumber(a);
      }
      // RFC 1939 §3: the multi-line body, un-stuffed, is the message with CRLF line ends
      const msg = mutate(rng, rng.pick(MIME));
      const enc = encodeMultiline(chunks(rng, msg)).toString('latin1');
      expect(enc).toBe(encodeMultiline(msg).toString('latin1'));
      // bare LF → CRLF, a missing final line end added (a trailing bare CR gets its LF), "." stuffed
      let norm = msg.toString('latin1').replace(/(?<!\r)\n/g, '\r\n');
      if (norm.length > 0 && !norm.endsWith('\n')) norm += norm.endsWith('\r') ? '\n' : '\r\n';
      expect(enc).toBe(norm.replace(/(^|\n)\./g, '$1..') + '.\r\n');
    });
  });
});

describeSocketFuzz('POP3 server over a socket', {
  codec: 'pop3-socket',
  asserts: 'answers every command line once, in order, never hangs or crashes',
  listener: () => 'pop3',
  accountEvery: 50,
  async prepare(t, user, rng, caseNo) {
    if (caseNo % 50 === 0) for (let i = 0; i < 3; i++) await t.ctx.store.deliver([{ account: user }], { data: rng.pick(MIME) });
  },
  run: pop3Case,
});

const status = firstLine((l) => (/^(\+OK|-ERR|\+ |\+$)/.test(l) ? l : undefined), false);
/** The end of a multi-line body: the terminating ".", also when the body is empty (RFC 1939 §3: the status line's CRLF then "."). */
const dotEnd = (buf: Buffer) => {
  if (buf.subarray(0, 3).equals(Buffer.from('.\r\n'))) return { end: 3, value: '.' };
  const i = buf.indexOf('\r\n.\r\n');
  return i < 0 ? undefined : { end: i + 5, value: '.' };
};

async function pop3Case(rng: Rng, c: RawConn, user: string): Promise<void> {
  const g = await c.until(status);
  if (typeof g !== 'object' || !g.value.startsWith('+OK')) throw new Error(`greeting: ${JSON.stringify(g)}`);
  if (rng.chance(0.6)) {
    await command(c, `USER ${user}`);
    const r = await command(c, `PASS ${FUZZ_PASSWORD}`);
    if (!r?.startsWith('+OK')) throw new Error(`PASS: ${r}`);
  }
  const n = 1 + rng.int(8);
  for (let k = 0; k < n && !c.closed; k++) {
    const raw = rng.pick(COMMANDS);
    const line = (rng.chance(0.7) ? mutate(rng, Buffer.from(raw), DICT) : Buffer.from(raw)).toString('latin1').replace(/\n/g, ' ');
    if (/^auth/i.test(line)) continue; // SASL continuations would eat the next lines
    await command(c, line);
  }
}

/** Sends one line and reads its whole reply (the status line, and the body of a multi-line one). */
async function command(c: RawConn, line: string): Promise<string | undefined> {
  c.write(Buffer.from(line + '\r\n', 'latin1'));
  const r = await c.until(status);
  if (r === 'timeout') throw new Error(`no reply to ${JSON.stringify(line.slice(0, 200))} before the deadline`);
  if (r === 'closed') return undefined;
  // after STLS the bytes are TLS: the case ends
  if (/^stls/i.test(line) && r.value.startsWith('+OK')) c.close();
  if (/Internal error/i.test(r.value)) throw new Error(`${JSON.stringify(line.slice(0, 200))}: ${r.value}`);
  if (r.value.startsWith('+OK') && multiline(line)) {
    const body = await c.until(dotEnd);
    if (body === 'timeout') throw new Error(`no end of the multi-line reply to ${JSON.stringify(line.slice(0, 200))}`);
  }
  return r.value;
}

/** RFC 1939 §5, §7, RFC 2449 §5: the commands whose +OK starts a multi-line body. */
function multiline(line: string): boolean {
  // the server sees the line as its framer cuts it: at the first LF, without a final CR
  const p = parseCommand(line.replace(/\r$/, ''));
  if (!p) return false;
  return ['CAPA', 'RETR', 'TOP'].includes(p.name) || (['LIST', 'UIDL'].includes(p.name) && p.args.length === 0);
}
