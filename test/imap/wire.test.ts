// Pure wire codec tests: the framer at every split offset, parser readers, modified UTF-7.
import { describe, expect, it } from 'vitest';
import { ImapBad, ImapNo } from '../../src/imap/errors.js';
import { Framer, type FramerHandler } from '../../src/imap/wire/framer.js';
import { Parser } from '../../src/imap/wire/parser.js';
import type { FramedCommand } from '../../src/imap/wire/types.js';
import { decodeUtf7, encodeUtf7 } from '../../src/imap/wire/utf7.js';
import { Encoder } from '../../src/imap/wire/encoder.js';

function frame(chunks: Buffer[], accept = true) {
  const out: { cmds: FramedCommand[]; conts: number; rejects: string[]; fatal: string[] } = { cmds: [], conts: 0, rejects: [], fatal: [] };
  const h: FramerHandler = {
    literal: (i) => (accept && i.size < 1000 ? { ok: true } : { ok: false, response: `${i.firstLine.split(' ')[0]} NO [TOOBIG] too big` }),
    command: (c) => out.cmds.push(c),
    continuation: () => out.conts++,
    reject: (r) => out.rejects.push(r),
    fatal: (r) => out.fatal.push(r),
  };
  const fr = new Framer(h, { maxLine: 1000, maxDiscard: 100, maxLiterals: 4 });
  for (const c of chunks) fr.push(c);
  return out;
}

describe('framer', () => {
  const input = Buffer.from('a1 LOGIN {3}\r\nfoo {4+}\r\nbar!\r\na2 NOOP\r\na3 APPEND INBOX {5}\r\nhello\r\n');
  it('gives the same commands at every split offset', () => {
    const whole = frame([input]);
    expect(whole.cmds.map((c) => c.lines)).toEqual([['a1 LOGIN {3}', ' {4+}', ''], ['a2 NOOP'], ['a3 APPEND INBOX {5}', '']]);
    expect(whole.cmds[0]!.literals.map((l) => (l.kind === 'buffer' ? l.data.toString() : ''))).toEqual(['foo', 'bar!']);
    expect(whole.conts).toBe(2); // {3} and {5}; not for {4+}
    for (let i = 1; i < input.length; i++) {
      const split = frame([input.subarray(0, i), input.subarray(i)]);
      expect(split.cmds).toEqual(whole.cmds);
      expect(split.conts).toBe(2);
    }
  });
  it('byte by byte', () => {
    const bytes = [...input].map((b) => Buffer.from([b]));
    expect(frame(bytes).cmds).toEqual(frame([input]).cmds);
  });
  it('rejects a synchronizing literal before "+", and discards a small rejected LITERAL+', () => {
    const r = frame([Buffer.from('x1 APPEND INBOX {5000}\r\nx2 NOOP\r\n')]);
    expect(r.conts).toBe(0);
    expect(r.rejects).toEqual(['x1 NO [TOOBIG] too big']);
    expect(r.cmds.map((c) => c.lines[0])).toEqual(['x2 NOOP']);
    const r2 = frame([Buffer.from('y1 APPEND INBOX {50+}\r\n' + 'z'.repeat(50) + '\r\ny2 NOOP\r\n')], false);
    expect(r2.rejects).toHaveLength(1);
    expect(r2.cmds.map((c) => c.lines[0])).toEqual(['y2 NOOP']);
    const r3 = frame([Buffer.from('y1 APPEND INBOX {5000+}\r\n')], false);
    expect(r3.fatal).toHaveLength(1);
  });
  it('ends on an over-long line', () => {
    expect(frame([Buffer.from('x'.repeat(2000))]).fatal).toHaveLength(1);
  });
});

function parser(line: string, literals: string[] = []): Parser {
  const lines = line.split('\0');
  return new Parser({ lines, literals: literals.map((l) => ({ kind: 'buffer' as const, data: Buffer.from(l) })) });
}

describe('parser', () => {
  it.each([
    ['1', [[1, 1]]],
    ['1:3,5', [[1, 3], [5, 5]]],
    ['3:1', [[1, 3]]],
    ['7:*', [[7, Infinity]]],
    ['*', [[Infinity, Infinity]]],
  ])('sequenceSet %s', (input, want) => {
    expect(parser(input).sequenceSet()).toEqual(want);
  });
  it.each(['0', '1:0', 'a', ''])('bad sequenceSet %s', (input) => {
    expect(() => parser(input).sequenceSet()).toThrow(ImapBad);
  });
  it('reads astrings, quoted with escapes and literals', () => {
    const p = parser('atom "q\\"uo\\\\ted" {3}\0 end', ['lit']);
    expect(p.astring()).toBe('atom');
    p.sp();
    expect(p.astring()).toBe('q"uo\\ted');
    p.sp();
    expect(p.astring()).toBe('lit');
    p.sp();
    expect(p.atom()).toBe('end');
    p.end();
  });
  it('decodes mailbox names (INBOX case-insensitive, modified UTF-7)', () => {
    expect(parser('inbox').mailbox()).toBe('INBOX');
    expect(parser('Inbox/Sub').mailbox()).toBe('INBOX/Sub');
    expect(parser('&AOQA9gD8-').mailbox()).toBe('äöü');
    // A name that is not modified UTF-7 cannot exist: NO, not BAD (RFC 9051 §6.3.2).
    expect(() => parser('&Jjo').mailbox()).toThrow(ImapNo);
  });
  it('parses date-time and date', () => {
    expect(parser('"17-Jul-1996 02:44:25 -0700"').dateTime().toISOString()).toBe('1996-07-17T09:44:25.000Z');
    expect(parser(' 1-Feb-2020').tryTake(' ')).toBe(true);
    expect(parser('1-Feb-2020').date().toISOString()).toBe('2020-02-01T00:00:00.000Z');
    expect(() => parser('"31-Foo-2020 00:00:00 +0000"').dateTime()).toThrow(ImapBad);
  });
  it('flag lists', () => {
    expect(parser('(\\seen $Junk \\Flagged)').flagList()).toEqual(['\\Seen', '$Junk', '\\Flagged']);
    expect(parser('()').flagList()).toEqual([]);
    expect(() => parser('(NIL)').flagList()).toThrow(ImapBad); // NIL is IMAP's null, not a keyword
  });
  it('end() refuses leftovers', () => {
    const p = parser('x y');
    p.atom();
    expect(() => p.end()).toThrow(ImapBad);
  });
});

describe('modified UTF-7 (RFC 3501 §5.1.3)', () => {
  it.each([
    ['INBOX', 'INBOX'],
    ['a&b', 'a&-b'],
    ['äöü', '&AOQA9gD8-'],
    ['日本語', '&ZeVnLIqe-'],
    ['~peter/mail/台北/日本語', '~peter/mail/&U,BTFw-/&ZeVnLIqe-'],
    ['😀', '&2D3eAA-'],
  ])('%s ↔ %s', (plain, wire) => {
    expect(encodeUtf7(plain)).toBe(wire);
    expect(decodeUtf7(wire)).toBe(plain);
  });
  it('rejects malformed', () => {
    for (const bad of ['&', '&Jjo', '&AGE-', 'ä']) expect(() => decodeUtf7(bad)).toThrow();
  });
});

describe('encoder', () => {
  it('quotes or uses literals', () => {
    const e = new Encoder();
    e.string('plain').sp().string('with "quote"').sp().string('line\r\nbreak').sp().mailbox('Ünï');
    expect(Buffer.concat(e.done().map((c) => (typeof c === 'string' ? Buffer.from(c) : (c as Buffer)))).toString()).toBe('"plain" "with \\"quote\\"" {11}\r\nline\r\nbreak &ANw-n&AO8-');
  });
});

describe('framer rejections carry the tag (found by test/fuzz/imap.test.ts)', () => {
  it('a literal too big to count is refused with the tagged BAD', () => {
    expect(frame([Buffer.from('F0 LOGIN {99999999999999999999}\r\n')]).rejects).toEqual(['F0 BAD [TOOBIG] Too many literals or literal too big']);
    const tooMany = Buffer.from('t2 LOGIN {1}\r\na {1}\r\nb {1}\r\nc {1}\r\nd {1}\r\ne\r\n');
    expect(frame([tooMany]).rejects).toEqual(['t2 BAD [TOOBIG] Too many literals or literal too big']);
  });
});
