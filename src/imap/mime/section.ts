/**
 * Section fetches: BODY[section]<partial> (RFC 3501 §6.4.5, RFC 9051 §6.4.5), served
 * from the part offsets cached at delivery: only the bytes of the section are read,
 * through a RangeReader that seeks when the store can (SupportsRangeRead), and they are
 * streamed, so a 50 MB body is never held in memory. BINARY is in binary.ts, the
 * section grammar in spec.ts.
 *
 * Implementation notes (Dovecot 2.3 behaviour, recorded in test/fixtures/mime):
 * - Output lines always end in CRLF: bare LFs of the stored file are converted, and the
 *   sizes cached at delivery already count them that way (RFC 3501 §2.1).
 * - Part numbers: a part of a non-multipart is only "1" (so 1.1.1 is the same part);
 *   after a message/rfc822 part the next number walks into the encapsulated message.
 *   A part that does not exist gives an empty string (Dovecot), not an error.
 * - N.MIME is the part's own header; for a single-part message 1.MIME is the message
 *   header. HEADER/TEXT/HEADER.FIELDS after a part number apply to a message/rfc822
 *   part's encapsulated message.
 * - HEADER.FIELDS (.NOT) output ends with an empty line when the header had one or when
 *   any field was selected.
 * - BODY sections turn NUL into 0x80 (a literal's CHAR8 excludes NUL: RFC 9051 §4.3.1, §9).
 */
import type { Readable } from 'node:stream';
import { CRLF, CrlfTransform, lazyReadable, NulTransform, pipeErr, readAll, replaceNul, SliceTransform, toCrlf, type RangeReader } from './bytes.js';
import { parseHeaderBlock } from './header.js';
import type { PartialRange, SectionSpec } from './spec.js';
import type { BodyPart } from './types.js';

/** Physical range plus its IMAP (CRLF) size. */
export interface Span {
  start: number;
  end: number;
  size: number;
}

/**
 * The content of a section: its exact length (known before any byte is read, for the
 * literal's `{n}`), and the bytes (small pieces) or a stream yielding exactly `length`
 * bytes. The stream is lazy: the file is opened on the first read, so an unwritten
 * stream costs nothing (destroy it to be tidy).
 */
export interface SectionContent {
  length: number;
  /** Send as literal8 `~{n}` (RFC 3516 §4.2): BINARY content that was decoded. */
  literal8: boolean;
  content: Buffer | Readable;
}

export function emptyContent(): SectionContent {
  return { length: 0, literal8: false, content: Buffer.alloc(0) };
}

export function clampPartial(size: number, partial?: PartialRange): { from: number; len: number } {
  if (!partial) return { from: 0, len: size };
  const from = Math.min(partial.origin, size);
  const len = Math.min(size - from, partial.length ?? Number.MAX_SAFE_INTEGER);
  return { from, len };
}

/** Streams a span with CRLF line ends and NULs replaced, sliced by a partial range. */
export async function spanContent(read: RangeReader, span: Span, partial?: PartialRange, keepNul = false): Promise<SectionContent> {
  const { from, len } = clampPartial(span.size, partial);
  if (len <= 0) return emptyContent();
  const nul = (s: Readable): Readable => (keepNul ? s : pipeErr(s, new NulTransform()));
  if (span.size === span.end - span.start) {
    // no bare LF inside: IMAP bytes are file bytes, seek directly
    return { length: len, literal8: false, content: lazyReadable(async () => nul(await read(span.start + from, span.start + from + len))) };
  }
  const open = async () => {
    const src = await read(span.start, span.end);
    return nul(pipeErr(pipeErr(src, new CrlfTransform()), new SliceTransform(from, len, () => src.destroy())));
  };
  return { length: len, literal8: false, content: lazyReadable(open) };
}

// --- Part lookup ---------------------------------------------------------------------

/**
 * The part a section's numbers refer to (RFC 3501 §6.4.5), or null if it does not
 * exist. `[]` is the message itself.
 */
export function findPart(root: BodyPart, path: number[]): BodyPart | null {
  let part: BodyPart | null = root;
  for (let i = 0; i < path.length && part; i++) {
    const n = path[i];
    if (part.parts) part = part.parts[n - 1] ?? null;
    else if (n !== 1) part = null; // only "1" inside a non-multipart (Dovecot)
    if (part && part.message && i < path.length - 1) part = part.message.body;
  }
  return part;
}

export function headerSpan(p: BodyPart): Span {
  return { start: p.headerStart, end: p.bodyStart, size: p.headerSize };
}
export function bodySpan(p: BodyPart): Span {
  return { start: p.bodyStart, end: p.bodyEnd, size: p.bodySize };
}

/**
 * BODY[section]<partial>: the exact bytes, without setting any flag (the engine sets
 * \Seen for non-PEEK fetches). Missing parts give an empty string.
 */
export async function fetchBodySection(read: RangeReader, root: BodyPart, spec: SectionSpec, partial?: PartialRange): Promise<SectionContent> {
  const part = findPart(root, spec.part);
  if (!part) return emptyContent();
  const text = spec.text ?? '';
  if (spec.part.length === 0 && text === '') {
    // the whole message (RFC822)
    return spanContent(read, { start: 0, end: root.bodyEnd, size: root.headerSize + root.bodySize }, partial);
  }
  if (text === '') return spanContent(read, bodySpan(part), partial);
  if (text === 'MIME') return spanContent(read, headerSpan(part), partial);
  // HEADER, TEXT, HEADER.FIELDS[.NOT] of a message: the top level or a message/rfc822 part
  const msg = spec.part.length === 0 ? root : part.message?.body;
  if (!msg) return emptyContent();
  if (text === 'HEADER') return spanContent(read, headerSpan(msg), partial);
  if (text === 'TEXT') return spanContent(read, bodySpan(msg), partial);
  // a header is read whole to filter it; a pathological one is cut at 4 MB (memory bound)
  const header = await readAll(await read(msg.headerStart, Math.min(msg.bodyStart, msg.headerStart + MAX_FILTERED_HEADER)));
  const data = replaceNul(filterHeader(header, spec.fields ?? [], text === 'HEADER.FIELDS.NOT', msg.hasBlankLine));
  const { from, len } = clampPartial(data.length, partial);
  return { length: len, literal8: false, content: data.subarray(from, from + len) };
}

const MAX_FILTERED_HEADER = 4 * 1024 * 1024;

/** HEADER.FIELDS / HEADER.FIELDS.NOT (RFC 3501 §6.4.5): matching fields, names case-insensitive. */
export function filterHeader(header: Buffer, names: string[], not: boolean, hadBlankLine: boolean): Buffer {
  const wanted = new Set(names.map((n) => n.toLowerCase()));
  const out: Buffer[] = [];
  for (const f of parseHeaderBlock(header)) {
    if (wanted.has(f.name.toLowerCase()) !== not) out.push(toCrlf(f.raw));
  }
  // Dovecot: the empty line is added when the header had one, or when something was
  // selected and it ends with a line break (a header cut by EOF mid-line stays as is)
  const last = out.length > 0 ? out[out.length - 1] : null;
  if (hadBlankLine || (last !== null && last[last.length - 1] === 10)) out.push(CRLF);
  return Buffer.concat(out);
}

/** Collects a SectionContent into one Buffer (tests, small pieces). */
export async function contentToBuffer(c: SectionContent): Promise<Buffer> {
  if (Buffer.isBuffer(c.content)) return c.content;
  return readAll(c.content);
}
