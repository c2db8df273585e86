/**
 * The one seam between the protocol engine and MIME analysis (src/imap/mime/, built in
 * parallel). FETCH and SEARCH call only these functions. Until the analysis module
 * exports its functions, a small fallback here computes an envelope from the header,
 * a single-part BODYSTRUCTURE and the whole-message sections (HEADER, TEXT,
 * HEADER.FIELDS[.NOT], 1), and matches text as case-insensitive substrings of the raw
 * bytes.
 *
 * Values are returned as ImapValue trees and serialised by encodeValue() with the
 * session's Encoder (quoted or literal chosen there). Header strings are "binary
 * strings" (one code unit per byte, see mime/types.ts): written as literals of their
 * latin1 bytes when they hold 8-bit data.
 */
import { Readable, Transform } from 'node:stream';
import addressparser from 'nodemailer/lib/addressparser/index.js';
import type { MessageMeta } from '../store/types.js';
import type { Encoder, StreamChunk } from './wire/encoder.js';

export type ImapValue = null | number | string | { atom: string } | ImapValue[];

/** Opens the stored message (whole file). */
export type OpenMessage = () => Promise<{ stream: Readable; size: number }>;

export interface SectionSpec {
  /** Part numbers ("1.2" → [1, 2]); empty for the whole message. */
  part: number[];
  text?: 'HEADER' | 'HEADER.FIELDS' | 'HEADER.FIELDS.NOT' | 'TEXT' | 'MIME';
  fields?: string[];
}

/** Section data: in memory, or a stream of known size. `null` for a part that does not exist. */
export type SectionData = Buffer | StreamChunk | null;

export function encodeValue(enc: Encoder, v: ImapValue): void {
  if (v === null) enc.nil();
  else if (typeof v === 'number') enc.num(v);
  else if (typeof v === 'string') {
    if (/[^\x00-\x7f]/.test(v)) {
      const buf = Buffer.from(v, 'latin1');
      if (/^[\x20-\x7e\x80-\xff]*$/.test(v) && enc.opts.utf8 && isUtf8(buf)) enc.quoted(buf.toString('utf8'));
      else enc.literal(buf);
    } else enc.string(v);
  } else if (Array.isArray(v)) enc.list(v, (x) => encodeValue(enc, x));
  else enc.atom(v.atom);
}

function isUtf8(b: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(b);
    return true;
  } catch {
    return false;
  }
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

function addrList(v: string | undefined): ImapValue {
  if (v === undefined || v.trim() === '') return null;
  const parsed = addressparser(v);
  const out: ImapValue[] = [];
  for (const a of parsed) {
    if ('group' in a) {
      out.push([null, null, a.name || null, null]);
      for (const g of a.group) out.push(one(g));
      out.push([null, null, null, null]);
    } else out.push(one(a));
  }
  return out.length ? out : null;
  function one(a: { name: string; address: string }): ImapValue {
    const at = a.address.lastIndexOf('@');
    return [a.name || null, null, at >= 0 ? a.address.slice(0, at) : a.address || null, at >= 0 ? a.address.slice(at + 1) : null];
  }
}

/** ENVELOPE (RFC 9051 §7.5.2): date subject from sender reply-to to cc bcc in-reply-to message-id. */
export async function envelopeOf(_meta: MessageMeta, open: OpenMessage): Promise<ImapValue> {
  const { header } = await readHeader(open);
  const f = headerFields(header);
  const get = (n: string): string | undefined => f.find(([k]) => k.toLowerCase() === n)?.[1];
  const from = addrList(get('from'));
  return [
    get('date') ?? null,
    get('subject') ?? null,
    from,
    addrList(get('sender')) ?? from,
    addrList(get('reply-to')) ?? from,
    addrList(get('to')),
    addrList(get('cc')),
    addrList(get('bcc')),
    get('in-reply-to') ?? null,
    get('message-id') ?? null,
  ];
}

/** BODY / BODYSTRUCTURE (RFC 9051 §7.5.2). Fallback: one text part. */
export async function bodyStructureOf(meta: MessageMeta, open: OpenMessage, extended: boolean): Promise<ImapValue> {
  const { header, size } = await readHeader(open);
  const f = headerFields(header);
  const ct = (f.find(([k]) => k.toLowerCase() === 'content-type')?.[1] ?? 'text/plain').toLowerCase();
  const m = /^([a-z0-9!#$&^_.+-]+)\/([a-z0-9!#$&^_.+-]+)/.exec(ct);
  const cs = /charset="?([^";\s]+)/.exec(ct)?.[1];
  const cte = f.find(([k]) => k.toLowerCase() === 'content-transfer-encoding')?.[1] ?? '7bit';
  const bodySize = Math.max(0, size - header.length);
  const base: ImapValue[] = [m?.[1] ?? 'text', m?.[2] ?? 'plain', ['charset', cs ?? 'us-ascii'], null, null, cte, bodySize];
  if ((m?.[1] ?? 'text') === 'text') base.push(Math.max(1, Math.round(bodySize / 60)));
  if (extended) base.push(null, null, null, null);
  void meta;
  return base;
}

/** BODY[section] bytes (RFC 9051 §6.4.5). */
export async function sectionOf(_meta: MessageMeta, open: OpenMessage, spec: SectionSpec): Promise<SectionData> {
  if (spec.part.length > 1 || (spec.part.length === 1 && spec.part[0] !== 1)) return Buffer.alloc(0);
  if (spec.part.length === 0 && !spec.text) {
    const { size } = await open().then((r) => {
      r.stream.destroy();
      return r;
    });
    return { size, open: async () => (await open()).stream };
  }
  const { header, size } = await readHeader(open);
  const text = spec.part.length === 1 && !spec.text ? 'TEXT' : (spec.text ?? 'TEXT');
  if (text === 'HEADER' || text === 'MIME') return header;
  if (text === 'HEADER.FIELDS' || text === 'HEADER.FIELDS.NOT') {
    const want = new Set((spec.fields ?? []).map((x) => x.toLowerCase()));
    const not = text === 'HEADER.FIELDS.NOT';
    const lines = header.toString('latin1').split(/\r?\n(?![ \t])/);
    const kept = lines.filter((l) => {
      const i = l.indexOf(':');
      if (i <= 0) return false;
      return want.has(l.slice(0, i).trim().toLowerCase()) !== not;
    });
    return Buffer.from(kept.map((l) => l.replace(/\r?\n/g, '\r\n') + '\r\n').join('') + '\r\n', 'latin1');
  }
  const skip = header.length;
  return { size: Math.max(0, size - skip), open: async () => sliceStream((await open()).stream, skip, size - skip) };
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
