/**
 * The message as a Sieve script sees it: header fields (decoded for `header`, parsed as
 * addresses for `address`), the envelope (RFC 5228 §5.4), the size, and for the `body`
 * test (RFC 5173) the decoded text of its MIME parts.
 *
 * Implementation notes:
 * - The header block is split once (src/imap/mime/header.ts, Dovecot's rules) and every
 *   lookup is cached per field name, so a 50-rule script costs one parse.
 * - Header values are unfolded, RFC 2047 encoded-words decoded, 8-bit bytes read as
 *   UTF-8 when valid (RFC 5228 §2.7.2: comparisons are on the decoded text), with
 *   leading and trailing whitespace removed, as Pigeonhole does.
 * - `body` works on the first MAX_BODY_BYTES of the message only (what the delivery
 *   path hands in); text beyond that is not searched. The MIME tree comes from the
 *   store's analyzer (src/imap/mime/analyze.ts).
 */
import { createRequire } from 'node:module';
import type Libmime from 'libmime';
import { analyzeBuffer } from '../imap/mime/analyze.js';
import { parseAddressList } from '../imap/mime/address.js';
import { parseHeaderBlock, type HeaderField } from '../imap/mime/header.js';
import { headerText } from '../imap/mime/search.js';
import { Base64Core, QpCore } from '../imap/mime/decode.js';
import type { BodyPart } from '../imap/mime/types.js';

/** Bytes of a message the body test looks at (the delivery path reads at most this). */
export const MAX_BODY_BYTES = 1024 * 1024;

let libmimeModule: typeof Libmime | undefined;
const libmime = (): typeof Libmime => (libmimeModule ??= createRequire(import.meta.url)('libmime') as typeof Libmime);

export interface SieveEnvelope {
  /** MAIL FROM; '' for the null sender. */
  from: string;
  /** The envelope recipient this script runs for (RCPT TO as received). */
  to: string;
  /** The authenticated submitter, if any (envelope "auth", RFC 5228 §5.4 allows more parts). */
  auth?: string;
}

/** One address of an address header: local part and domain, or the raw text of an unparsable one. */
export interface SieveAddress {
  local: string | null;
  domain: string | null;
  /** The whole text, used by :all when the address did not parse. */
  raw?: string;
}

export interface MessageInput {
  /** The header block (up to and including the blank line). */
  header: Buffer;
  /** RFC 5228 §5.9: the message size in octets. */
  size: number;
  /** The whole message, or its first MAX_BODY_BYTES; needed only by the body test. */
  raw?: Buffer;
}

export type BodyTransform = { kind: 'raw' } | { kind: 'text' } | { kind: 'content'; types: string[] };

export class SieveMessage {
  readonly size: number;
  private fieldsCache?: HeaderField[];
  /** Lower-cased field name → its fields, built on first lookup. */
  private byName?: Map<string, HeaderField[]>;
  private readonly decoded = new Map<string, string[]>();
  private readonly addrs = new Map<string, SieveAddress[][]>();

  constructor(private readonly input: MessageInput) {
    this.size = input.size;
  }

  get header(): Buffer {
    return this.input.header;
  }

  fields(): HeaderField[] {
    return (this.fieldsCache ??= parseHeaderBlock(this.input.header).filter((f) => f.hasColon));
  }

  private named(name: string): HeaderField[] {
    if (!this.byName) {
      this.byName = new Map();
      for (const f of this.fields()) {
        const k = f.name.toLowerCase();
        const l = this.byName.get(k);
        if (l) l.push(f);
        else this.byName.set(k, [f]);
      }
    }
    return this.byName.get(name.toLowerCase()) ?? [];
  }

  /** Raw unfolded values of every field with this name (case-insensitive), in order. */
  rawValues(name: string): string[] {
    return this.named(name).map((f) => f.value);
  }

  exists(name: string): boolean {
    return this.named(name).length > 0;
  }

  /** RFC 5228 §5.7: decoded values of a header field. */
  headerValues(name: string): string[] {
    const key = name.toLowerCase();
    let v = this.decoded.get(key);
    if (!v) {
      v = this.rawValues(key).map((raw) => headerText(raw.replace(/\n/g, '')).trim());
      this.decoded.set(key, v);
    }
    return v;
  }

  /** RFC 5228 §5.1: the addresses of each field with this name (one list per field); group names left out. */
  addressesPerField(name: string): SieveAddress[][] {
    const key = name.toLowerCase();
    let v = this.addrs.get(key);
    if (!v) {
      v = this.rawValues(key).map((raw) => parseAddresses(raw));
      this.addrs.set(key, v);
    }
    return v;
  }

  /** RFC 5173: the body as the transform asks, one string per part tested. */
  bodyTexts(t: BodyTransform): string[] {
    const raw = this.input.raw;
    if (!raw) return [];
    if (t.kind === 'raw') {
      const start = headerLength(raw);
      return [raw.subarray(start).toString('utf8')];
    }
    const types = t.kind === 'text' ? ['text'] : t.types.map((x) => x.toLowerCase());
    const out: string[] = [];
    const walk = (p: BodyPart) => {
      if (p.parts) {
        for (const c of p.parts) walk(c);
        return;
      }
      if (p.message) {
        walk(p.message.body);
        return;
      }
      if (!typeMatches(p, types)) return;
      out.push(decodePart(raw, p));
    };
    walk(analyzeBuffer(raw).bodyStructure);
    return out;
  }
}

/** Byte length of the header block including its blank line. */
function headerLength(raw: Buffer): number {
  const crlf = raw.indexOf('\r\n\r\n');
  const lf = raw.indexOf('\n\n');
  if (crlf < 0 && lf < 0) return raw.length;
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return crlf + 4;
  return lf + 2;
}

/** RFC 5173 §5.2: "" matches every type, "text" every text/*, "text/plain" just that. */
function typeMatches(p: BodyPart, types: string[]): boolean {
  const full = `${p.type}/${p.subtype}`.toLowerCase();
  const main = p.type.toLowerCase();
  return types.some((t) => t === '' || t === full || (!t.includes('/') && t === main));
}

function paramOf(p: BodyPart, key: string): string | undefined {
  const params = p.params;
  if (!params) return undefined;
  for (let i = 0; i < params.length; i += 2) if (params[i]!.toLowerCase() === key) return params[i + 1];
  return undefined;
}

/** A leaf's body with the transfer encoding and charset undone, as UTF-16 text. */
function decodePart(raw: Buffer, p: BodyPart): string {
  const bytes = raw.subarray(p.bodyStart, Math.min(p.bodyEnd, raw.length));
  const enc = (p.binaryEncoding ?? p.encoding ?? '7bit').toLowerCase();
  let data: Buffer = bytes;
  if (enc === 'base64' || enc === 'quoted-printable') {
    const d = enc === 'base64' ? new Base64Core() : new QpCore();
    data = Buffer.concat([d.write(bytes), d.end()]);
  }
  const charset = paramOf(p, 'charset');
  for (const label of [charset, charset ? libmime().normalizeCharset(charset) : undefined]) {
    if (!label) continue;
    try {
      return new TextDecoder(label).decode(data);
    } catch {
      // next label
    }
  }
  return new TextDecoder('utf-8').decode(data);
}

/** Parses one address header value; an unparsable one becomes a single raw entry. */
export function parseAddresses(raw: string): SieveAddress[] {
  const value = raw.replace(/\n/g, '');
  const list = parseAddressList(value);
  if (!list) return [];
  const out: SieveAddress[] = [];
  let broken = false;
  for (const a of list) {
    if (a.host === null) continue; // group start / end markers (RFC 5322 §3.4)
    if (a.mailbox === 'MISSING_MAILBOX' || a.host === 'MISSING_DOMAIN' || a.host === 'SYNTAX_ERROR') {
      broken = true;
      continue;
    }
    out.push({ local: headerText(a.mailbox ?? ''), domain: a.host });
  }
  // An unparsable address, or a group with no member ("undisclosed-recipients:;"), is one
  // entry that only :all sees, with the field's text (as Pigeonhole does).
  if (broken || out.length === 0) out.push({ local: null, domain: null, raw: headerText(value).trim() });
  return out;
}
