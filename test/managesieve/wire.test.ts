// The ManageSieve framer and encoders (src/managesieve/wire.ts): every command split at
// every byte offset frames the same (pg-protocol style), literals of both forms,
// bounded lines and literals, and the server's string encoding.
import { describe, expect, it } from 'vitest';
import { encodeString, Framer, response, type Unit } from '../../src/managesieve/wire.js';

const LIMITS = { maxLine: 64, maxLiteral: 32, maxDiscard: 1000 };

function frame(input: string | Buffer, splitAt?: number): Unit[] {
  const f = new Framer(LIMITS);
  const b = Buffer.isBuffer(input) ? input : Buffer.from(input);
  if (splitAt === undefined) return f.push(b);
  return [...f.push(b.subarray(0, splitAt)), ...f.push(b.subarray(splitAt))];
}

describe('Framer', () => {
  const session = 'PUTSCRIPT "my \\"script\\"" {14+}\r\nkeep;\r\nstop;\r\n\r\nSETACTIVE {4}\r\nmine\r\nhavespace "x" 1024\r\nLOGOUT\r\n';
  const want: Unit[] = [
    { kind: 'command', tokens: [{ kind: 'atom', value: 'PUTSCRIPT' }, { kind: 'string', value: 'my "script"' }, { kind: 'string', value: 'keep;\r\nstop;\r\n' }] },
    { kind: 'command', tokens: [{ kind: 'atom', value: 'SETACTIVE' }, { kind: 'string', value: 'mine' }] },
    { kind: 'command', tokens: [{ kind: 'atom', value: 'HAVESPACE' }, { kind: 'string', value: 'x' }, { kind: 'number', value: 1024 }] },
    { kind: 'command', tokens: [{ kind: 'atom', value: 'LOGOUT' }] },
  ];

  it('frames a session with literals of both forms (RFC 5804 §4)', () => {
    expect(frame(session)).toEqual(want);
  });

  it('gives the same commands however the bytes are split', () => {
    for (let i = 0; i <= session.length; i++) expect(frame(session, i)).toEqual(want);
  });

  it('frames an AUTHENTICATE continuation (a lone string) and an empty literal', () => {
    expect(frame('"AGFsaWNlAHB3"\r\nCHECKSCRIPT {0+}\r\n\r\n')).toEqual([
      { kind: 'command', tokens: [{ kind: 'string', value: 'AGFsaWNlAHB3' }] },
      { kind: 'command', tokens: [{ kind: 'atom', value: 'CHECKSCRIPT' }, { kind: 'string', value: '' }] },
    ]);
  });

  it.each([
    ['an over-long line, then goes on', `NOOP "${'x'.repeat(100)}"\r\nNOOP\r\n`, ['error:lineTooLong', 'command:NOOP']],
    ['a literal over the limit (read and dropped), then goes on', `PUTSCRIPT "a" {40+}\r\n${'k'.repeat(40)}\r\nNOOP\r\n`, ['error:literalTooLarge', 'command:NOOP']],
    ['a literal beyond what is worth reading: fatal', 'PUTSCRIPT "a" {5000+}\r\n', ['fatal:']],
    ['a bad escape', 'NOOP "a\\b"\r\n', ['error:syntax']],
    ['an unterminated quoted string', 'NOOP "abc\r\n', ['error:syntax']],
    ['garbage', 'NOOP (x)\r\n', ['error:syntax']],
    ['a bare LF line end', 'LOGOUT\n', ['command:LOGOUT']],
  ])('reports %s', (_n, input, want) => {
    expect(frame(input).map((u) => `${u.kind}:${u.kind === 'error' ? u.error : u.kind === 'command' ? (u.tokens[0] as { value: string }).value : ''}`)).toEqual(want);
  });

  it('holds no more than a line of over-long input in memory', () => {
    const f = new Framer(LIMITS);
    for (let i = 0; i < 1000; i++) expect(f.push(Buffer.alloc(1024, 0x61))).toEqual([]);
    expect(f.idle).toBe(false);
    expect(f.push(Buffer.from('\r\n'))).toMatchObject([{ kind: 'error', error: 'lineTooLong' }]);
    expect(f.idle).toBe(true);
  });
});

describe('encoders', () => {
  it.each([
    ['plain', '"plain"'],
    ['with "quotes" and \\', '"with \\"quotes\\" and \\\\"'],
    ['two\r\nlines', '{10}\r\ntwo\r\nlines'],
    ['ünïcødé', '"ünïcødé"'],
  ])('encodeString(%j)', (s, want) => {
    expect(encodeString(s)).toBe(want);
  });

  it('responses with codes (RFC 5804 §1.3)', () => {
    expect(response('NO', 'too big', 'QUOTA/MAXSIZE')).toBe('NO (QUOTA/MAXSIZE) "too big"\r\n');
    expect(response('OK')).toBe('OK\r\n');
    expect(response('NO', 'line 1, column 1: bad\r\nline 2: worse')).toBe('NO {36}\r\nline 1, column 1: bad\r\nline 2: worse\r\n');
  });
});
