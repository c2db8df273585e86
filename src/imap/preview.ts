/**
 * PREVIEW (RFC 8970): a short plain-text preview of a message, from its first text/plain
 * part (else its first text/html part, tags removed), outside attachments and attached
 * messages: decoded (transfer encoding, charset), whitespace folded to single spaces,
 * at most PREVIEW_CHARS characters (§3.1 allows 256). Computed on the first FETCH
 * PREVIEW and cached by the store (MailStore.cachePreview); FETCH PREVIEW (LAZY) gives
 * NIL instead of computing it (§3.2), and a message without text gives "".
 */
import type { MessageMeta } from '../store/types.js';
import type { BodyPart } from './mime/types.js';
import { analysisOf, binaryOf, type MessageBytes } from './mime-adapter.js';

export const PREVIEW_CHARS = 200;
/** Decoded bytes read from the part: enough for 200 characters after folding and tag removal. */
const READ_BYTES = 16 * 1024;

/** The part number of the first text/plain leaf (else first text/html), or undefined. */
export function textPart(root: BodyPart): { part: number[]; html: boolean; charset: string } | undefined {
  let html: { part: number[]; html: boolean; charset: string } | undefined;
  const walk = (p: BodyPart, path: number[]): { part: number[]; html: boolean; charset: string } | undefined => {
    if (p.parts) {
      for (let i = 0; i < p.parts.length; i++) {
        const r = walk(p.parts[i]!, [...path, i + 1]);
        if (r) return r;
      }
      return undefined;
    }
    if (p.type.toLowerCase() !== 'text' || p.disposition?.type.toLowerCase() === 'attachment') return undefined;
    const sub = p.subtype.toLowerCase();
    const charset = paramOf(p, 'charset') ?? 'us-ascii';
    // A single-part message's body is part 1 (RFC 9051 §6.4.5).
    const part = path.length === 0 ? [1] : path;
    if (sub === 'plain') return { part, html: false, charset };
    if (sub === 'html' && !html) html = { part, html: true, charset };
    return undefined;
  };
  return walk(root, []) ?? html;
}

function paramOf(p: BodyPart, key: string): string | undefined {
  const ps = p.params ?? [];
  for (let i = 0; i + 1 < ps.length; i += 2) if (ps[i]!.toLowerCase() === key) return ps[i + 1]!;
  return undefined;
}

function decodeCharset(b: Buffer, charset: string): string {
  try {
    return new TextDecoder(charset.toLowerCase() === 'us-ascii' ? 'utf-8' : charset).decode(b);
  } catch {
    return new TextDecoder('utf-8').decode(b); // unknown charset: UTF-8 with replacement characters
  }
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

function htmlText(s: string): string {
  return s
    .replace(/<(style|script|head)\b[\s\S]*?<\/\1\s*>/gi, ' ')
    .replace(/<!--[\s\S]*?-->/g, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, e: string) => {
      if (e[0] === '#') {
        const n = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
        return n > 0 && n <= 0x10ffff ? String.fromCodePoint(n) : ' ';
      }
      return ENTITIES[e.toLowerCase()] ?? m;
    });
}

/** Whitespace folded, control characters dropped, at most PREVIEW_CHARS code points (no half surrogate pair). */
export function foldPreview(s: string): string {
  const folded = s.replace(/[\u0000-\u001f\u007f\s]+/g, ' ').trim();
  const cps = Array.from(folded);
  return cps.length <= PREVIEW_CHARS ? folded : cps.slice(0, PREVIEW_CHARS).join('').trimEnd();
}

/** The preview text of a message ("" when it has no text part). */
export async function computePreview(meta: MessageMeta, src: MessageBytes): Promise<string> {
  const { bodyStructure } = await analysisOf(meta, src);
  const t = textPart(bodyStructure);
  if (!t) return '';
  let raw: Buffer;
  try {
    const d = await binaryOf(meta, src, t.part, { origin: 0, length: READ_BYTES });
    raw = Buffer.isBuffer(d.content) ? d.content : await readAll(d.content);
  } catch {
    return ''; // an encoding we cannot decode: no preview rather than a failed FETCH
  }
  const text = decodeCharset(raw, t.charset);
  return foldPreview(t.html ? htmlText(text) : text);
}

async function readAll(r: AsyncIterable<Buffer | string>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
  return Buffer.concat(chunks);
}
