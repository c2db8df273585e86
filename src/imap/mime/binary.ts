/**
 * BINARY[section]<partial> and BINARY.SIZE[section] (RFC 3516, RFC 9051 §6.4.5): the
 * decoded content of a part, read from the part offsets cached at delivery.
 *
 * Implementation notes (Dovecot 2.3 behaviour, recorded in test/fixtures/mime):
 * - BINARY decodes base64 and quoted-printable (RFC 2045 §6.7, §6.8) of a leaf part and
 *   is sent as literal8 (`~{n}`) when something was decoded or the part holds a NUL
 *   (never for an empty result); other encodings than 7bit/8bit/binary fail with
 *   MimeError('unknownCte') → `NO [UNKNOWN-CTE]` (RFC 3516 §4.3).
 * - BINARY of a multipart, message/rfc822 or the whole message decodes the encoded
 *   leaves inside and relabels them "Content-Transfer-Encoding: binary" (Dovecot).
 */
import { Readable, type Transform } from 'node:stream';
import { countBytes, CRLF, CrlfTransform, lazyReadable, pipeErr, readAll, SliceTransform, toCrlf, type RangeReader } from './bytes.js';
import { Base64Decoder, QpDecoder } from './decode.js';
import { parseHeaderBlock } from './header.js';
import { bodySpan, clampPartial, contentToBuffer, emptyContent, findPart, spanContent, type SectionContent } from './section.js';
import type { PartialRange } from './spec.js';
import { MimeError, type BodyPart } from './types.js';

type Cte = 'identity' | 'base64' | 'qp';

function cteOf(part: BodyPart): Cte {
  const e = (part.binaryEncoding ?? part.encoding ?? '7bit').toLowerCase();
  if (e === '7bit' || e === '8bit' || e === 'binary') return 'identity';
  if (e === 'base64') return 'base64';
  if (e === 'quoted-printable') return 'qp';
  throw new MimeError('unknownCte', `unknown Content-Transfer-Encoding ${e.slice(0, 40)}`);
}

function decoderFor(cte: Cte): Transform | null {
  if (cte === 'base64') return new Base64Decoder();
  if (cte === 'qp') return new QpDecoder();
  return null;
}

/** Bodies up to this size are decoded in memory for BINARY; larger ones are decoded twice (size, then stream). */
const BINARY_IN_MEMORY = 1024 * 1024;

async function decodedStream(read: RangeReader, part: BodyPart, cte: Cte): Promise<Readable> {
  const src = await read(part.bodyStart, part.bodyEnd);
  return pipeErr(src, decoderFor(cte)!);
}

/**
 * BINARY[section]<partial> (RFC 3516): the decoded content of a leaf part. Non-leaf
 * sections (multipart, message/rfc822, the whole message) are sent undecoded.
 * Throws MimeError('unknownCte') for an encoding it cannot decode.
 */
export async function fetchBinarySection(read: RangeReader, root: BodyPart, part: number[], partial?: PartialRange): Promise<SectionContent> {
  const p = findPart(root, part);
  if (!p) return emptyContent();
  const cte0 = part.length > 0 ? cteOf(p) : 'identity';
  // a multipart or message/rfc822 part that is itself encoded is decoded as a whole (Dovecot)
  if (part.length === 0 || ((p.parts || p.message) && cte0 === 'identity')) return nonLeafBinary(read, root, part, p, partial);
  const cte = cteOf(p);
  if (cte === 'identity') {
    // NULs are sent as they are, in a literal8 (Dovecot)
    const c = await spanContent(read, bodySpan(p), partial, true);
    return { ...c, literal8: p.hasNul === true && c.length > 0 };
  }
  if (p.bodyEnd - p.bodyStart <= BINARY_IN_MEMORY) {
    const data = await readAll(await decodedStream(read, p, cte));
    const { from, len } = clampPartial(data.length, partial);
    return { length: len, literal8: len > 0, content: data.subarray(from, from + len) };
  }
  const size = await countBytes(await decodedStream(read, p, cte));
  const { from, len } = clampPartial(size, partial);
  if (len <= 0) return emptyContent();
  const open = async () => {
    const dec = await decodedStream(read, p, cte);
    return pipeErr(dec, new SliceTransform(from, len, () => dec.destroy()));
  };
  return { length: len, literal8: len > 0, content: lazyReadable(open) };
}

/** BINARY.SIZE[section] (RFC 3516 §4.2): the decoded size. Throws MimeError('unknownCte'). */
export async function binarySize(read: RangeReader, root: BodyPart, part: number[]): Promise<number> {
  const p = findPart(root, part);
  if (!p) return 0;
  const cte0 = part.length > 0 ? cteOf(p) : 'identity';
  if (part.length === 0 || ((p.parts || p.message) && cte0 === 'identity')) return (await nonLeafBinary(read, root, part, p)).length;
  const cte = cteOf(p);
  if (cte === 'identity') return p.bodySize;
  return countBytes(await decodedStream(read, p, cte));
}

// --- BINARY of a multipart, a message/rfc822 part or the whole message --------------------

type Segment = { raw: [number, number] } | { bytes: Buffer } | { decode: BodyPart; cte: Cte };

/** Leaves in wire order, encapsulated messages included. */
function* leaves(p: BodyPart): Generator<BodyPart> {
  if (p.parts) for (const c of p.parts) yield* leaves(c);
  else if (p.message) yield* leaves(p.message.body);
  else yield p;
}

/**
 * Dovecot's BINARY of a non-leaf section: every base64 / quoted-printable leaf inside is
 * decoded and its Content-Transfer-Encoding fields are replaced by
 * "Content-Transfer-Encoding: binary" at the end of its header; the rest is sent as is.
 * The content is produced twice (once to count) unless it is small.
 */
async function nonLeafBinary(read: RangeReader, root: BodyPart, path: number[], p: BodyPart, partial?: PartialRange): Promise<SectionContent> {
  const whole = path.length === 0;
  const start = whole ? 0 : p.bodyStart;
  const end = whole ? root.bodyEnd : p.bodyEnd;
  const top = whole ? root : p.message ? p.message.body : p;
  const segments: Segment[] = [];
  let cursor = start;
  let decoded = false;
  let nul = false;
  for (const leaf of leaves(top)) {
    if (leaf.hasNul) nul = true;
    const cte = cteOf(leaf); // unknown encodings fail the whole section, as in Dovecot
    if (cte === 'identity' || leaf.bodyEnd === leaf.bodyStart) continue; // empty bodies stay as they are
    decoded = true;
    if (leaf.headerStart > cursor) segments.push({ raw: [cursor, leaf.headerStart] });
    const header = await readAll(await read(leaf.headerStart, leaf.bodyStart));
    const kept = parseHeaderBlock(header)
      .filter((f) => f.name.toLowerCase() !== 'content-transfer-encoding')
      .map((f) => toCrlf(f.raw));
    kept.push(Buffer.from('Content-Transfer-Encoding: binary\r\n'));
    if (leaf.hasBlankLine) kept.push(CRLF);
    segments.push({ bytes: Buffer.concat(kept) }, { decode: leaf, cte });
    cursor = leaf.bodyEnd;
  }
  if (!decoded) {
    // sent as is, NULs included (in a literal8 when there are any)
    const span = whole ? { start: 0, end: root.bodyEnd, size: root.headerSize + root.bodySize } : bodySpan(p);
    const k = await spanContent(read, span, partial, true);
    if (span.end - span.start > BINARY_IN_MEMORY) return { ...k, literal8: nul && k.length > 0 };
    const data = await contentToBuffer(k);
    return { length: data.length, literal8: data.includes(0), content: data };
  }
  if (end > cursor) segments.push({ raw: [cursor, end] });
  const produce = async (): Promise<Readable> => {
    async function* gen(): AsyncGenerator<Buffer> {
      for (const seg of segments) {
        let s: Readable;
        if ('bytes' in seg) {
          yield seg.bytes;
          continue;
        } else if ('raw' in seg) s = pipeErr(await read(seg.raw[0], seg.raw[1]), new CrlfTransform());
        else s = await decodedStream(read, seg.decode, seg.cte);
        for await (const c of s) yield c as Buffer;
      }
    }
    return Readable.from(gen());
  };
  if (end - start <= BINARY_IN_MEMORY) {
    const data = await readAll(await produce());
    const { from, len } = clampPartial(data.length, partial);
    return { length: len, literal8: len > 0, content: data.subarray(from, from + len) };
  }
  const size = await countBytes(await produce());
  const { from, len } = clampPartial(size, partial);
  if (len <= 0) return emptyContent();
  const open = async () => {
    const src = await produce();
    return pipeErr(src, new SliceTransform(from, len, () => src.destroy()));
  };
  return { length: len, literal8: true, content: lazyReadable(open) };
}
