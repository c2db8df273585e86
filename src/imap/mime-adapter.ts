/**
 * The one seam between the protocol engine and MIME analysis (src/imap/mime/). FETCH
 * and SEARCH call only these functions. The analysis (envelope + body structure with
 * part offsets) is cached by the store at delivery (MessageMeta.envelope/bodyStructure,
 * from analyzeMessage); messages stored without it are analysed here on demand.
 *
 * ENVELOPE and BODYSTRUCTURE come back as wire bytes (mime/format.ts, Dovecot's
 * forms); sections as SectionContent (exact length, buffer or stream).
 */
import { Readable, Transform } from 'node:stream';
import type { MessageMeta } from '../store/types.js';
import {
  analyzeMessage,
  binarySize,
  bodyStructureToImap,
  envelopeToImap,
  fetchBinarySection,
  fetchBodySection,
  streamRangeReader,
  type BodyPart,
  type Envelope,
  type MessageAnalysis,
  type RangeReader,
  type SectionContent,
} from './mime/index.js';

/** Opens the stored message (whole file). */
export type OpenMessage = () => Promise<{ stream: Readable; size: number }>;

export interface SectionSpec {
  /** Part numbers ("1.2" → [1, 2]); empty for the whole message. */
  part: number[];
  text?: 'HEADER' | 'HEADER.FIELDS' | 'HEADER.FIELDS.NOT' | 'TEXT' | 'MIME';
  fields?: string[];
}

/** Reads the header block (through the blank line) of a stream; returns it and whether more follows. */
export async function readHeader(open: OpenMessage, limit = 1 << 20): Promise<{ header: Buffer; size: number }> {
  const { stream, size } = await open();
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      total += chunk.length;
      const buf = Buffer.concat(chunks);
      const end = headerEnd(buf);
      if (end >= 0) return { header: buf.subarray(0, end), size };
      if (total > limit) return { header: buf, size };
    }
  } finally {
    stream.destroy();
  }
  return { header: Buffer.concat(chunks), size };
}

function headerEnd(buf: Buffer): number {
  const a = buf.indexOf('\r\n\r\n');
  const b = buf.indexOf('\n\n');
  if (a >= 0 && (b < 0 || a + 2 <= b)) return a + 4;
  if (b >= 0) return b + 2;
  if (buf.subarray(0, 2).toString() === '\r\n') return 2;
  return -1;
}

/** Header fields as [name, raw value unfolded] (binary strings). */
export function headerFields(header: Buffer): Array<[string, string]> {
  const text = header.toString('latin1');
  const out: Array<[string, string]> = [];
  for (const line of text.split(/\r?\n(?![ \t])/)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    out.push([line.slice(0, i).trim(), line.slice(i + 1).replace(/\r?\n/g, '').trim()]);
  }
  return out;
}

const analysed = new WeakMap<MessageMeta, MessageAnalysis>();

/** The cached analysis of a message, or a fresh one (stored without an analyzer). */
export async function analysisOf(meta: MessageMeta, open: OpenMessage): Promise<MessageAnalysis> {
  if (meta.envelope && meta.bodyStructure) return { envelope: meta.envelope as Envelope, bodyStructure: meta.bodyStructure as BodyPart };
  const hit = analysed.get(meta);
  if (hit) return hit;
  const { stream } = await open();
  try {
    const a = await analyzeMessage(stream);
    analysed.set(meta, a);
    return a;
  } finally {
    stream.destroy();
  }
}

/** ENVELOPE (RFC 9051 §7.5.2) as wire bytes. */
export async function envelopeOf(meta: MessageMeta, open: OpenMessage): Promise<Buffer> {
  return envelopeToImap((await analysisOf(meta, open)).envelope);
}

/** BODY / BODYSTRUCTURE (RFC 9051 §7.5.2) as wire bytes. */
export async function bodyStructureOf(meta: MessageMeta, open: OpenMessage, extended: boolean): Promise<Buffer> {
  return bodyStructureToImap((await analysisOf(meta, open)).bodyStructure, extended);
}

function reader(open: OpenMessage): RangeReader {
  return streamRangeReader(async () => (await open()).stream);
}

/** BODY[section]<partial> (RFC 9051 §6.4.5): exact length and bytes (small) or a stream. */
export async function sectionOf(meta: MessageMeta, open: OpenMessage, spec: SectionSpec, partial?: [number, number]): Promise<SectionContent> {
  const root = (await analysisOf(meta, open)).bodyStructure;
  return fetchBodySection(reader(open), root, { part: spec.part, text: spec.text ?? '', fields: spec.fields }, partial ? { origin: partial[0], length: partial[1] } : undefined);
}

/** BINARY[part]<partial> (RFC 3516, RFC 9051 §6.4.5): decoded content; MimeError('unknownCte') otherwise. */
export async function binaryOf(meta: MessageMeta, open: OpenMessage, part: number[], partial?: [number, number]): Promise<SectionContent> {
  const root = (await analysisOf(meta, open)).bodyStructure;
  return fetchBinarySection(reader(open), root, part, partial ? { origin: partial[0], length: partial[1] } : undefined);
}

/** BINARY.SIZE[part] (RFC 3516 §4.2). */
export async function binarySizeOf(meta: MessageMeta, open: OpenMessage, part: number[]): Promise<number> {
  return binarySize(reader(open), (await analysisOf(meta, open)).bodyStructure, part);
}

/** Case-insensitive substring search in the header ("TEXT" also) or body of the raw message. */
export async function matchText(_meta: MessageMeta, open: OpenMessage, where: 'BODY' | 'TEXT', needle: string): Promise<boolean> {
  const { stream } = await open();
  const n = needle.toLowerCase();
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
  let s = Buffer.concat(chunks).toString('utf8');
  if (where === 'BODY') {
    const i = headerEnd(Buffer.from(s));
    if (i >= 0) s = Buffer.from(s).subarray(i).toString('utf8');
  }
  return s.toLowerCase().includes(n);
}

/** A stream of `length` bytes of `src` starting at `start`. */
export function sliceStream(src: Readable, start: number, length: number): Readable {
  let pos = 0;
  let left = length;
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      const end = pos + chunk.length;
      if (end <= start || left <= 0) {
        pos = end;
        return cb();
      }
      const from = Math.max(0, start - pos);
      const piece = chunk.subarray(from, Math.min(chunk.length, from + left));
      left -= piece.length;
      pos = end;
      cb(null, piece);
      if (left <= 0) src.destroy();
    },
  });
  src.on('error', (e) => t.destroy(e));
  src.on('close', () => {
    if (!t.writableEnded) t.end();
  });
  return src.pipe(t);
}
