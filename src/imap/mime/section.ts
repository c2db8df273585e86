/**
 * Section fetches: BODY[section]<partial> (RFC 3501 §6.4.5, RFC 9051 §6.4.5) and
 * BINARY[section]<partial> / BINARY.SIZE[section] (RFC 3516, RFC 9051 §6.4.5), served
 * from the part offsets cached at delivery, seeking into the stored file instead of
 * reparsing it, and streaming: a 50 MB body is never held in memory.
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
 * - BINARY of a multipart, message/rfc822 or the whole message decodes the encoded
 *   leaves inside and relabels them "Content-Transfer-Encoding: binary" (Dovecot).
 * - BINARY decodes base64 and quoted-printable (RFC 2045 §6.7, §6.8) of a leaf part and
 *   is sent as literal8 (`~{n}`) when something was decoded or the part holds a NUL
 *   (never for an empty result); BODY sections turn NUL into 0x80; other encodings than
 *   7bit/8bit/binary fail with MimeError('unknownCte') → `NO [UNKNOWN-CTE]` (RFC 3516 §4.3).
 */
import { createReadStream } from 'node:fs';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { parseHeaderBlock } from './header.js';
import { MimeError, type BodyPart } from './types.js';

// --- Section spec ------------------------------------------------------------------

export type SectionText = '' | 'HEADER' | 'HEADER.FIELDS' | 'HEADER.FIELDS.NOT' | 'TEXT' | 'MIME';

/** A parsed section: part numbers ([] = the whole message) and what to take of it. */
export interface SectionSpec {
  part: number[];
  /** '' or absent: the whole part (or the whole message when `part` is empty). */
  text?: SectionText;
  /** Field names of HEADER.FIELDS / HEADER.FIELDS.NOT. */
  fields?: string[];
}

/** A partial range `<origin.length>`; length omitted = to the end. */
export interface Partial {
  origin: number;
  length?: number;
}

/**
 * Parses the text between the brackets of BODY[...] / BINARY[...]:
 * section-spec = section-msgtext / (section-part ["." section-text]) (RFC 3501 §9).
 * Field names may be atoms or quoted strings. Throws MimeError('badSection').
 */
export function parseSection(s: string): SectionSpec {
  const bad = () => new MimeError('badSection', `invalid section: ${s.slice(0, 100)}`);
  const part: number[] = [];
  let rest = s;
  for (;;) {
    const m = /^([1-9][0-9]*)(\.|$)/.exec(rest);
    if (!m) break;
    const n = Number(m[1]);
    if (!Number.isSafeInteger(n) || n > 0xffffffff) throw bad();
    part.push(n);
    rest = rest.slice(m[0].length);
    if (m[2] === '') return { part, text: '' };
  }
  if (rest === '') {
    if (part.length > 0) throw bad(); // trailing dot
    return { part, text: '' };
  }
  const upper = rest.toUpperCase();
  if (upper === 'HEADER' || upper === 'TEXT') return { part, text: upper };
  if (upper === 'MIME') {
    if (part.length === 0) throw bad(); // RFC 3501 §6.4.5: MIME needs a part number
    return { part, text: 'MIME' };
  }
  const fm = /^HEADER\.FIELDS(\.NOT)? \((.*)\)$/is.exec(rest);
  if (!fm) throw bad();
  const fields = parseFieldNames(fm[2]);
  if (fields === null || fields.length === 0) throw bad();
  return { part, text: fm[1] ? 'HEADER.FIELDS.NOT' : 'HEADER.FIELDS', fields };
}

function parseFieldNames(s: string): string[] | null {
  const out: string[] = [];
  let i = 0;
  while (i < s.length) {
    if (s[i] === ' ') {
      i++;
      continue;
    }
    if (s[i] === '"') {
      let v = '';
      i++;
      while (i < s.length && s[i] !== '"') {
        if (s[i] === '\\' && i + 1 < s.length) i++;
        v += s[i++];
      }
      if (i >= s.length) return null;
      i++;
      out.push(v);
    } else {
      const start = i;
      while (i < s.length && s[i] !== ' ') i++;
      const atom = s.slice(start, i);
      // astring chars only (RFC 3501 §9)
      if (/[\x00-\x20\x7f(){%*"\\\]]/.test(atom)) return null;
      out.push(atom);
    }
  }
  return out;
}

/** The section as echoed in the FETCH response: `1.2.HEADER.FIELDS (SUBJECT FROM)` (Dovecot uppercases field names). */
export function sectionToString(spec: SectionSpec): string {
  const parts = spec.part.map(String);
  if (spec.text) {
    let t: string = spec.text;
    if (spec.fields) t += ' (' + spec.fields.map(fieldNameToWire).join(' ') + ')';
    parts.push(t);
  }
  return parts.join('.');
}

function fieldNameToWire(name: string): string {
  const up = name.toUpperCase();
  return /^[!#$&'+\-.0-9;<>?@A-Z^_`|~:=/,\x5b]+$/.test(up) ? up : '"' + up.replace(/[\\"]/g, (m) => '\\' + m) + '"';
}

// --- Reading byte ranges -------------------------------------------------------------

/** Reads bytes [start, end) of the stored message. */
export type RangeReader = (start: number, end: number) => Readable | Promise<Readable>;

/** A RangeReader over a file path (seeks). */
export function fileRangeReader(path: string): RangeReader {
  return (start, end) => (end > start ? createReadStream(path, { start, end: end - 1 }) : Readable.from([]));
}

/**
 * A RangeReader over a function that opens the whole message as a stream (e.g.
 * `() => store.readMessage(...).then(r => r.stream)`): skips to `start`, stops at `end`.
 */
export function streamRangeReader(open: () => Promise<Readable> | Readable): RangeReader {
  return async (start, end) => {
    const src = await open();
    return pipeErr(src, new SliceTransform(start, end - start, () => src.destroy()));
  };
}

/** Passes bytes [skip, skip+take) of its input through; calls done() when finished early. */
class SliceTransform extends Transform {
  private pos = 0;
  private finished = false;
  constructor(
    private readonly skipBytes: number,
    private readonly takeBytes: number,
    private readonly onDone?: () => void,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.finished) return cb();
    const from = Math.max(0, this.skipBytes - this.pos);
    const to = Math.min(chunk.length, this.skipBytes + this.takeBytes - this.pos);
    this.pos += chunk.length;
    if (to > from) this.push(chunk.subarray(from, to));
    if (this.pos >= this.skipBytes + this.takeBytes) {
      this.finished = true;
      this.push(null);
      this.onDone?.();
    }
    cb();
  }
}

/** Replaces NUL with 0x80 (Dovecot: a NUL cannot be sent in a non-binary literal, RFC 3501 §4.3). */
class NulTransform extends Transform {
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    cb(null, replaceNul(chunk));
  }
}

function replaceNul(b: Buffer): Buffer {
  let i = b.indexOf(0);
  if (i < 0) return b;
  const copy = Buffer.from(b);
  for (; i >= 0; i = copy.indexOf(0, i + 1)) copy[i] = 0x80;
  return copy;
}

/** Converts bare LF to CRLF (RFC 3501 §2.1 line ends). */
class CrlfTransform extends Transform {
  private lastCR = false;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    let start = 0;
    let out: Buffer[] | null = null;
    for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) {
      const prevCR = i > 0 ? chunk[i - 1] === 13 : this.lastCR;
      if (prevCR) continue;
      (out ??= []).push(chunk.subarray(start, i), CRLF);
      start = i + 1;
    }
    if (chunk.length > 0) this.lastCR = chunk[chunk.length - 1] === 13;
    if (out === null) this.push(chunk);
    else {
      out.push(chunk.subarray(start));
      this.push(Buffer.concat(out));
    }
    cb();
  }
}

const CRLF = Buffer.from('\r\n');

function toCrlf(buf: Buffer): Buffer {
  if (!buf.includes(10)) return buf;
  const t: Buffer[] = [];
  let start = 0;
  for (let i = buf.indexOf(10); i >= 0; i = buf.indexOf(10, i + 1)) {
    if (i > 0 && buf[i - 1] === 13) continue;
    t.push(buf.subarray(start, i), CRLF);
    start = i + 1;
  }
  t.push(buf.subarray(start));
  return Buffer.concat(t);
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Physical range plus its IMAP (CRLF) size. */
interface Span {
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

/** A Readable that calls open() on its first read and relays the opened stream with backpressure. */
export function lazyReadable(open: () => Promise<Readable>): Readable {
  let src: Readable | null = null;
  const out: Readable = new Readable({
    read() {
      if (src) {
        src.resume();
        return;
      }
      open().then(
        (s) => {
          src = s;
          if (out.destroyed) {
            s.destroy();
            return;
          }
          s.on('data', (c: Buffer) => {
            if (!out.push(c)) s.pause();
          });
          s.on('end', () => out.push(null));
          s.on('error', (e) => out.destroy(e));
        },
        (e: Error) => out.destroy(e),
      );
    },
    destroy(err, cb) {
      src?.destroy();
      cb(err);
    },
  });
  return out;
}

function emptyContent(): SectionContent {
  return { length: 0, literal8: false, content: Buffer.alloc(0) };
}

function clampPartial(size: number, partial?: Partial): { from: number; len: number } {
  if (!partial) return { from: 0, len: size };
  const from = Math.min(partial.origin, size);
  const len = Math.min(size - from, partial.length ?? Number.MAX_SAFE_INTEGER);
  return { from, len };
}

/** Streams a span with CRLF line ends and NULs replaced, sliced by a partial range. */
async function spanContent(read: RangeReader, span: Span, partial?: Partial, keepNul = false): Promise<SectionContent> {
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

function headerSpan(p: BodyPart): Span {
  return { start: p.headerStart, end: p.bodyStart, size: p.headerSize };
}
function bodySpan(p: BodyPart): Span {
  return { start: p.bodyStart, end: p.bodyEnd, size: p.bodySize };
}

/**
 * BODY[section]<partial>: the exact bytes, without setting any flag (the engine sets
 * \Seen for non-PEEK fetches). Missing parts give an empty string.
 */
export async function fetchBodySection(read: RangeReader, root: BodyPart, spec: SectionSpec, partial?: Partial): Promise<SectionContent> {
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

// --- BINARY ----------------------------------------------------------------------------

type Cte = 'identity' | 'base64' | 'qp';

function cteOf(part: BodyPart): Cte {
  const e = (part.binaryEncoding ?? part.encoding ?? '7bit').toLowerCase();
  if (e === '7bit' || e === '8bit' || e === 'binary') return 'identity';
  if (e === 'base64') return 'base64';
  if (e === 'quoted-printable') return 'qp';
  throw new MimeError('unknownCte', `unknown Content-Transfer-Encoding ${e.slice(0, 40)}`);
}

const EMPTY = Buffer.alloc(0);

/** A synchronous, incremental decoder: write() returns what could be decoded so far. */
export interface SyncDecoder {
  write(chunk: Buffer): Buffer;
  end(): Buffer;
}

/** Base64 (RFC 2045 §6.8), ignoring characters outside the alphabet; "=" ends the data. */
export class Base64Core implements SyncDecoder {
  private rest = '';
  private ended = false;
  write(chunk: Buffer): Buffer {
    if (this.ended) return EMPTY;
    let s = this.rest + chunk.toString('latin1').replace(/[^A-Za-z0-9+/=]/g, '');
    const pad = s.indexOf('=');
    if (pad >= 0) {
      this.ended = true;
      s = s.slice(0, pad);
      this.rest = '';
      return s.length > 0 ? Buffer.from(s, 'base64') : EMPTY;
    }
    const usable = s.length - (s.length % 4);
    this.rest = s.slice(usable);
    return usable > 0 ? Buffer.from(s.slice(0, usable), 'base64') : EMPTY;
  }
  end(): Buffer {
    const r = this.rest;
    this.rest = '';
    return r.length > 1 ? Buffer.from(r, 'base64') : EMPTY;
  }
}

/** Quoted-printable (RFC 2045 §6.7): soft breaks, =XX, trailing whitespace removed, CRLF line ends. */
export class QpCore implements SyncDecoder {
  private line: Buffer[] = [];
  write(chunk: Buffer): Buffer {
    let start = 0;
    const out: Buffer[] = [];
    for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) {
      this.line.push(chunk.subarray(start, i));
      out.push(decodeQpLine(Buffer.concat(this.line), true));
      this.line = [];
      start = i + 1;
    }
    if (start < chunk.length) this.line.push(Buffer.from(chunk.subarray(start)));
    return out.length === 0 ? EMPTY : out.length === 1 ? out[0] : Buffer.concat(out);
  }
  end(): Buffer {
    const l = this.line;
    this.line = [];
    return l.length > 0 ? decodeQpLine(Buffer.concat(l), false) : EMPTY;
  }
}

class CoreTransform extends Transform {
  constructor(private readonly core: SyncDecoder) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    const out = this.core.write(chunk);
    cb(null, out.length > 0 ? out : undefined);
  }
  override _flush(cb: TransformCallback): void {
    const out = this.core.end();
    cb(null, out.length > 0 ? out : undefined);
  }
}

/** Base64 decoding stream. */
export class Base64Decoder extends CoreTransform {
  constructor() {
    super(new Base64Core());
  }
}

/** Quoted-printable decoding stream. */
export class QpDecoder extends CoreTransform {
  constructor() {
    super(new QpCore());
  }
}

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

function decodeQpLine(line: Buffer, hadBreak: boolean): Buffer {
  let end = line.length;
  if (end > 0 && line[end - 1] === 13) end--;
  // RFC 2045 §6.7 rule 3: trailing whitespace is transport padding
  while (end > 0 && (line[end - 1] === 0x20 || line[end - 1] === 0x09)) end--;
  let soft = false;
  if (end > 0 && line[end - 1] === 0x3d) {
    soft = true; // rule 5: soft line break
    end--;
  }
  const out = Buffer.allocUnsafe(end + 2);
  let o = 0;
  for (let i = 0; i < end; i++) {
    const c = line[i];
    if (c === 0x3d && i + 2 < end) {
      const h = hexVal(line[i + 1]);
      const l = hexVal(line[i + 2]);
      if (h >= 0 && l >= 0) {
        out[o++] = h * 16 + l;
        i += 2;
        continue;
      }
    }
    out[o++] = c;
  }
  if (hadBreak && !soft) {
    out[o++] = 13;
    out[o++] = 10;
  }
  return out.subarray(0, o);
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

/** src.pipe(dst), forwarding src's errors to dst. */
function pipeErr<T extends Transform>(src: Readable, dst: T): T {
  src.on('error', (e) => dst.destroy(e));
  return src.pipe(dst);
}

async function countBytes(s: Readable): Promise<number> {
  let n = 0;
  for await (const c of s) n += (c as Buffer).length;
  return n;
}

/**
 * BINARY[section]<partial> (RFC 3516): the decoded content of a leaf part. Non-leaf
 * sections (multipart, message/rfc822, the whole message) are sent undecoded.
 * Throws MimeError('unknownCte') for an encoding it cannot decode.
 */
export async function fetchBinarySection(read: RangeReader, root: BodyPart, part: number[], partial?: Partial): Promise<SectionContent> {
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

/** Collects a SectionContent into one Buffer (tests, small pieces). */
export async function contentToBuffer(c: SectionContent): Promise<Buffer> {
  if (Buffer.isBuffer(c.content)) return c.content;
  return readAll(c.content);
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
async function nonLeafBinary(read: RangeReader, root: BodyPart, path: number[], p: BodyPart, partial?: Partial): Promise<SectionContent> {
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
