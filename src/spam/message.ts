/**
 * A message as the spam filter handles it: at most `max_scan_size` bytes read into
 * memory, its header parsed, decoded (./text.ts) and tokenised (./tokenize.ts) once each
 * and only when asked for, with the sender identities (./reputation.ts), the GTUBE test
 * and a key that names the message across moves (a hash of its bytes: a MOVE or COPY
 * keeps them, our trace fields make every delivery unique).
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { HeaderField } from '../imap/mime/header.js';
import { GTUBE } from './decide.js';
import { identitiesOf, type Identities } from './reputation.js';
import { decodesAsRaw, messageHeader, messageText, type MessageText } from './text.js';
import { byUs, fieldText, tokenize } from './tokenize.js';
import type { TokenSet } from './token-set.js';

export interface ScannedMessage {
  bytes: Buffer;
  /** The message was longer than what was read. */
  truncated: boolean;
  /** The top-level header fields (what sender reputation reads). */
  readonly fields: HeaderField[];
  /** The decoded parts (decoded when first asked for). */
  readonly text: MessageText;
  /** The classifier's tokens (tokenised when first asked for: not when no classifier is trained). */
  readonly tokens: TokenSet;
  readonly gtube: boolean;
  readonly key: Buffer;
  /** How far it was read so far: the header only, decoded, or tokenised too. */
  readonly depth: 'header' | 'decoded' | 'tokenised';
}

/** Reads up to `max` bytes of a stream, then stops it. */
export async function readBounded(stream: Readable, max: number): Promise<{ bytes: Buffer; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  let truncated = false;
  try {
    for await (const c of stream) {
      const b = typeof c === 'string' ? Buffer.from(c, 'latin1') : (c as Buffer);
      if (size + b.length > max) {
        chunks.push(b.subarray(0, max - size));
        size = max;
        truncated = true;
        break;
      }
      chunks.push(b);
      size += b.length;
    }
  } finally {
    stream.destroy();
  }
  return { bytes: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size), truncated };
}

/**
 * A message read with readBounded, decoded and tokenised on demand: port 25 parses only
 * the header when no recipient's classifier is trained (GTUBE and reputation need no
 * tokens), training asks for everything.
 */
export function scan(bytes: Buffer, truncated: boolean, hostname: string): ScannedMessage {
  return new Scanned(bytes, truncated, hostname);
}

class Scanned implements ScannedMessage {
  private header?: { fields: HeaderField[]; bodyStart: number };
  private decoded?: MessageText;
  private tokenSet?: TokenSet;
  private isGtube?: boolean;
  private hash?: Buffer;

  constructor(
    readonly bytes: Buffer,
    readonly truncated: boolean,
    private readonly hostname: string,
  ) {}

  get fields(): HeaderField[] {
    return (this.header ??= messageHeader(this.bytes)).fields;
  }

  get text(): MessageText {
    return (this.decoded ??= messageText(this.bytes, (this.header ??= messageHeader(this.bytes))));
  }

  get tokens(): TokenSet {
    return (this.tokenSet ??= tokenize(this.text, { hostname: this.hostname }));
  }

  /** GTUBE in the raw bytes or in a decoded text part (decoded only when it could differ from the bytes). */
  get gtube(): boolean {
    if (this.isGtube === undefined) {
      const raw = this.bytes.includes(GTUBE);
      const header = (this.header ??= messageHeader(this.bytes));
      if (raw || (!this.decoded && decodesAsRaw(header, this.bytes.length))) this.isGtube = raw;
      else this.isGtube = this.text.plain.some((t) => t.includes(GTUBE)) || this.text.html.some((t) => t.includes(GTUBE));
    }
    return this.isGtube;
  }

  get depth(): ScannedMessage['depth'] {
    return this.tokenSet ? 'tokenised' : this.decoded ? 'decoded' : 'header';
  }

  /** Names the message across moves; only training needs it (port 25 scores without hashing). */
  get key(): Buffer {
    return (this.hash ??= createHash('sha256').update(this.bytes).update(String(this.truncated)).digest().subarray(0, 16));
  }
}

/** The first field named `name` (lower-case) that `pred` accepts. */
function first(fields: HeaderField[], name: string, pred?: (f: HeaderField) => boolean): HeaderField | undefined {
  // The length first: lower-casing a binary string never changes it, and most names differ in it.
  return fields.find((f) => f.hasColon && f.name.length === name.length && f.name.toLowerCase() === name && (!pred || pred(f)));
}

/**
 * The sender identities of a stored message: from our own Authentication-Results and
 * Received fields (written at delivery on port 25), and From.
 */
export function storedIdentities(fields: HeaderField[], hostname: string): Identities {
  const host = hostname.toLowerCase();
  const ar = first(fields, 'authentication-results', (f) => f.value.trim().toLowerCase().startsWith(`${host};`));
  const rcv = first(fields, 'received', (f) => byUs(host).test(f.value));
  const ip = rcv ? /\[([0-9a-fA-F:.]+)\]\)/.exec(rcv.value)?.[1] : undefined;
  const from = first(fields, 'from');
  return identitiesOf({ authResults: ar?.value, from: from ? fieldText(from.value) : undefined, ip });
}

/** The identities of a message being scored: the policy's fresh headers, the client's address. */
export function inboundIdentities(fields: HeaderField[], authHeaders: string, hostname: string, ip: string): Identities {
  const host = hostname.toLowerCase();
  let ar: string | undefined;
  // The policy's block: "Received-SPF: …\r\nAuthentication-Results: host;\r\n …".
  for (const m of authHeaders.matchAll(/^Authentication-Results:([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)/gim)) {
    const v = m[1]!.replace(/\r?\n/g, '');
    if (v.trim().toLowerCase().startsWith(`${host};`)) ar = v;
  }
  const from = first(fields, 'from');
  return identitiesOf({ authResults: ar, from: from ? fieldText(from.value) : undefined, ip });
}

const ADDR_STOP = new Set([...' \t\r\n<>"(),;:@']);

/** Recipient addresses of a message the user sent (To, Cc, Bcc), lower-case, bounded. */
export function recipientsOf(fields: HeaderField[], max = 50): string[] {
  const out = new Set<string>();
  for (const f of fields) {
    if (!f.hasColon || !/^(to|cc|bcc)$/i.test(f.name)) continue;
    const text = fieldText(f.value);
    // From each "@", outwards (a pattern scanning for the local part first is quadratic).
    for (let at = text.indexOf('@'); at >= 0 && out.size < max; at = text.indexOf('@', at + 1)) {
      let a = at;
      while (a > 0 && at - a < 64 && !ADDR_STOP.has(text[a - 1]!)) a--;
      let b = at + 1;
      while (b < text.length && b - at < 255 && !ADDR_STOP.has(text[b]!)) b++;
      if (a < at && b > at + 1) out.add(text.slice(a, b).toLowerCase().replace(/\.$/, ''));
    }
  }
  return [...out];
}
