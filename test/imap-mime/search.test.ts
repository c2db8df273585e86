/**
 * SEARCH support (RFC 3501 §6.4.4): decoded header matching, BODY/TEXT substring on
 * decoded text (transfer encodings and charsets undone), sent dates.
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  analyzeBuffer,
  headerValues,
  matchesText,
  readHeaderBlock,
  searchHeader,
  sentDate,
  sentDay,
  streamRangeReader,
  type RangeReader,
} from '../../src/imap/mime/index.js';
import { loadRecorded } from './recorded.js';

/** A reader that delivers the message one byte per chunk, so matches straddle chunks. */
function byteReader(eml: Buffer): RangeReader {
  return streamRangeReader(() => Readable.from((function* () {
    for (let i = 0; i < eml.length; i++) yield eml.subarray(i, i + 1);
  })()));
}

async function setup(name: string) {
  const { eml } = loadRecorded(name);
  const a = analyzeBuffer(eml);
  const read = streamRangeReader(() => Readable.from([eml]));
  const header = await readHeaderBlock(read, a.bodyStructure);
  return { eml, a, read, header };
}

describe('header search (RFC 3501 §6.4.4 HEADER/FROM/SUBJECT)', () => {
  it('decodes encoded-words (RFC 2047) before matching, case-insensitively', async () => {
    const { header } = await setup('encoded-words');
    expect(headerValues(header, 'subject')).toEqual(['Hello World and café continued']);
    expect(searchHeader(header, 'Subject', 'CAFÉ')).toBe(true);
    expect(searchHeader(header, 'from', 'jørn simonsen')).toBe(true);
    expect(searchHeader(header, 'to', '日本語')).toBe(true);
    expect(searchHeader(header, 'Subject', 'absent words')).toBe(false);
  });

  it('reads raw 8-bit headers as UTF-8, or latin1 when not valid UTF-8', async () => {
    expect(searchHeader((await setup('8bit-headers')).header, 'subject', 'grüße aus köln')).toBe(true);
    expect(searchHeader((await setup('latin1-headers')).header, 'subject', 'RÉSUMÉ')).toBe(true);
  });

  it('an empty string matches any message that has the field, and only those', async () => {
    const { header } = await setup('simple-text');
    expect(searchHeader(header, 'In-Reply-To', '')).toBe(true);
    expect(searchHeader(header, 'X-Not-There', '')).toBe(false);
  });
});

describe('BODY / TEXT search on decoded text', () => {
  it.each([
    ['base64-qp', 'BODY', 'NEEDLE inside', true], // base64 text part
    ['base64-qp', 'BODY', 'soft break, and café', true], // quoted-printable soft break + UTF-8
    ['base64-qp', 'BODY', 'Transfer encodings', false], // only in the header
    ['base64-qp', 'TEXT', 'transfer ENCODINGS', true],
    ['nested-mixed-alternative', 'BODY', 'café au lait, très bon', true], // QP iso-8859-1
    ['nested-mixed-alternative', 'BODY', '%PDF-1.4', false], // attachments are not text
    ['latin1-headers', 'BODY', 'résumé en français', true], // 8bit iso-8859-1
    ['encoded-words', 'BODY', 'line two', true],
    ['rfc822-attached', 'BODY', 'inner plain text', true], // inside message/rfc822
    ['rfc822-attached', 'TEXT', 'inner subjéct', true], // encapsulated header, decoded
    ['rfc822-attached', 'BODY', 'inner subjéct', false],
    ['lf-only', 'BODY', 'plain\ntwo', true],
    ['simple-text', 'BODY', 'nowhere to be found', false],
  ] as const)('%s %s %j → %s', async (name, where, needle, want) => {
    const { a, read, eml } = await setup(name);
    expect(await matchesText(read, a.bodyStructure, where, needle)).toBe(want);
    expect(await matchesText(byteReader(eml), a.bodyStructure, where, needle)).toBe(want);
  });
});

it('reads a message once per BODY/TEXT search, even with a non-seeking reader', async () => {
  const { eml, a } = await setup('nested-mixed-alternative');
  let opens = 0;
  const read = streamRangeReader(() => {
    opens++;
    return Readable.from([eml]);
  });
  expect(await matchesText(read, a.bodyStructure, 'TEXT', 'not in this message')).toBe(false);
  expect(opens).toBe(1);
});

describe('sent date (SENTON/SENTBEFORE/SENTSINCE)', () => {
  it('parses RFC 5322 dates with zone and comment; the day disregards time and zone', async () => {
    const { a } = await setup('simple-text');
    expect(sentDate(a.envelope)?.toISOString()).toBe('1994-02-08T05:52:25.000Z');
    expect(sentDay(a.envelope)?.toISOString()).toBe('1994-02-07T00:00:00.000Z');
  });

  it('folded date headers parse; invalid or missing ones give undefined', async () => {
    expect(sentDate((await setup('folded-headers')).a.envelope)?.toISOString()).toBe('1994-02-08T05:52:25.000Z');
    expect(sentDate((await setup('address-forms')).a.envelope)).toBeUndefined();
    expect(sentDay((await setup('empty-body')).a.envelope)).toBeUndefined();
  });
});
