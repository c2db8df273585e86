// A large message handed to the analyzer as one buffer (a big APPEND literal, a
// delivery from memory) must be analysed in one linear pass: per-line work that scans
// to the end of the chunk made a 16 MB message take minutes (seen as a hung test).
import { Readable } from 'node:stream';
import { expect, it } from 'vitest';
import { analyzeMessage } from '../../src/imap/mime/analyze.js';

it('analyses a 16 MB single-chunk message, counting its lines', async () => {
  const line = 'abcdefghijklmnopqrstuvwxyz0123456789\r\n';
  const lines = (16 * 1024 * 1024) / 32;
  const big = Buffer.concat([Buffer.from('Subject: big\r\n\r\n'), Buffer.from(line.repeat(lines))]);
  const a = await analyzeMessage(Readable.from([big]));
  const bs = a.bodyStructure as unknown as { lines?: number; size?: number; bodyEnd: number; bodyStart: number };
  expect(bs.bodyEnd - bs.bodyStart).toBe(line.length * lines);
});
