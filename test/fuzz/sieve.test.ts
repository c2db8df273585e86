// Fuzzing Sieve (issue 14 item 9): the script compiler (lexer, parser, validator) on the
// mutated scripts of test/fixtures/sieve, the ManageSieve framer in process, and the
// ManageSieve server over a socket, where every command must get its OK/NO/BYE
// (RFC 5804 §4) before the deadline. See test/fuzz/lib.ts for budgets and replay.
import { describe, expect, it } from 'vitest';
import { Framer, type Unit } from '../../src/managesieve/wire.js';
import { compileSieve, runSieve, type CompiledScript } from '../../src/sieve/engine.js';
import { SieveCompileError, SieveRuntimeError } from '../../src/sieve/errors.js';
import { SieveMessage } from '../../src/sieve/message.js';
import { chunks, fuzz, mimeCorpus, mutate, sieveCorpus, testTimeout, type Rng } from './lib.js';
import { describeSocketFuzz, firstLine, FUZZ_PASSWORD, RawConn } from './socket.js';

const SCRIPTS = sieveCorpus();
const MIME = mimeCorpus();

describe('Sieve compiler and interpreter', () => {
  it('compiles any script or refuses it with a SieveCompileError; runs what compiles on any message', { timeout: testTimeout() }, async () => {
    await fuzz('sieve', (rng) => {
      const text = mutate(rng, rng.pick(SCRIPTS), SCRIPTS).toString(rng.chance(0.5) ? 'utf8' : 'latin1');
      let script: CompiledScript;
      try {
        script = compileSieve(text);
      } catch (err) {
        if (!(err instanceof SieveCompileError)) throw err;
        return;
      }
      const raw = mutate(rng, rng.pick(MIME), MIME);
      const end = raw.indexOf('\r\n\r\n');
      const message = new SieveMessage({ header: end < 0 ? raw : raw.subarray(0, end + 4), size: raw.length, raw });
      const env = { message, envelope: { from: 'a@example.org', to: 'b@example.test' }, mailboxExists: (m: string) => m === 'INBOX', zoneOffsetMinutes: 0 };
      try {
        runSieve(script, env);
      } catch (err) {
        if (!(err instanceof SieveRuntimeError)) throw err;
      }
    });
  });
});

const COMMANDS: Array<Array<string | Buffer>> = [
  ['CAPABILITY'], ['NOOP'], ['NOOP "tag"'], ['LISTSCRIPTS'], ['HAVESPACE "s" 100'], ['SETACTIVE "s"'], ['SETACTIVE ""'], ['GETSCRIPT "s"'],
  ['DELETESCRIPT "s"'], ['RENAMESCRIPT "s" "t"'], ['RENAMESCRIPT "t" "s"'], ['UNAUTHENTICATE'], ['LOGOUT'], ['STARTTLS'], ['AUTHENTICATE "PLAIN"'],
  ['PUTSCRIPT "s" {$n+}', Buffer.alloc(0), ''], ['PUTSCRIPT {1+}', Buffer.from('t'), ' {$n}', Buffer.alloc(0), ''], ['CHECKSCRIPT {$n+}', Buffer.alloc(0), ''],
  ['CHECKSCRIPT "require \\"fileinto\\"; fileinto \\"x\\";"'],
];
const DICT = [...COMMANDS.map((c) => Buffer.from(c[0] as string)), ...SCRIPTS.slice(0, 10)];

describe('ManageSieve framer', () => {
  it('cuts any input into the same units at any split', { timeout: testTimeout() }, async () => {
    await fuzz('managesieve-wire', (rng) => {
      const input = mutate(rng, Buffer.concat(commandBytes(rng, rng.pick(COMMANDS))), DICT);
      const limits = { maxLine: 64 + rng.int(4096), maxLiteral: rng.int(8192), maxDiscard: 16384 };
      const whole = new Framer(limits).push(input);
      const f = new Framer(limits);
      const split: Unit[] = [];
      for (const c of chunks(rng, input)) split.push(...f.push(c));
      expect(split).toEqual(whole);
    });
  });
});

/** A command's bytes with a script from the corpus in each literal. */
function commandBytes(rng: Rng, cmd: Array<string | Buffer>): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < cmd.length; i += 2) {
    const lit = i + 1 < cmd.length ? rng.pick(SCRIPTS) : undefined;
    out.push(Buffer.from((cmd[i] as string).replace('$n', String(lit?.length ?? 0)) + '\r\n'));
    if (lit) out.push(lit);
  }
  return out;
}

describeSocketFuzz('ManageSieve over a socket', {
  codec: 'managesieve-socket',
  asserts: 'answers every command with OK, NO or BYE, never hangs or crashes',
  listener: () => 'managesieve',
  accountEvery: 100,
  run: manageSieveCase,
});

/** RFC 5804 §4: a response ends with a line starting OK, NO or BYE (a string literal skipped). */
const status = firstLine((l) => (/^(OK|NO|BYE)\b/i.test(l) ? l : undefined));
const anyLine = firstLine((l) => l);
const MAX_SENT_LITERAL = 1 << 20;

async function manageSieveCase(rng: Rng, c: RawConn, user: string): Promise<void> {
  if (typeof (await c.until(status)) !== 'object') throw new Error('no greeting');
  if (rng.chance(0.8)) {
    const r = await command(c, [Buffer.from(`AUTHENTICATE "PLAIN" "${Buffer.from(`\0${user}\0${FUZZ_PASSWORD}`).toString('base64')}"`)]);
    if (!r?.startsWith('OK')) throw new Error(`login: ${r}`);
  }
  for (let k = 1 + rng.int(6); k > 0 && !c.closed; k--) {
    const parts = commandBytes(rng, rng.pick(COMMANDS)).map((b, i) => {
      const m = rng.chance(0.5) ? mutate(rng, b, DICT) : b;
      // lines keep one line end; literals (odd places) go as they are
      return i % 2 === 0 ? Buffer.from(m.toString('latin1').replace(/[\r\n]+$/, '').replace(/\n/g, ' '), 'latin1') : m;
    });
    const r = await command(c, parts);
    if (r === undefined || /^BYE/i.test(r)) return;
    if (/^OK/i.test(r) && /^STARTTLS/i.test(parts[0]!.toString())) return; // the bytes after are TLS
  }
}

/** Sends lines and literals (the size each line announces, whatever we meant to send) and reads the response. */
async function command(c: RawConn, parts: Buffer[]): Promise<string | undefined> {
  let shortWait = false;
  for (let i = 0; i < parts.length; i += 2) {
    c.write(Buffer.concat([parts[i]!, Buffer.from('\r\n')]));
    const m = /\{(\d+)\+?\}$/.exec(parts[i]!.toString('latin1'));
    if (!m) break;
    const size = Number(m[1]);
    if (size > MAX_SENT_LITERAL) {
      shortWait = true; // refused with BYE, or awaited: either way the case ends
      break;
    }
    if (parts.length < i + 3) parts.splice(i + 1, parts.length, parts[i + 1] ?? Buffer.alloc(0), Buffer.alloc(0));
    const data = parts[i + 1]!;
    c.write(size <= data.length ? data.subarray(0, size) : Buffer.concat([data, Buffer.alloc(size - data.length, 0x20)]));
  }
  const auth = /^AUTHENTICATE/i.test(parts[0]!.toString());
  for (let conts = 0; ; conts++) {
    // AUTHENTICATE may answer with a challenge (a string line) and wait: cancel it (RFC 5804 §2.1)
    const r = await c.until(auth && conts === 0 ? anyLine : status, shortWait ? 2000 : undefined);
    if (r === 'timeout') {
      if (shortWait) return undefined;
      throw new Error(`no response to ${JSON.stringify(parts[0]!.toString('latin1').slice(0, 200))} before the deadline`);
    }
    if (r !== 'closed' && auth && conts === 0 && !/^(OK|NO|BYE)\b/i.test(r.value)) {
      c.write('"*"\r\n');
      continue;
    }
    if (r === 'closed') return undefined;
    if (/Internal error/i.test(r.value)) throw new Error(r.value);
    return r.value;
  }
}
