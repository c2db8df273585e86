/**
 * Section-spec parsing (RFC 3501 §6.4.5 / §9 section-spec), large messages streamed from
 * a file (analysis, seeking fetch, BINARY decoding), and the per-message entry points
 * with and without the analysis cached in MessageMeta.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  analyzeBuffer,
  analyzeMessage,
  binaryOf,
  binarySize,
  bodyStructureOf,
  contentToBuffer,
  envelopeOf,
  fetchBinarySection,
  fetchBodySection,
  MimeError,
  parseSection,
  rfc822Size,
  sectionOf,
  sectionToString,
  type OpenMessage,
} from '../../src/imap/mime/index.js';
import type { MessageMeta, Uid } from '../../src/store/types.js';
import { fileRangeReader, loadRecorded } from './recorded.js';

describe('parseSection', () => {
  it.each([
    ['', { part: [], text: '' }],
    ['HEADER', { part: [], text: 'HEADER' }],
    ['text', { part: [], text: 'TEXT' }],
    ['1', { part: [1], text: '' }],
    ['1.2.3', { part: [1, 2, 3], text: '' }],
    ['2.MIME', { part: [2], text: 'MIME' }],
    ['4.2.HEADER', { part: [4, 2], text: 'HEADER' }],
    ['HEADER.FIELDS (Subject From)', { part: [], text: 'HEADER.FIELDS', fields: ['Subject', 'From'] }],
    ['1.HEADER.FIELDS.NOT ("X-A" b)', { part: [1], text: 'HEADER.FIELDS.NOT', fields: ['X-A', 'b'] }],
  ])('%j', (input, want) => {
    expect(parseSection(input)).toEqual(want);
  });

  it.each(['MIME', '0', '01', '1.0', '4294967296', '1.', '1..2', 'HEADER.FIELDS ()', 'HEADER.FIELDS Subject', 'BOGUS', '1.2.FOO', 'HEADER.FIELDS (a"b)', 'HEADERX'])(
    'rejects %j as a bad section',
    (input) => {
      expect(() => parseSection(input)).toThrow(MimeError);
    },
  );

  it('takes part numbers up to 2^32 - 1; BINARY takes part numbers only (RFC 3516 §4.1)', () => {
    expect(parseSection('4294967295.1')).toEqual({ part: [4294967295, 1], text: '' });
    expect(parseSection('1.2', true)).toEqual({ part: [1, 2], text: '' });
    expect(() => parseSection('1.HEADER', true)).toThrow(MimeError);
    expect(() => parseSection('TEXT', true)).toThrow(MimeError);
  });

  it('echoes the section as Dovecot does (field names upper-cased)', () => {
    expect(sectionToString(parseSection('1.2.header.fields (Subject x-Mailer)'))).toBe('1.2.HEADER.FIELDS (SUBJECT X-MAILER)');
    expect(sectionToString(parseSection(''))).toBe('');
  });
});

describe('a large message streamed from a file', () => {
  let dir: string;
  let path: string;
  const payload = Buffer.alloc(12 * 1024 * 1024);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 7919) & 0xff;
  const b64 = payload.toString('base64').replace(/.{76}/g, '$&\r\n');
  const head = 'From: big@example.org\r\nSubject: big\r\nContent-Type: multipart/mixed; boundary="BIG"\r\n\r\n';
  const eml = Buffer.from(
    head +
      '--BIG\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n' +
      b64 +
      '\r\n--BIG\r\nContent-Type: text/plain\r\n\r\nthe end\r\n--BIG--\r\n',
  );

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'imap-mime-'));
    path = join(dir, 'big.eml');
    await writeFile(path, eml);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('analyses in one pass and fetches parts by seeking, decoding BINARY exactly', async () => {
    const { bodyStructure: bs } = await analyzeMessage(createReadStream(path, { highWaterMark: 64 * 1024 }));
    expect(bs.parts).toHaveLength(2);
    const [att, txt] = bs.parts!;
    expect(att.bodyEnd - att.bodyStart).toBe(b64.length);
    expect(att.bodySize).toBe(b64.length);
    expect(txt.bodySize).toBe('the end'.length);
    expect(bs.bodyEnd).toBe(eml.length);

    const read = fileRangeReader(path);
    const last = await fetchBodySection(read, bs, parseSection('2'));
    expect(Buffer.isBuffer(last.content)).toBe(false); // streamed, not buffered
    expect((await contentToBuffer(last)).toString()).toBe('the end');

    expect(await binarySize(read, bs, [1])).toBe(payload.length);
    const bin = await fetchBinarySection(read, bs, [1]);
    expect(bin.literal8).toBe(true);
    expect(bin.length).toBe(payload.length);
    expect(Buffer.isBuffer(bin.content)).toBe(false);
    expect((await contentToBuffer(bin)).equals(payload)).toBe(true);

    const slice = await fetchBinarySection(read, bs, [1], { origin: 5_000_000, length: 1000 });
    expect((await contentToBuffer(slice)).equals(payload.subarray(5_000_000, 5_001_000))).toBe(true);
  });
});

describe('per-message entry points', () => {
  const rec = loadRecorded('rfc822-attached');
  const meta = (): MessageMeta => ({ uid: 1 as Uid, flags: [], modseq: 1, size: rec.eml.length, internalDate: new Date(0) });

  it('analyses on demand when the index has no cached analysis', async () => {
    let opened = 0;
    const open: OpenMessage = async () => {
      opened++;
      return { stream: Readable.from([rec.eml]), size: rec.eml.length };
    };
    const m = meta();
    expect((await envelopeOf(m, open)).toString('latin1')).toBe(rec.items.get('ENVELOPE')!.toString('latin1'));
    expect((await bodyStructureOf(m, open, true)).toString('latin1')).toBe(rec.items.get('BODYSTRUCTURE')!.toString('latin1'));
    expect(opened).toBe(1); // analysed once per meta
    const s = await sectionOf(m, open, { part: [2], text: 'HEADER' });
    const want = rec.items.get('BODY[2.HEADER]')!.toString('latin1').replace(/^\{\d+\}\r\n/, '');
    expect((await contentToBuffer(s)).toString('latin1')).toBe(want);
  });

  it('uses the cached analysis without reading the message for ENVELOPE/BODYSTRUCTURE', async () => {
    // the store keeps the analysis as JSON in its index
    const m: MessageMeta = { ...meta(), ...(JSON.parse(JSON.stringify(await analyzeMessage(Readable.from([rec.eml])))) as object) };
    const open: OpenMessage = async () => {
      throw new Error('must not open');
    };
    expect((await bodyStructureOf(m, open, false)).toString('latin1')).toBe(rec.items.get('BODY')!.toString('latin1'));
    expect((await envelopeOf(m, open)).toString('latin1')).toBe(rec.items.get('ENVELOPE')!.toString('latin1'));
    // section bytes are read lazily, when the engine writes them
    const bin = await binaryOf(m, open, [1]);
    expect(bin.length).toBe(25);
    await expect(contentToBuffer(bin)).rejects.toThrow('must not open');
  });
});

describe('limits (Dovecot: 10000 parts)', () => {
  it('stops splitting after 10000 parts: the last part runs to the end of the message', async () => {
    let s = 'From: a@b\r\nSubject: many parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="m"\r\n\r\n';
    for (let i = 0; i < 10050; i++) s += `--m\r\n\r\n${i}\r\n`;
    s += '--m--\r\n';
    const { bodyStructure: bs } = await analyzeMessage(Readable.from([Buffer.from(s)]));
    expect(bs.parts).toHaveLength(9999); // plus the multipart itself
    const last = bs.parts![9998];
    expect(last.bodyEnd).toBe(s.length);
    expect(last.lines).toBe(155);
  });
});

describe('rfc822Size', () => {
  it('counts bare LFs as CRLF, equal to the BODY[] literal (Dovecot RFC822.SIZE)', () => {
    for (const name of ['lf-only', 'simple-text', 'no-trailing-crlf']) {
      const rec = loadRecorded(name);
      const bs = analyzeBuffer(rec.eml).bodyStructure;
      expect(String(rfc822Size(bs))).toBe(rec.items.get('RFC822.SIZE')!.toString());
    }
  });
});
