// Fuzzing the MIME analyzer (issue 14 item 9, src/imap/mime/analyze.ts): the mutated
// corpus of test/fixtures/mime through the streaming scanner at random splits, then
// through ENVELOPE/BODYSTRUCTURE formatting; and the section grammar FETCH reads.
// See test/fuzz/lib.ts for budgets and replay.
import { describe, expect, it } from 'vitest';
import { analyzeBuffer, bodyStructureToImap, envelopeToImap, MimeError, MimeScanner, parseSection, rfc822Size } from '../../src/imap/mime/index.js';
import { budgetMs, chunks, fuzz, mimeCorpus, mutate, testTimeout } from './lib.js';

const MIME = mimeCorpus();
const SECTIONS = ['', 'HEADER', 'TEXT', '1', '1.2', '2.MIME', '1.HEADER.FIELDS (Subject From)', 'HEADER.FIELDS.NOT (To)', '3.1.TEXT', '1.2.3.4.5'];
const SECTION_DICT = SECTIONS.map((s) => Buffer.from(s));

describe('MIME analyzer', () => {
  it('analyses any bytes the same at any split, and formats the result', { timeout: testTimeout() }, async () => {
    await fuzz('mime', (rng) => {
      const base = rng.chance(0.1) ? Buffer.concat([rng.pick(MIME), rng.pick(MIME)]) : rng.pick(MIME);
      const msg = mutate(rng, base, MIME);
      const whole = analyzeBuffer(msg);
      const s = new MimeScanner();
      for (const c of chunks(rng, msg)) s.write(c);
      expect(s.end()).toEqual(whole);
      envelopeToImap(whole.envelope);
      bodyStructureToImap(whole.bodyStructure, true);
      bodyStructureToImap(whole.bodyStructure, false);
      const size = rfc822Size(whole.bodyStructure);
      expect(Number.isSafeInteger(size) && size >= msg.length).toBe(true);
    });
  });

  it('parses any section specifier or refuses it with a MimeError', { timeout: testTimeout() }, async () => {
    await fuzz('mime-section', (rng) => {
      const spec = mutate(rng, Buffer.from(rng.pick(SECTIONS)), SECTION_DICT).toString('latin1');
      try {
        parseSection(spec, rng.chance(0.3));
      } catch (err) {
        if (!(err instanceof MimeError)) throw err;
      }
    }, { budget: Math.max(500, budgetMs() / 4) });
  });
});
