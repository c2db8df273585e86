/**
 * MIME side of SEARCH (RFC 3501 §6.4.4, RFC 9051 §6.4.4): header fields decoded for
 * HEADER/FROM/TO/CC/BCC/SUBJECT, BODY/TEXT as a case-insensitive substring of the
 * decoded text, and the Date header for SENTON/SENTBEFORE/SENTSINCE.
 *
 * Implementation notes:
 * - Header values are unfolded, RFC 2047 encoded-words decoded (libmime), and 8-bit
 *   bytes read as UTF-8 when valid, else as latin1.
 * - BODY searches the text/* and message/* parts after undoing the transfer encoding
 *   (base64, quoted-printable) and the charset (libmime / iconv-lite); other parts
 *   (images, attachments), preambles and epilogues are skipped, as Dovecot does without
 *   a full-text index. HTML is searched as it is, tags included. TEXT adds the message
 *   header, every MIME part header and the headers of encapsulated messages.
 *   Checked against Dovecot's answers (test/fixtures/mime/search.dovecot.json).
 * - One streaming pass per message: header and body ranges are cut out of a single read;
 *   a window of needle-length characters is carried across chunks. Charsets are decoded
 *   with the WHATWG TextDecoder (streaming; unknown charsets read as UTF-8).
 * - Matching is case-insensitive by Unicode lower-casing (close to i;unicode-casemap,
 *   RFC 5051, without its decomposition).
 */
import { createRequire } from 'node:module';
import type Libmime from 'libmime';

// libmime pulls in iconv-lite and encoding-japanese (~17 MB resident): loaded by the
// first header that needs it (an encoded-word, a charset alias), not at start.
let libmimeModule: typeof Libmime | undefined;
const libmime = (): typeof Libmime => (libmimeModule ??= createRequire(import.meta.url)('libmime') as typeof Libmime);
import { parseHeaderBlock } from './header.js';
import type { RangeReader } from './bytes.js';
import { Base64Core, QpCore, type SyncDecoder } from './decode.js';
import type { BodyPart, Envelope } from './types.js';

const UTF8_FATAL = new TextDecoder('utf-8', { fatal: true });

/** A binary string (header bytes) as readable Unicode: UTF-8 if valid, else latin1; encoded-words decoded. */
export function headerText(binary: string): string {
  let s: string;
  if (/[\x80-\xff]/.test(binary)) {
    try {
      s = UTF8_FATAL.decode(Buffer.from(binary, 'latin1'));
    } catch {
      s = binary;
    }
  } else s = binary;
  s = s.replace(/\r?\n/g, '');
  if (s.includes('=?')) {
    try {
      s = libmime().decodeWords(s);
    } catch {
      // keep the raw text
    }
  }
  return s;
}

/** Headers longer than this are searched in their first 4 MB only (memory bound). */
const MAX_SEARCHED_HEADER = 4 * 1024 * 1024;

/** Reads the header block of a part or message (through its blank line). */
export async function readHeaderBlock(read: RangeReader, part: BodyPart): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const end = Math.min(part.bodyStart, part.headerStart + MAX_SEARCHED_HEADER);
  if (end <= part.headerStart) return Buffer.alloc(0);
  for await (const c of await read(part.headerStart, end)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** The decoded values of every field with this name (case-insensitive), in order. */
export function headerValues(header: Buffer, name: string): string[] {
  const lower = name.toLowerCase();
  return parseHeaderBlock(header)
    .filter((f) => f.name.toLowerCase() === lower)
    .map((f) => headerText(f.value));
}

/**
 * SEARCH HEADER field-name string (and FROM/TO/CC/BCC/SUBJECT): true if a field of that
 * name contains the needle, case-insensitively; an empty needle matches any message
 * that has the field (RFC 3501 §6.4.4).
 */
export function searchHeader(header: Buffer, name: string, needle: string): boolean {
  const values = headerValues(header, name);
  if (needle === '') return values.length > 0;
  const n = fold(needle);
  return values.some((v) => fold(v).includes(n));
}

function fold(s: string): string {
  return s.toLowerCase();
}

/**
 * Looks for several needles in one pass (SEARCH with many BODY/TEXT keys reads and
 * decodes each message once, issue 14): the text is folded once per chunk, and each
 * needle carries the tail of the previous chunk so that a match across chunks is found.
 */
class Matcher {
  private readonly needles: string[];
  private readonly tails: string[];
  readonly found: boolean[];
  private left: number;
  constructor(needles: readonly string[]) {
    this.needles = needles.map(fold);
    this.tails = this.needles.map(() => '');
    this.found = this.needles.map((n) => n === '');
    this.left = this.found.filter((f) => !f).length;
  }
  /** True once every needle is found. */
  get done(): boolean {
    return this.left === 0;
  }
  feed(text: string): boolean {
    if (this.left === 0) return true;
    const folded = fold(text);
    for (let i = 0; i < this.needles.length; i++) {
      if (this.found[i]) continue;
      const n = this.needles[i];
      const s = this.tails[i] + folded;
      if (s.includes(n)) {
        this.found[i] = true;
        this.left--;
        continue;
      }
      this.tails[i] = s.slice(Math.max(0, s.length - n.length + 1));
    }
    return this.left === 0;
  }
  reset(): void {
    this.tails.fill('');
  }
}

export function paramOf(p: BodyPart, key: string): string | undefined {
  const params = p.params;
  if (!params) return undefined;
  for (let i = 0; i < params.length; i += 2) if (params[i].toLowerCase() === key) return params[i + 1];
  return undefined;
}

/** A byte range of the message that SEARCH looks at: a header block or a leaf body. */
export interface Segment {
  start: number;
  end: number;
  header: boolean;
  part: BodyPart;
}

/** The ranges BODY (bodies of text parts) or TEXT (plus every header) searches, in file order. */
export function segments(root: BodyPart, text: boolean): Segment[] {
  const out: Segment[] = [];
  const walk = (p: BodyPart) => {
    if (text && p.bodyStart > p.headerStart) out.push({ start: p.headerStart, end: p.bodyStart, header: true, part: p });
    if (p.parts) for (const c of p.parts) walk(c);
    else if (p.message) walk(p.message.body);
    else {
      const type = p.type.toLowerCase();
      if ((type === 'text' || type === 'message') && p.bodyEnd > p.bodyStart) out.push({ start: p.bodyStart, end: p.bodyEnd, header: false, part: p });
    }
  };
  walk(root);
  return out;
}

/** Charset decoding with the WHATWG decoders (streaming); unknown charsets are read as UTF-8. */
export function textDecoder(charset: string | undefined): TextDecoder {
  for (const label of [charset, charset ? libmime().normalizeCharset(charset) : undefined]) {
    if (!label) continue;
    try {
      return new TextDecoder(label);
    } catch {
      // try the next label
    }
  }
  return new TextDecoder('utf-8');
}

/** Receives one segment's bytes; returns true once the needle is found. */
interface Sink {
  write(b: Buffer): boolean;
  end(): boolean;
}

function headerSink(m: Matcher): Sink {
  const chunks: Buffer[] = [];
  let size = 0;
  return {
    write(b) {
      if (size < MAX_SEARCHED_HEADER) {
        chunks.push(Buffer.from(b));
        size += b.length;
      }
      return false;
    },
    end() {
      m.reset();
      return m.feed(decodedHeaderText(Buffer.concat(chunks)));
    },
  };
}

function bodySink(p: BodyPart, m: Matcher): Sink {
  const enc = (p.binaryEncoding ?? p.encoding ?? '7bit').toLowerCase();
  const cte: SyncDecoder | null = enc === 'base64' ? new Base64Core() : enc === 'quoted-printable' ? new QpCore() : null;
  const td = textDecoder(paramOf(p, 'charset'));
  m.reset();
  return {
    write(b) {
      const bytes = cte ? cte.write(b) : b;
      return bytes.length > 0 && m.feed(td.decode(bytes, { stream: true }));
    },
    end() {
      const rest = cte ? cte.end() : Buffer.alloc(0);
      return m.feed(td.decode(rest, { stream: false }));
    },
  };
}

export function decodedHeaderText(header: Buffer): string {
  return parseHeaderBlock(header)
    .map((f) => headerText(f.name) + ': ' + headerText(f.value))
    .join('\n');
}

/**
 * SEARCH BODY / TEXT (RFC 3501 §6.4.4): case-insensitive substring of the decoded text.
 * TEXT also looks at the headers. One streaming pass over the message (one open, even
 * with a non-seeking reader); resolves as soon as a match is found.
 */
export async function matchesText(read: RangeReader, root: BodyPart, where: 'BODY' | 'TEXT', needle: string): Promise<boolean> {
  return (await matchesTexts(read, root, where, [needle]))[0];
}

/** matchesText for several needles in one pass: which of them the text contains. */
export async function matchesTexts(read: RangeReader, root: BodyPart, where: 'BODY' | 'TEXT', needles: readonly string[]): Promise<boolean[]> {
  const m = new Matcher(needles);
  if (!m.done) await scanText(read, root, where, m);
  return m.found;
}

async function scanText(read: RangeReader, root: BodyPart, where: 'BODY' | 'TEXT', m: Matcher): Promise<boolean> {
  const segs = segments(root, where === 'TEXT');
  if (segs.length === 0) return false;
  const open = (seg: Segment): Sink => (seg.header ? headerSink(m) : bodySink(seg.part, m));
  const src = await read(segs[0].start, segs[segs.length - 1].end);
  let pos = segs[0].start;
  let i = 0;
  let sink = open(segs[0]);
  try {
    for await (const c of src) {
      const chunk = c as Buffer;
      let off = 0;
      while (off < chunk.length && i < segs.length) {
        const seg = segs[i];
        const abs = pos + off;
        if (abs < seg.start) {
          off += Math.min(seg.start - abs, chunk.length - off);
          continue;
        }
        const take = Math.min(seg.end - abs, chunk.length - off);
        if (sink.write(chunk.subarray(off, off + take))) return true;
        off += take;
        if (pos + off >= seg.end) {
          if (sink.end()) return true;
          i++;
          if (i < segs.length) sink = open(segs[i]);
        }
      }
      pos += chunk.length;
      if (i >= segs.length) break;
    }
    return i < segs.length ? sink.end() : false;
  } finally {
    src.destroy();
  }
}

// --- Date ------------------------------------------------------------------------------

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
/** RFC 5322 §4.3 obsolete zones. */
const ZONES: Record<string, number> = { ut: 0, gmt: 0, z: 0, est: -5, edt: -4, cst: -6, cdt: -5, mst: -7, mdt: -6, pst: -8, pdt: -7 };

interface ParsedDate {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  offsetMinutes: number;
}

/** RFC 5322 §3.3 date-time (with obsolete forms: 2-digit years, named zones, comments). */
export function parseRfc5322Date(value: string): ParsedDate | undefined {
  const s = value
    .replace(/\([^)]*\)/g, ' ')
    .replace(/[\r\n]/g, ' ')
    .trim();
  const m = /^(?:[A-Za-z]{3},?\s*)?(\d{1,2})\s+([A-Za-z]{3})[a-z]*\s+(\d{2,4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([+-]\d{4}|[A-Za-z]{1,5})?/.exec(s);
  if (!m) return undefined;
  const month = MONTHS.indexOf(m[2].toLowerCase());
  if (month < 0) return undefined;
  let year = Number(m[3]);
  if (m[3].length === 2) year += year < 50 ? 2000 : 1900; // RFC 5322 §4.3
  else if (m[3].length === 3) year += 1900;
  let offsetMinutes = 0;
  const z = m[7];
  if (z && /^[+-]\d{4}$/.test(z)) {
    const sign = z[0] === '-' ? -1 : 1;
    offsetMinutes = sign * (Number(z.slice(1, 3)) * 60 + Number(z.slice(3, 5)));
  } else if (z && ZONES[z.toLowerCase()] !== undefined) {
    offsetMinutes = ZONES[z.toLowerCase()] * 60;
  }
  const day = Number(m[1]);
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = m[6] ? Number(m[6]) : 0;
  if (day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return undefined;
  return { year, month, day, hour, minute, second, offsetMinutes };
}

/** The instant of the Date header, or undefined when absent or unparsable. */
export function sentDate(env: Pick<Envelope, 'date'>): Date | undefined {
  if (env.date === null) return undefined;
  const d = parseRfc5322Date(env.date);
  if (!d) return undefined;
  return new Date(Date.UTC(d.year, d.month, d.day, d.hour, d.minute, d.second) - d.offsetMinutes * 60_000);
}

/**
 * The calendar day of the Date header as written, at 00:00 UTC: what SENTON,
 * SENTBEFORE and SENTSINCE compare, "disregarding time and timezone" (RFC 3501 §6.4.4).
 */
export function sentDay(env: Envelope): Date | undefined {
  if (env.date === null) return undefined;
  const d = parseRfc5322Date(env.date);
  if (!d) return undefined;
  return new Date(Date.UTC(d.year, d.month, d.day));
}
