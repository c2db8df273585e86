/**
 * The entry points FETCH and SEARCH call per message: they take the store's MessageMeta
 * (with the analysis cached at delivery) and the message's bytes, and use the cached
 * envelope / body structure when present, analysing the message on the fly otherwise
 * (messages stored before an analyzer was configured, or whose cache is of an older
 * format).
 *
 * Bytes of sections are read through a RangeReader: the caller's seeking one when it
 * gives one (`{ open, read }`, e.g. FETCH over a store with SupportsRangeRead: only the
 * section's bytes are read), else one built on the opener, which reads from byte 0 and
 * skips (SEARCH reads a message in one pass anyway).
 */
import type { Readable } from 'node:stream';
import type { MessageMeta } from '../../store/types.js';
import { analyzeMessage } from './analyze.js';
import { bodyStructureToImap, envelopeToImap } from './format.js';
import { matchesText, matchesTexts, readHeaderBlock, searchHeader, sentDate, sentDay } from './search.js';
import { binarySize, fetchBinarySection } from './binary.js';
import { streamRangeReader, type RangeReader } from './bytes.js';
import { fetchBodySection, findPart, type SectionContent } from './section.js';
import type { PartialRange, SectionSpec } from './spec.js';
import type { BodyPart, MessageAnalysis } from './types.js';

/** Opens the stored message (whole file), as MailStore.readMessage does. */
export type OpenMessage = () => Promise<{ stream: Readable; size: number }>;

/** Where the message bytes come from: an opener of the whole message, or a seeking reader too. */
export type MessageBytes = OpenMessage | { open: OpenMessage; read?: RangeReader };

function opener(src: MessageBytes): OpenMessage {
  return typeof src === 'function' ? src : src.open;
}

/** A RangeReader for a message source (seeking when one was given). */
export function rangeReaderOf(src: MessageBytes): RangeReader {
  if (typeof src !== 'function' && src.read) return src.read;
  const open = opener(src);
  return streamRangeReader(async () => (await open()).stream);
}

/** True if the value cached in the index is an analysis of this module's format. */
export function isAnalysis(v: { envelope?: unknown; bodyStructure?: unknown }): v is MessageAnalysis {
  const bs = v.bodyStructure as { bodyStart?: unknown; type?: unknown; hasBlankLine?: unknown } | undefined;
  const env = v.envelope as { from?: unknown } | undefined;
  return (
    typeof bs === 'object' &&
    bs !== null &&
    typeof bs.bodyStart === 'number' &&
    typeof bs.type === 'string' &&
    typeof bs.hasBlankLine === 'boolean' &&
    typeof env === 'object' &&
    env !== null &&
    'from' in env
  );
}

const analysed = new WeakMap<MessageMeta, Promise<MessageAnalysis>>();

/** The analysis of a message: cached in its meta, or computed now (once per meta object). */
export function analysisOf(meta: MessageMeta, src: MessageBytes): Promise<MessageAnalysis> {
  if (isAnalysis(meta)) return Promise.resolve({ envelope: meta.envelope, bodyStructure: meta.bodyStructure });
  let p = analysed.get(meta);
  if (!p) {
    p = (async () => {
      const { stream } = await opener(src)();
      try {
        return await analyzeMessage(stream);
      } finally {
        stream.destroy();
      }
    })();
    analysed.set(meta, p);
    p.catch(() => analysed.delete(meta));
  }
  return p;
}

/**
 * RFC822.SIZE as Dovecot reports it: the IMAP size of the message, bare LFs counted as
 * CRLF, which is exactly the length of the BODY[] literal (the file size may be smaller).
 */
export function rfc822Size(bs: BodyPart): number {
  return bs.headerSize + bs.bodySize;
}

/** ENVELOPE wire text (RFC 3501 §7.4.2), without the "ENVELOPE " prefix. */
export async function envelopeOf(meta: MessageMeta, src: MessageBytes): Promise<Buffer> {
  return envelopeToImap((await analysisOf(meta, src)).envelope);
}

/** BODY (extended = false) or BODYSTRUCTURE (extended = true) wire text. */
export async function bodyStructureOf(meta: MessageMeta, src: MessageBytes, extended: boolean): Promise<Buffer> {
  return bodyStructureToImap((await analysisOf(meta, src)).bodyStructure, extended);
}

/** BODY[section]<partial> content (RFC 3501 §6.4.5); a missing part gives an empty string. */
export async function sectionOf(meta: MessageMeta, src: MessageBytes, spec: SectionSpec, partial?: PartialRange): Promise<SectionContent> {
  const { bodyStructure } = await analysisOf(meta, src);
  return fetchBodySection(rangeReaderOf(src), bodyStructure, spec, partial);
}

/**
 * Whether the section names something the message has (FETCH answers a missing part with
 * an empty string; an IMAP URL to one is invalid, RFC 4469 §5 BADURL).
 */
export async function sectionExists(meta: MessageMeta, src: MessageBytes, spec: SectionSpec): Promise<boolean> {
  const { bodyStructure } = await analysisOf(meta, src);
  const part = findPart(bodyStructure, spec.part);
  if (!part) return false;
  const text = spec.text ?? '';
  // HEADER, TEXT and HEADER.FIELDS of a part need a message there (the top level or message/rfc822).
  return text === '' || text === 'MIME' || spec.part.length === 0 || part.message !== undefined;
}

/** BINARY[part]<partial> content (RFC 3516); throws MimeError('unknownCte'). */
export async function binaryOf(meta: MessageMeta, src: MessageBytes, part: number[], partial?: PartialRange): Promise<SectionContent> {
  const { bodyStructure } = await analysisOf(meta, src);
  return fetchBinarySection(rangeReaderOf(src), bodyStructure, part, partial);
}

/** BINARY.SIZE[part] (RFC 3516 §4.2); throws MimeError('unknownCte'). */
export async function binarySizeOf(meta: MessageMeta, src: MessageBytes, part: number[]): Promise<number> {
  const { bodyStructure } = await analysisOf(meta, src);
  return binarySize(rangeReaderOf(src), bodyStructure, part);
}

/** SEARCH BODY / TEXT. */
export async function matchText(meta: MessageMeta, src: MessageBytes, where: 'BODY' | 'TEXT', needle: string): Promise<boolean> {
  const { bodyStructure } = await analysisOf(meta, src);
  return matchesText(rangeReaderOf(src), bodyStructure, where, needle);
}

/** SEARCH with several BODY (or TEXT) keys: one pass over the message for all needles. */
export async function matchTexts(meta: MessageMeta, src: MessageBytes, where: 'BODY' | 'TEXT', needles: readonly string[]): Promise<boolean[]> {
  const { bodyStructure } = await analysisOf(meta, src);
  return matchesTexts(rangeReaderOf(src), bodyStructure, where, needles);
}

/** The header block of the message (SEARCH HEADER with several keys reads it once). */
export async function headerBlockOf(meta: MessageMeta, src: MessageBytes): Promise<Buffer> {
  const { bodyStructure } = await analysisOf(meta, src);
  return readHeaderBlock(rangeReaderOf(src), bodyStructure);
}

/** SEARCH HEADER name needle (and FROM, TO, CC, BCC, SUBJECT with their field names). */
export async function matchHeader(meta: MessageMeta, src: MessageBytes, name: string, needle: string): Promise<boolean> {
  const { bodyStructure } = await analysisOf(meta, src);
  return searchHeader(await readHeaderBlock(rangeReaderOf(src), bodyStructure), name, needle);
}

/** The Date header's instant and calendar day (SENTON/SENTBEFORE/SENTSINCE); undefined when absent or invalid. */
export async function sentDateOf(meta: MessageMeta, src: MessageBytes): Promise<{ date: Date; day: Date } | undefined> {
  const { envelope } = await analysisOf(meta, src);
  const date = sentDate(envelope);
  const day = sentDay(envelope);
  return date && day ? { date, day } : undefined;
}
