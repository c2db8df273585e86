/**
 * What the classifier reads of a message: its header fields and the decoded text of its
 * parts. The MIME tree comes from the store's analyzer (src/imap/mime, one pass over the
 * bytes, offsets of every part); each text part is decoded here from its transfer
 * encoding (RFC 2045 §6.7 quoted-printable, §6.8 base64) and its charset (RFC 2046
 * §4.1.2, through the WHATWG decoders of Node's ICU: ISO-8859-x, windows-125x, KOI8,
 * GB18030, Big5, Shift_JIS, EUC-JP, ISO-2022-JP, EUC-KR, …).
 *
 * Everything is bounded: the caller hands in at most `spam.max_scan_size` bytes, at most
 * MAX_PARTS leaves are read and at most MAX_TEXT characters of text kept, so a hostile
 * message costs no more than a big ordinary one.
 */
import { analyzeBuffer, type BodyPart } from '../imap/mime/index.js';
import { Base64Core, QpCore, type SyncDecoder } from '../imap/mime/decode.js';
import { firstField, parseContentType, parseDisposition, parseEncoding, parseHeaderBlock, type HeaderField } from '../imap/mime/header.js';

/** Leaves looked at per message. */
const MAX_PARTS = 64;
/** Characters of decoded text kept per message (plain and HTML together). */
const MAX_TEXT = 256 * 1024;

export interface MessageText {
  /** The top-level header fields (binary strings, see src/imap/mime/types.ts). */
  fields: HeaderField[];
  /** Decoded text/plain parts. */
  plain: string[];
  /** Decoded text/html parts (still HTML). */
  html: string[];
  /** Other leaves: "type/subtype" lower-case, and the file name's extension if any. */
  attachments: Array<{ type: string; ext?: string }>;
  /** Charsets named by text parts, lower-case. */
  charsets: string[];
  /** Transfer encodings of the leaves, lower-case. */
  encodings: string[];
}

/** What messageText reads of a part (a BodyPart of the analyzer, or singlePart's leaf). */
type Part = Pick<BodyPart, 'type' | 'subtype' | 'params' | 'encoding' | 'disposition' | 'bodyStart' | 'bodyEnd'> & {
  parts?: Part[];
  message?: { body: Part };
};

/** The top-level header fields of a message held in memory, and where its body starts. */
export function messageHeader(buf: Buffer): { fields: HeaderField[]; bodyStart: number } {
  const bodyStart = headerEnd(buf);
  return { fields: parseHeaderBlock(buf.subarray(0, bodyStart)), bodyStart };
}

/**
 * Splits and decodes a message held in memory (possibly truncated: parts just end early);
 * `header` is messageHeader's result when the caller has it already.
 */
export function messageText(buf: Buffer, header = messageHeader(buf)): MessageText {
  const { fields, bodyStart: end } = header;
  // Most mail is one part: its structure is in the top-level fields just parsed, and the
  // store's analyzer (a second header parse, the ENVELOPE) is needed for multiparts only.
  const root = singlePart(fields, end, buf.length) ?? analyzeBuffer(buf).bodyStructure;
  const out: MessageText = { fields, plain: [], html: [], attachments: [], charsets: [], encodings: [] };
  let budget = MAX_TEXT;
  let parts = 0;
  const walk = (p: Part, depth: number): void => {
    if (parts >= MAX_PARTS || depth > 20) return;
    if (p.parts) {
      for (const c of p.parts) walk(c, depth + 1);
      return;
    }
    if (p.message) {
      walk(p.message.body, depth + 1);
      return;
    }
    parts++;
    const type = `${p.type}/${p.subtype}`.toLowerCase();
    const enc = (p.encoding ?? '7bit').toLowerCase();
    if (!out.encodings.includes(enc)) out.encodings.push(enc);
    const filename = param(p.disposition?.params ?? null, 'filename') ?? param(p.params, 'name');
    const attached = p.disposition?.type.toLowerCase() === 'attachment';
    if ((type === 'text/plain' || type === 'text/html' || type === '/') && !attached && budget > 0) {
      const charset = (param(p.params, 'charset') ?? 'us-ascii').toLowerCase();
      if (!out.charsets.includes(charset)) out.charsets.push(charset);
      let text = decodeText(decodeTransfer(buf.subarray(p.bodyStart, p.bodyEnd), enc), charset);
      if (text.length > budget) text = text.slice(0, budget);
      budget -= text.length;
      (type === 'text/html' ? out.html : out.plain).push(text);
      return;
    }
    const dot = filename ? filename.lastIndexOf('.') : -1;
    const ext = filename && dot >= 0 ? filename.slice(dot + 1, dot + 9).toLowerCase() : undefined;
    out.attachments.push({ type, ext });
  };
  walk(root, 0);
  return out;
}

/**
 * Whether every character messageText would decode from the message is the character of
 * one byte of it, in order, with nothing between (so text found in the decoded parts is
 * in the raw bytes too): one part (not multipart or message/*), no base64 or
 * quoted-printable, and a charset whose decoder gives each printable ASCII character only
 * for its own byte and never drops a byte (UTF-8 and the single-byte charsets, where other
 * bytes become non-ASCII characters or U+FFFD; ICU's ibm866 swaps three control
 * characters; not UTF-16, not ISO-2022-JP with its escape sequences, not the multi-byte
 * CJK charsets). GTUBE is then looked for in the raw bytes alone, without decoding.
 */
export function decodesAsRaw(header: { fields: HeaderField[]; bodyStart: number }, size: number): boolean {
  const p = singlePart(header.fields, header.bodyStart, size);
  if (!p) return false;
  const enc = (p.encoding ?? '7bit').toLowerCase();
  if (enc === 'base64' || enc === 'quoted-printable') return false;
  const d = decoderOf((param(p.params, 'charset') ?? 'us-ascii').toLowerCase());
  // An unknown charset is read as UTF-8 or latin1 (decodeText): both map bytes one to one.
  return d === null || TRANSPARENT.test(d.encoding);
}
/** WHATWG encoding names (TextDecoder.encoding) of the charsets decodesAsRaw accepts. */
const TRANSPARENT = /^(utf-8|ibm866|iso-8859-\d+(-i)?|koi8-[ru]|macintosh|windows-\d+|x-mac-cyrillic|x-user-defined)$/;

/**
 * The top-level part as the analyzer (src/imap/mime/analyze.ts applyContentHeaders) makes
 * it when it is a leaf; undefined for a multipart or message/* (those need the analyzer).
 * RFC 2045 §5.2: without Content-Type (and MIME-Version) the body is text/plain; us-ascii.
 */
function singlePart(fields: HeaderField[], bodyStart: number, bodyEnd: number): Part | undefined {
  const part: Part = { type: 'text', subtype: 'plain', params: null, encoding: null, disposition: null, bodyStart, bodyEnd };
  // As the analyzer (Dovecot): the Content-* fields count only in a MIME part.
  if (!fields.some((f) => f.hasColon && /^(mime-version|content-type)$/i.test(f.name))) return part;
  const ct = firstField(fields, 'content-type');
  if (ct) {
    const t = parseContentType(ct.value);
    const type = t.type.toLowerCase();
    if (type === 'multipart' || type === 'message') return undefined;
    part.type = t.type;
    part.subtype = t.subtype;
    part.params = t.params.length > 0 ? t.params : null;
  }
  const cte = firstField(fields, 'content-transfer-encoding');
  if (cte) part.encoding = parseEncoding(cte.value) || null;
  const cd = firstField(fields, 'content-disposition');
  if (cd) {
    const d = parseDisposition(cd.value);
    part.disposition = { type: d.type, params: d.params.length > 0 ? d.params : null };
  }
  return part;
}

/**
 * Offset just past the blank line ending the top-level header (or the whole buffer): the
 * first empty line, ended by CRLF or a bare LF, as the analyzer finds it (RFC 5322 §2.1).
 */
export function headerEnd(buf: Buffer): number {
  for (let pos = 0; pos < buf.length; ) {
    const nl = buf.indexOf(10, pos);
    if (nl < 0) return buf.length;
    if (nl === pos || (nl === pos + 1 && buf[pos] === 13)) return nl + 1;
    pos = nl + 1;
  }
  return buf.length;
}

function param(params: string[] | null, key: string): string | undefined {
  if (!params) return undefined;
  for (let i = 0; i < params.length; i += 2) if (params[i]!.toLowerCase() === key) return params[i + 1];
  return undefined;
}

/** Undoes the Content-Transfer-Encoding; unknown encodings are read as they are. */
export function decodeTransfer(body: Buffer, encoding: string): Buffer {
  let core: SyncDecoder | undefined;
  if (encoding === 'base64') core = new Base64Core();
  else if (encoding === 'quoted-printable') core = new QpCore();
  if (!core) return body;
  const a = core.write(body);
  const b = core.end();
  return b.length ? Buffer.concat([a, b]) : a;
}

const decoders = new Map<string, TextDecoder | null>();

/** The decoder of a charset label (lower-case), null if Node's ICU has none. */
function decoderOf(charset: string): TextDecoder | null {
  let d = decoders.get(charset);
  if (d === undefined) {
    try {
      d = new TextDecoder(charset === 'us-ascii' || charset === 'ascii' ? 'utf-8' : charset);
    } catch {
      d = null;
    }
    if (decoders.size < 256) decoders.set(charset, d);
  }
  return d;
}

/** Bytes in a charset as a string; an unknown or broken charset falls back to UTF-8, then latin1. */
export function decodeText(bytes: Buffer, charset: string): string {
  const d = decoderOf(charset);
  if (d) return d.decode(bytes);
  // Mislabelled mail is common: valid UTF-8 wins over the latin1 guess.
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return bytes.toString('latin1');
  }
}
