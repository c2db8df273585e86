/**
 * The one seam between the protocol engine and MIME analysis (src/imap/mime/). FETCH
 * and SEARCH call only these functions, which delegate to mime/message.ts: the analysis
 * (envelope + body structure with part offsets) cached by the store at delivery, or
 * computed on demand for messages stored without it. ENVELOPE and BODYSTRUCTURE come
 * back as wire bytes (Dovecot's forms), sections as SectionContent (exact length, then
 * a buffer or a stream read from the file).
 */
import type { Readable } from 'node:stream';
import type { MessageMeta } from '../store/types.js';
import * as mime from './mime/index.js';
import type { SectionContent } from './mime/index.js';

/** Opens the stored message (whole file). */
export type OpenMessage = () => Promise<{ stream: Readable; size: number }>;

export interface SectionSpec {
  /** Part numbers ("1.2" → [1, 2]); empty for the whole message. */
  part: number[];
  text?: 'HEADER' | 'HEADER.FIELDS' | 'HEADER.FIELDS.NOT' | 'TEXT' | 'MIME';
  fields?: string[];
}

const partialOf = (p?: [number, number]) => (p ? { origin: p[0], length: p[1] } : undefined);

/** ENVELOPE (RFC 9051 §7.5.2) as wire bytes. */
export function envelopeOf(meta: MessageMeta, open: OpenMessage): Promise<Buffer> {
  return mime.envelopeOf(meta, open);
}

/** BODY / BODYSTRUCTURE (RFC 9051 §7.5.2) as wire bytes. */
export function bodyStructureOf(meta: MessageMeta, open: OpenMessage, extended: boolean): Promise<Buffer> {
  return mime.bodyStructureOf(meta, open, extended);
}

/** BODY[section]<partial> (RFC 9051 §6.4.5). */
export function sectionOf(meta: MessageMeta, open: OpenMessage, spec: SectionSpec, partial?: [number, number]): Promise<SectionContent> {
  return mime.sectionOf(meta, open, { part: spec.part, text: spec.text ?? '', fields: spec.fields }, partialOf(partial));
}

/** BINARY[part]<partial> (RFC 3516, RFC 9051 §6.4.5); MimeError('unknownCte') when undecodable. */
export function binaryOf(meta: MessageMeta, open: OpenMessage, part: number[], partial?: [number, number]): Promise<SectionContent> {
  return mime.binaryOf(meta, open, part, partialOf(partial));
}

/** BINARY.SIZE[part] (RFC 3516 §4.2). */
export function binarySizeOf(meta: MessageMeta, open: OpenMessage, part: number[]): Promise<number> {
  return mime.binarySizeOf(meta, open, part);
}

/** SEARCH BODY / TEXT: case-insensitive substring of the decoded text (RFC 9051 §6.4.4). */
export function matchText(meta: MessageMeta, open: OpenMessage, where: 'BODY' | 'TEXT', needle: string): Promise<boolean> {
  return mime.matchText(meta, open, where, needle);
}

/** SEARCH HEADER name value (RFC 9051 §6.4.4), reading the header block. */
export function matchHeader(meta: MessageMeta, open: OpenMessage, name: string, needle: string): Promise<boolean> {
  return mime.matchHeader(meta, open, name, needle);
}

/** The calendar day of the Date header (SENTBEFORE/SENTON/SENTSINCE), undefined when absent. */
export async function sentDayOf(meta: MessageMeta, open: OpenMessage): Promise<Date | undefined> {
  return (await mime.sentDateOf(meta, open))?.day;
}

/** Decodes a raw header value (RFC 2047 words, 8-bit bytes) to readable text. */
export function headerText(raw: string): string {
  return mime.headerText(raw);
}
