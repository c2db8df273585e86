/**
 * ENVELOPE, BODY and BODYSTRUCTURE of the MIME corpus, compared byte for byte with the
 * answers recorded from Dovecot 2.3 (RFC 3501 §7.4.2, RFC 9051 §7.5.2).
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { analyzeMessage, bodyStructureToImap, envelopeToImap } from '../../src/imap/mime/index.js';
import { fixtureNames, loadRecorded } from './recorded.js';

/** Feeds the message in small odd-sized chunks so that lines straddle chunk borders. */
function chunked(buf: Buffer, size: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) parts.push(buf.subarray(i, i + size));
  return Readable.from(parts);
}

describe('ENVELOPE / BODY / BODYSTRUCTURE match Dovecot', () => {
  it.each(fixtureNames())('%s', async (name) => {
    const rec = loadRecorded(name);
    for (const size of [rec.eml.length || 1, 7, 1]) {
      const a = await analyzeMessage(chunked(rec.eml, size));
      // the store keeps the analysis as JSON
      const { envelope, bodyStructure } = JSON.parse(JSON.stringify(a));
      expect(envelopeToImap(envelope).toString('latin1'), 'ENVELOPE').toBe(rec.items.get('ENVELOPE')!.toString('latin1'));
      expect(bodyStructureToImap(bodyStructure, false).toString('latin1'), 'BODY').toBe(rec.items.get('BODY')!.toString('latin1'));
      expect(bodyStructureToImap(bodyStructure, true).toString('latin1'), 'BODYSTRUCTURE').toBe(
        rec.items.get('BODYSTRUCTURE')!.toString('latin1'),
      );
    }
  });
});
