/**
 * Robustness: mutated corpus messages (bytes flipped, inserted, deleted, truncated; a
 * fixed seed) never make the analyzer or the section fetches throw, and every part's
 * ranges and sizes stay consistent with the bytes a fetch returns.
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  analyzeMessage,
  binarySize,
  bodyStructureToImap,
  contentToBuffer,
  envelopeToImap,
  fetchBinarySection,
  fetchBodySection,
  MimeError,
  streamRangeReader,
  type BodyPart,
} from '../../src/imap/mime/index.js';
import { fixtureNames, loadRecorded, rng } from './recorded.js';

const PIECES = ['\r\n', '\n', '--', '\r\n--', ':', ';', '"', '=', '\r\n\r\n', '\0', '\xff', '(', '<', 'Content-Type: multipart/mixed; boundary=x\r\n'];

function mutate(buf: Buffer, r: () => number): Buffer {
  let b = Buffer.from(buf);
  const n = 1 + Math.floor(r() * 6);
  for (let i = 0; i < n; i++) {
    const at = Math.floor(r() * (b.length + 1));
    const op = r();
    if (op < 0.3 && b.length > 0) b[Math.min(at, b.length - 1)] = Math.floor(r() * 256);
    else if (op < 0.6) b = Buffer.concat([b.subarray(0, at), Buffer.from(PIECES[Math.floor(r() * PIECES.length)], 'latin1'), b.subarray(at)]);
    else if (op < 0.85) b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + Math.floor(r() * 40)))]);
    else b = b.subarray(0, at);
  }
  return b;
}

function* parts(p: BodyPart, path: number[] = []): Generator<[number[], BodyPart]> {
  if (p.parts) for (let i = 0; i < p.parts.length; i++) yield* parts(p.parts[i], [...path, i + 1]);
  else if (p.message) {
    const pp = path.length ? path : [1]; // a top-level message/rfc822 is part 1
    yield [pp, p];
    const inner = p.message.body;
    if (inner.parts) for (let i = 0; i < inner.parts.length; i++) yield* parts(inner.parts[i], [...pp, i + 1]);
    else yield [[...pp, 1], inner];
  } else yield [path.length ? path : [1], p];
}

describe('mutated messages', () => {
  const names = fixtureNames();
  it('never throw and keep consistent ranges (400 seeded mutations)', async () => {
    const r = rng(20261122);
    for (let iter = 0; iter < 400; iter++) {
      const base = loadRecorded(names[iter % names.length]).eml;
      const eml = mutate(base, r);
      const chunk = 1 + Math.floor(r() * 50);
      const pieces: Buffer[] = [];
      for (let i = 0; i < eml.length; i += chunk) pieces.push(eml.subarray(i, i + chunk));
      const { envelope, bodyStructure: bs } = await analyzeMessage(Readable.from(pieces));
      envelopeToImap(envelope);
      bodyStructureToImap(bs, true);
      expect(bs.bodyEnd).toBe(eml.length);
      const read = streamRangeReader(() => Readable.from([eml]));
      const whole = await fetchBodySection(read, bs, { part: [] });
      expect((await contentToBuffer(whole)).length).toBe(whole.length);
      for (const [path, p] of parts(bs)) {
        expect(p.headerStart).toBeLessThanOrEqual(p.bodyStart);
        expect(p.bodyStart).toBeLessThanOrEqual(p.bodyEnd);
        expect(p.bodyEnd).toBeLessThanOrEqual(eml.length);
        const body = await fetchBodySection(read, bs, { part: path });
        const data = await contentToBuffer(body);
        expect(data.length).toBe(body.length);
        expect(body.length).toBe(p.bodySize);
        const mime = await fetchBodySection(read, bs, { part: path, text: 'MIME' });
        expect((await contentToBuffer(mime)).length).toBe(mime.length);
        try {
          const bin = await fetchBinarySection(read, bs, path);
          expect((await contentToBuffer(bin)).length).toBe(bin.length);
          expect(await binarySize(read, bs, path)).toBe(bin.length);
        } catch (e) {
          expect(e).toBeInstanceOf(MimeError);
        }
      }
    }
  });
});
