// Unit tests of the POP3 wire codec (src/pop3/wire.ts): the multi-line encoder used by
// RETR/TOP (RFC 1939 §3 byte-stuffing, CRLF normalisation, TOP §7) and the command
// line framer, each fed every split of its input (pg-protocol-style split tests).
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LineFramer, MultilineEncoder, encodeMultiline, parseCommand, parseNumber, type FramedUnit } from '../../src/pop3/wire.js';

const b = (s: string) => Buffer.from(s, 'latin1');
const s = (x: Buffer) => x.toString('latin1');

/** Every way to cut `input` into two and three chunks (three only for short inputs). */
function splits(input: Buffer): Buffer[][] {
  const out: Buffer[][] = [[input]];
  for (let i = 0; i <= input.length; i++) out.push([input.subarray(0, i), input.subarray(i)]);
  if (input.length <= 40) {
    for (let i = 0; i <= input.length; i++) {
      for (let j = i; j <= input.length; j++) out.push([input.subarray(0, i), input.subarray(i, j), input.subarray(j)]);
    }
  }
  out.push([...input].map((x) => Buffer.from([x]))); // one byte at a time
  return out;
}

describe('MultilineEncoder (RFC 1939 §3)', () => {
  const cases: Array<[string, string, string, number?]> = [
    ['CRLF message passes unchanged', 'A: 1\r\n\r\nbody\r\n', 'A: 1\r\n\r\nbody\r\n.\r\n'],
    ['bare LF becomes CRLF', 'A: 1\n\nbody\nmore\n', 'A: 1\r\n\r\nbody\r\nmore\r\n.\r\n'],
    ['mixed endings', 'A: 1\r\n\nx\ny\r\n', 'A: 1\r\n\r\nx\r\ny\r\n.\r\n'],
    ['leading dots are stuffed', 'A: 1\r\n\r\n.\r\n..x\r\n.hidden\r\nnot.first\r\n', 'A: 1\r\n\r\n..\r\n...x\r\n..hidden\r\nnot.first\r\n.\r\n'],
    ['dot on the first line', '.A: 1\n', '..A: 1\r\n.\r\n'],
    ['final line without newline', 'A: 1\r\n\r\nlast', 'A: 1\r\n\r\nlast\r\n.\r\n'],
    ['final dot line without newline', 'A: 1\r\n\r\n.', 'A: 1\r\n\r\n..\r\n.\r\n'],
    ['trailing bare CR gets its LF', 'A: 1\r\n\r\nx\r', 'A: 1\r\n\r\nx\r\n.\r\n'],
    ['bare CR in a line is kept', 'A: 1\r\n\r\na\rb\n', 'A: 1\r\n\r\na\rb\r\n.\r\n'],
    ['empty message', '', '.\r\n'],
    ['TOP 0: headers and the blank line', 'A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n', 'A: 1\r\nB: 2\r\n\r\n.\r\n', 0],
    ['TOP 2 with LF endings', 'A: 1\n\nl1\n.l2\nl3\n', 'A: 1\r\n\r\nl1\r\n..l2\r\n.\r\n', 2],
    ['TOP n beyond the end', 'A: 1\r\n\r\nl1', 'A: 1\r\n\r\nl1\r\n.\r\n', 10],
    ['TOP on a message without body', 'A: 1\r\nB: 2\r\n', 'A: 1\r\nB: 2\r\n.\r\n', 3],
    ['TOP: a CR-only line is the separator', 'A: 1\r\n\r\nx\r\ny\r\n', 'A: 1\r\n\r\nx\r\n.\r\n', 1],
    ['TOP: a line of only a CR then text is not the separator', 'A: 1\r\n\rX\r\n\r\nb\r\n', 'A: 1\r\n\rX\r\n\r\n.\r\n', 0],
  ];
  it.each(cases)('%s, under every chunk split', (_name, input, want, bodyLines) => {
    const opts = bodyLines === undefined ? {} : { bodyLines };
    for (const parts of splits(b(input))) {
      expect(s(encodeMultiline(parts, opts)), JSON.stringify(parts.map(s))).toBe(want);
    }
  });

  it('a line split across chunks and "." at the chunk boundary', () => {
    expect(s(encodeMultiline([b('A: 1\r\n\r\nfirst\r'), b('\n.second'), b(' half\r\n.')]))).toBe('A: 1\r\n\r\nfirst\r\n..second half\r\n..\r\n.\r\n');
    expect(s(encodeMultiline([b('x\n'), b('.'), b('.'), b('\n')]))).toBe('x\r\n...\r\n.\r\n');
  });

  it('works as a stream transform on a large message with long lines', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 5000; i++) lines.push((i % 7 === 0 ? '.' : '') + `line ${i} ` + 'x'.repeat(i % 300));
    const input = b('Subject: big\n\n' + lines.join('\n'));
    const want = encodeMultiline(input);
    const chunks: Buffer[] = [];
    for (let i = 0; i < input.length; i += 777) chunks.push(input.subarray(i, i + 777));
    const out: Buffer[] = [];
    for await (const c of Readable.from(chunks).pipe(new MultilineEncoder())) out.push(c as Buffer);
    const got = Buffer.concat(out);
    expect(got.equals(want)).toBe(true);
    // Un-stuffing and CRLF→LF gives back the original plus a final newline.
    const back = s(got).slice(0, -3).split('\r\n').map((l) => (l.startsWith('.') ? l.slice(1) : l)).join('\n');
    expect(back).toBe(s(input) + '\n');
  });
});

describe('LineFramer', () => {
  const lines = (units: FramedUnit[]) => units.map((u) => ('line' in u ? u.line : '<too long>'));

  it('splits CRLF and bare-LF lines under every chunk split', () => {
    const input = b('USER a\r\nPASS b c\nSTAT\r\n\r\nNOOP');
    for (const parts of splits(input)) {
      const f = new LineFramer(100);
      const got = parts.flatMap((p) => lines(f.push(p)));
      expect(got).toEqual(['USER a', 'PASS b c', 'STAT', '']);
      expect(f.pending).toBe(4);
    }
  });

  it('reports an over-long line once and resynchronises at its end', () => {
    for (const parts of splits(b('NOOP\r\n' + 'x'.repeat(30) + '\r\nSTAT\r\n'))) {
      const f = new LineFramer(20);
      expect(parts.flatMap((p) => lines(f.push(p)))).toEqual(['NOOP', '<too long>', 'STAT']);
    }
  });

  it('never buffers more than the limit', () => {
    const f = new LineFramer(64);
    for (let i = 0; i < 1000; i++) f.push(b('y'.repeat(1000)));
    expect(f.pending).toBeLessThanOrEqual(64);
    expect(lines(f.push(b('\r\nQUIT\r\n')))).toEqual(['QUIT']);
  });
});

describe('parseCommand / parseNumber (RFC 1939 §3)', () => {
  it.each([
    ['stat', { name: 'STAT', args: [], rest: '' }],
    ['RETR 1', { name: 'RETR', args: ['1'], rest: '1' }],
    ['TOP 1 10', { name: 'TOP', args: ['1', '10'], rest: '1 10' }],
    ['PASS secret with spaces', { name: 'PASS', args: ['secret', 'with', 'spaces'], rest: 'secret with spaces' }],
    ['AUTH PLAIN', { name: 'AUTH', args: ['PLAIN'], rest: 'PLAIN' }],
  ])('%s', (line, want) => {
    expect(parseCommand(line)).toEqual(want);
  });
  it.each(['', ' STAT', '\u0000\u0001', 'GET / HTTP/1.1'.replace('GET', 'G3T'), 'x'.repeat(17)])('rejects %j', (line) => {
    expect(parseCommand(line)).toBeUndefined();
  });
  it.each([
    ['1', 1],
    ['0', 0],
    ['42', 42],
    ['-1', undefined],
    ['1.5', undefined],
    [' 1', undefined],
    ['', undefined],
    ['1e3', undefined],
    ['9999999999', undefined],
  ])('parseNumber(%j)', (x, want) => {
    expect(parseNumber(x)).toBe(want);
  });
});
