// A large message handed to the analyzer as one buffer (a big APPEND literal, a
// delivery from memory) must be analysed in one linear pass: per-line work that scans
// to the end of the chunk made a 16 MB message take minutes (seen as a hung test).
// The result must be right too: every line counted (BODYSTRUCTURE's line count of a
// text part, RFC 9051 §7.5.2), the sizes exact.
import { Readable } from 'node:stream';
import { expect, it } from 'vitest';
import { analyzeMessage } from '../../src/imap/mime/analyze.js';

it('analyses a 16 MB single-chunk message, counting its lines', async () => {
  const line = 'abcdefghijklmnopqrstuvwxyz0123456789\r\n';
  const lines = (16 * 1024 * 1024) / 32;
  const head = 'Subject: big\r\n\r\n';
  const big = Buffer.concat([Buffer.from(head), Buffer.from(line.repeat(lines))]);
  const { bodyStructure: bs } = await analyzeMessage(Readable.from([big]));
  expect(bs.type.toLowerCase()).toBe('text');
  expect(bs.lines).toBe(lines);
  expect(bs.bodyStart).toBe(head.length);
  expect(bs.bodyEnd - bs.bodyStart).toBe(line.length * lines);
  expect(bs.headerSize + bs.bodySize).toBe(big.length);
});
