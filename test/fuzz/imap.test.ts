// Fuzzing the IMAP codec (issue 14 item 9): the framer and the argument parser in
// process, then the whole server over a socket with mutated transcript commands and
// APPENDs of the mutated MIME corpus. See test/fuzz/lib.ts for budgets and replay.
import { describe, expect, it } from 'vitest';
import { ImapBad, ImapNo } from '../../src/imap/errors.js';
import { Framer, type FramerHandler } from '../../src/imap/wire/framer.js';
import { Parser } from '../../src/imap/wire/parser.js';
import type { FramedCommand } from '../../src/imap/wire/types.js';
import { chunks, fuzz, mimeCorpus, mutate, testTimeout, transcriptCommands, type Rng } from './lib.js';
import { describeSocketFuzz, firstLine, FUZZ_PASSWORD, RawConn } from './socket.js';

const COMMANDS = transcriptCommands('imap');
const MIME = mimeCorpus();
const DICT = [...COMMANDS.map((c) => Buffer.from(c)), ...MIME.slice(0, 8)];

/** Commands with literals (the transcripts have none): [line, literal, line, ...]. */
function literalCommand(rng: Rng): Array<string | Buffer> {
  const msg = rng.pick(MIME);
  const plus = rng.chance(0.5) ? '+' : '';
  switch (rng.int(4)) {
    case 0:
      return [`APPEND INBOX (\\Seen) {${msg.length}${plus}}`, msg, ''];
    case 1:
      return [`LOGIN {3${plus}}`, Buffer.from('abc'), ` {4${plus}}`, Buffer.from('defg'), ''];
    case 2:
      return [`SEARCH CHARSET UTF-8 BODY {4${plus}}`, Buffer.from('body'), ' SUBJECT x'];
    default:
      return [`APPEND INBOX {${msg.length}${plus}}`, msg, ` (\\Flagged) {3${plus}}`, Buffer.from('abc'), ''];
  }
}

describe('IMAP framer and parser, in process', () => {
  it('frames any input the same way at any split, and parses it without an exception other than BAD/NO', { timeout: testTimeout() }, async () => {
    await fuzz('imap-wire', (rng) => {
      const parts = rng.chance(0.3) ? literalCommand(rng) : [rng.pick(COMMANDS)];
      let input = Buffer.concat(parts.map((p, i) => (typeof p === 'string' ? Buffer.from((i === 0 ? `a${rng.int(9)} ` : '') + p + (i < parts.length - 1 ? '\r\n' : '')) : p)));
      input = Buffer.concat([mutate(rng, input, DICT), Buffer.from('\r\nz NOOP\r\n')]);
      const maxLiterals = rng.int(3);
      const whole = frame([input], maxLiterals);
      const split = frame(chunks(rng, input), maxLiterals);
      expect(split).toEqual(whole);
      for (const cmd of whole.cmds) parseEverything(rng, cmd);
    });
  });
});

interface Framed {
  cmds: FramedCommand[];
  events: string[];
}

function frame(input: Buffer[], maxLiterals: number): Framed {
  const out: Framed = { cmds: [], events: [] };
  const h: FramerHandler = {
    literal: (i) => (i.size <= 4096 ? { ok: true } : { ok: false, response: 'NO [TOOBIG] too big' }),
    command: (c) => out.cmds.push(c),
    continuation: () => out.events.push('+'),
    reject: (r) => out.events.push(r),
    fatal: (r) => out.events.push(r),
  };
  const fr = new Framer(h, { maxLine: 8192, maxDiscard: 1024, maxLiterals: maxLiterals + 1 });
  for (const c of input) fr.push(c);
  return out;
}

/** Runs the readers a command handler would, in a random order; only ImapBad/ImapNo may escape. */
function parseEverything(rng: Rng, cmd: FramedCommand): void {
  const p = new Parser(cmd);
  p.utf8 = rng.chance(0.5);
  const readers: Array<() => unknown> = [
    () => p.tag(),
    () => p.sp(),
    () => p.word(),
    () => p.atom(),
    () => p.number(rng.chance(0.5)),
    () => p.nzNumber(),
    () => p.astring(),
    () => p.nstring(),
    () => p.string(),
    () => p.mailbox(),
    () => p.listMailbox(),
    () => p.sequenceSet(),
    () => p.flag(),
    () => p.flagList(),
    () => p.dateTime(),
    () => p.date(),
    () => p.literal(),
    () => p.messageLiteral(),
    () => p.parenList(() => p.astring()),
    () => p.end(),
  ];
  for (let i = 0; i < 12 && !p.atEnd(); i++) {
    try {
      rng.pick(readers)();
    } catch (err) {
      if (!(err instanceof ImapBad || err instanceof ImapNo)) throw err;
      if (rng.chance(0.5)) return;
    }
  }
}

describeSocketFuzz('IMAP server over a socket', {
  codec: 'imap-socket',
  asserts: 'answers every complete command with its tag (or BYE), never hangs or crashes',
  listener: () => 'imap',
  accountEvery: 200,
  run: imapCase,
});

const tagged = (tag: string) => firstLine((l) => (l.startsWith(tag + ' ') ? l : l.startsWith('* BYE') ? l : undefined));
const contOrTagged = (tag: string) => firstLine((l) => (l.startsWith('+') || l.startsWith(tag + ' ') || l.startsWith('* BYE') ? l : undefined));

async function expectReply(c: RawConn, wait: Promise<{ value: string } | 'closed' | 'timeout'>, what: string): Promise<string | undefined> {
  const r = await wait;
  if (r === 'timeout') throw new Error(`no reply to ${what} before the deadline`);
  if (r === 'closed') return undefined;
  return r.value;
}

async function imapCase(rng: Rng, c: RawConn, user: string): Promise<void> {
  const greeting = await expectReply(c, c.until(firstLine((l) => (l.startsWith('* ') ? l : undefined))), 'the greeting');
  if (!greeting?.startsWith('* OK')) throw new Error(`greeting: ${greeting}`);
  const state = rng.int(3);
  if (state > 0) {
    c.write(`L LOGIN "${user}" "${FUZZ_PASSWORD}"\r\n`);
    const ok = await expectReply(c, c.until(tagged('L')), 'LOGIN');
    if (!ok?.startsWith('L OK')) throw new Error(`LOGIN: ${ok}`);
    if (state > 1) {
      c.write('S SELECT INBOX\r\n');
      await expectReply(c, c.until(tagged('S')), 'SELECT');
    }
  }
  const n = 1 + rng.int(6);
  for (let k = 0; k < n && !c.closed; k++) {
    const tag = `F${k}`;
    const parts = rng.chance(0.2) ? literalCommand(rng) : [rng.pick(COMMANDS)];
    const mutated = parts.map((p) => (rng.chance(0.6) ? mutate(rng, Buffer.from(p), DICT) : Buffer.from(p)));
    if (!(await sendCommand(rng, c, tag, mutated))) return;
  }
}

const LITERAL = /\{(\d+)(\+?)\}$/;
const MAX_SENT_LITERAL = 1 << 20;

/** Sends one command (lines and literals) and waits for its tagged reply; false when the case must end. */
async function sendCommand(rng: Rng, c: RawConn, tag: string, parts: Buffer[]): Promise<boolean> {
  for (let i = 0; i < parts.length; i += 2) {
    // a line never carries an LF of its own: that would be a second command we do not track
    const line = Buffer.from(parts[i]!.toString('latin1').replace(/\n/g, ' '), 'latin1');
    const text = (i === 0 ? `${tag} ` : '') + line.toString('latin1');
    const m = LITERAL.exec(text);
    if (!m) {
      c.write(Buffer.concat([Buffer.from(i === 0 ? `${tag} ` : ''), line, Buffer.from('\r\n')]));
      return awaitTagged(rng, c, tag);
    }
    const size = Number(m[1]);
    // a mutation may have made a literal of the last line: the command then goes on after it
    if (parts.length < i + 3) parts.splice(i + 1, parts.length, parts[i + 1] ?? rng.bytes(rng.int(64)), Buffer.alloc(0));
    const data = parts[i + 1]!;
    c.write(Buffer.concat([Buffer.from(i === 0 ? `${tag} ` : ''), line, Buffer.from('\r\n')]));
    if (m[2] !== '+') {
      const r = await expectReply(c, c.until(contOrTagged(tag)), `${tag} (literal of ${size})`);
      if (r === undefined || !r.startsWith('+')) return r !== undefined; // rejected before "+": the command is over
      if (size > MAX_SENT_LITERAL) return false; // accepted a literal we will not send: the case ends
    } else if (size > MAX_SENT_LITERAL) {
      return false;
    }
    c.write(size <= data.length ? data.subarray(0, size) : Buffer.concat([data, Buffer.alloc(size - data.length, 0x61)]));
  }
  return true;
}

/** Waits for the tagged reply; "+" (IDLE, AUTHENTICATE) is answered so the command can end. */
async function awaitTagged(rng: Rng, c: RawConn, tag: string): Promise<boolean> {
  for (let conts = 0; ; conts++) {
    const r = await expectReply(c, c.until(contOrTagged(tag)), tag);
    if (r === undefined) return false;
    if (r.startsWith('* BYE')) return false;
    if (r.startsWith('+')) {
      if (conts > 3) throw new Error(`${tag}: continuation after continuation: ${r}`);
      c.write(rng.chance(0.5) ? 'DONE\r\n' : '*\r\n');
      continue;
    }
    // an exception a handler did not expect becomes NO [SERVERBUG] in dispatch.ts: a finding
    if (r.includes('[SERVERBUG]')) throw new Error(`${tag}: ${r}`);
    // after a successful STARTTLS or COMPRESS the bytes are no longer IMAP lines
    return !/^\S+ OK .*(TLS|COMPRESS|compression)/i.test(r);
  }
}
