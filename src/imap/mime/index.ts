/**
 * MIME side of IMAP FETCH and SEARCH (RFC 3501 §6.4.4, §6.4.5, §7.4.2; RFC 9051;
 * RFC 3516 BINARY). What the protocol engine uses:
 *
 * Delivery (the store's MessageAnalyzer, runs once per message; result cached as JSON):
 *   analyzeMessage(source: Readable): Promise<{ envelope: Envelope; bodyStructure: BodyPart }>
 *
 * Per message, from MessageMeta + an opener (message.ts; use the cache, else analyse):
 *   envelopeOf(meta, src): Promise<Buffer>                      ENVELOPE wire text
 *   bodyStructureOf(meta, src, extended): Promise<Buffer>       BODY / BODYSTRUCTURE wire text
 *   sectionOf(meta, src, spec, partial?): Promise<SectionContent>   BODY[section]<partial>
 *   binaryOf(meta, src, part, partial?): Promise<SectionContent>    BINARY[part]<partial>
 *   binarySizeOf(meta, src, part): Promise<number>                  BINARY.SIZE[part]
 *   matchText(meta, src, 'BODY' | 'TEXT', needle): Promise<boolean> SEARCH BODY / TEXT
 *   matchHeader(meta, src, name, needle): Promise<boolean>          SEARCH HEADER/FROM/TO/CC/BCC/SUBJECT
 *   sentDateOf(meta, src): Promise<{ date; day } | undefined>       SENTON / SENTBEFORE / SENTSINCE (use `day`)
 *   rfc822Size(bodyStructure): number                               RFC822.SIZE (bare LF counted as CRLF)
 *   where src is `() => store.readMessage(account, mailboxId, uid)` (reads from byte 0),
 *   or `{ open, read }` with a seeking RangeReader (reads only the section's bytes:
 *   FETCH passes one over the store's readMessageRange, SupportsRangeRead).
 *
 * The section grammar, one parser for FETCH and the tests (spec.ts):
 *   readSection(input, binary) reads `[section]` from the wire parser (literals too);
 *   parseSection('1.2.HEADER.FIELDS (Subject From)') → SectionSpec from a string;
 *   sectionToString(spec) is the form echoed in the response (field names upper-cased
 *   as Dovecot does).
 *
 * Lower level: envelopeToImap(env), bodyStructureToImap(bs, extended) → Buffer;
 *   fetchBodySection (section.ts) / fetchBinarySection / binarySize (binary.ts) over a
 *   RangeReader; streamRangeReader(open) (bytes.ts);
 *   headerValues, searchHeader, matchesText, sentDate, sentDay, headerText (search.ts).
 *
 * Wire text is returned as Buffers of exact bytes (strings already quoted or sent as
 * literals; header bytes kept raw): write them with Encoder.rawBuffer(). SectionContent
 * gives the exact length before any byte is read: write `{length}\r\n` (or `~{length}`
 * when literal8 is true, RFC 3516 §4.2) then `content`: a Buffer, or a lazy Readable
 * that opens the file on its first read and yields exactly `length` bytes.
 *
 * Behaviour follows Dovecot 2.3 byte for byte on the corpus in test/fixtures/mime
 * (recorded with scripts/record-dovecot-mime.py and scripts/record-dovecot-search.py);
 * the few known differences are listed in the tests that skip them.
 *
 * Errors: MimeError('unknownCte') → `NO [UNKNOWN-CTE]` (RFC 3516 §4.3);
 * MimeError('badSection') from readSection / parseSection → BAD.
 */
export { analyzeMessage, analyzeBuffer, MimeScanner } from './analyze.js';
export { binarySize, fetchBinarySection } from './binary.js';
export { streamRangeReader, type RangeReader } from './bytes.js';
export { Base64Decoder, QpDecoder } from './decode.js';
export { envelopeToImap, bodyStructureToImap } from './format.js';
export { contentToBuffer, fetchBodySection, filterHeader, findPart, type SectionContent } from './section.js';
export { parseSection, readSection, sectionToString, type PartialRange, type SectionInput, type SectionSpec, type SectionText } from './spec.js';
export { headerText, headerValues, matchesText, matchesTexts, readHeaderBlock, searchHeader, sentDate, sentDay, parseRfc5322Date } from './search.js';
export { addressText, searchDocument } from './search-doc.js';
export * from './message.js';
export * from './types.js';
