/**
 * BODY[section]<partial>, BINARY[section] and BINARY.SIZE of the MIME corpus, compared
 * byte for byte with the answers recorded from Dovecot (RFC 3501 §6.4.5, RFC 3516).
 * Every fetch runs over both range readers: a seeking file reader and a stream reader.
 */
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  analyzeBuffer,
  binarySize,
  contentToBuffer,
  fetchBinarySection,
  fetchBodySection,
  MimeError,
  parseSection,
  sectionToString,
  streamRangeReader,
  type RangeReader,
} from '../../src/imap/mime/index.js';
import { fileRangeReader, fixtureNames, FIXTURES, loadRecorded } from './recorded.js';

/** `BODY[1.2]<5>` → kind, section text, origin. */
function splitItem(item: string): { kind: string; section: string; origin?: number } {
  const m = /^([A-Z.]+)\[(.*)\](?:<(\d+)>)?$/s.exec(item)!;
  return { kind: m[1], section: m[2], origin: m[3] === undefined ? undefined : Number(m[3]) };
}

function literal(value: Buffer): { literal8: boolean; data: Buffer } {
  const m = /^(~?)\{(\d+)\}\r\n/.exec(value.toString('latin1'))!;
  return { literal8: m[1] === '~', data: value.subarray(m[0].length) };
}

describe('section fetches match Dovecot', () => {
  it.each(fixtureNames())('%s', async (name) => {
    const rec = loadRecorded(name);
    const root = analyzeBuffer(rec.eml).bodyStructure;
    const path = join(FIXTURES, name + '.eml');
    const readers: RangeReader[] = [fileRangeReader(path), streamRangeReader(() => Readable.from([rec.eml]))];
    let checked = 0;
    for (const [item, value] of rec.items) {
      if (!/^!?(BODY|BINARY|BINARY\.SIZE)\[/.test(item)) continue;
      for (const read of readers) {
        if (item.startsWith('!')) {
          // e.g. "!BINARY.PEEK[1]" answered NO [UNKNOWN-CTE]
          expect(value.toString('latin1')).toMatch(/^NO \[UNKNOWN-CTE\]/);
          const { kind, section } = splitItem(item.slice(1).replace('.PEEK', ''));
          const spec = parseSection(section);
          const run = kind === 'BINARY.SIZE' ? binarySize(read, root, spec.part) : fetchBinarySection(read, root, spec.part);
          await expect(run).rejects.toSatisfy((e) => e instanceof MimeError && e.kind === 'unknownCte');
          checked++;
          continue;
        }
        const { kind, section, origin } = splitItem(item);
        const spec = parseSection(section);
        expect(sectionToString(spec), item).toBe(section);
        if (kind === 'BINARY.SIZE') {
          expect(String(await binarySize(read, root, spec.part)), item).toBe(value.toString('latin1'));
          checked++;
          continue;
        }
        const want = literal(value);
        const partial = origin === undefined ? undefined : { origin, length: want.data.length };
        const got = kind === 'BODY' ? await fetchBodySection(read, root, spec, partial) : await fetchBinarySection(read, root, spec.part, partial);
        const data = await contentToBuffer(got);
        expect(data.length, `${item} length`).toBe(got.length);
        expect(data.toString('latin1'), item).toBe(want.data.toString('latin1'));
        expect(got.literal8, `${item} literal8`).toBe(want.literal8);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(10);
  });
});
