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
import { parseHeaderBlock, type HeaderField } from '../imap/mime/header.js';

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

/** Splits and decodes a message held in memory (possibly truncated: parts just end early). */
export function messageText(buf: Buffer): MessageText {
  const { bodyStructure } = analyzeBuffer(buf);
  const end = headerEnd(buf);
  const out: MessageText = { fields: parseHeaderBlock(buf.subarray(0, end)), plain: [], html: [], attachments: [], charsets: [], encodings: [] };
  let budget = MAX_TEXT;
  let parts = 0;
  const walk = (p: BodyPart, depth: number): void => {
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
  walk(bodyStructure, 0);
  return out;
}

/** Offset just past the blank line ending the top-level header (or the whole buffer). */
export function headerEnd(buf: Buffer): number {
  const crlf = buf.indexOf('\r\n\r\n');
  const lf = buf.indexOf('\n\n');
  if (crlf < 0 && lf < 0) return buf.length;
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return crlf + 4;
  return lf + 2;
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

/** Bytes in a charset as a string; an unknown or broken charset falls back to UTF-8, then latin1. */
export function decodeText(bytes: Buffer, charset: string): string {
  let d = decoders.get(charset);
  if (d === undefined) {
    try {
      d = new TextDecoder(charset === 'us-ascii' || charset === 'ascii' ? 'utf-8' : charset);
    } catch {
      d = null;
    }
    if (decoders.size < 256) decoders.set(charset, d);
  }
  if (d) return d.decode(bytes);
  // Mislabelled mail is common: valid UTF-8 wins over the latin1 guess.
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return bytes.toString('latin1');
  }
}
