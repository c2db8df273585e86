/**
 * A message as the spam filter handles it: at most `max_scan_size` bytes read into
 * memory, decoded once (./text.ts), tokenised once (./tokenize.ts), with the sender
 * identities (./reputation.ts), the GTUBE test and a key that names the message across
 * moves (a hash of its bytes: a MOVE or COPY keeps them, our trace fields make every
 * delivery unique).
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { HeaderField } from '../imap/mime/header.js';
import { GTUBE } from './decide.js';
import { identitiesOf, type Identities } from './reputation.js';
import { messageText, type MessageText } from './text.js';
import { byUs, fieldText, tokenize } from './tokenize.js';

export interface ScannedMessage {
  bytes: Buffer;
  /** The message was longer than what was read. */
  truncated: boolean;
  text: MessageText;
  tokens: Set<string>;
  gtube: boolean;
  key: Buffer;
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

/** Decodes and tokenises bytes read with readBounded. */
export function scan(bytes: Buffer, truncated: boolean, hostname: string): ScannedMessage {
  const text = messageText(bytes);
  const tokens = tokenize(text, { hostname });
  const gtube = bytes.includes(GTUBE) || text.plain.some((t) => t.includes(GTUBE)) || text.html.some((t) => t.includes(GTUBE));
  let key: Buffer | undefined;
  return {
    bytes,
    truncated,
    text,
    tokens,
    gtube,
    // Only training needs it: port 25 scores without hashing the message.
    get key() {
      return (key ??= createHash('sha256').update(bytes).update(String(truncated)).digest().subarray(0, 16));
    },
  };
}

function first(fields: HeaderField[], name: string, pred?: (f: HeaderField) => boolean): HeaderField | undefined {
  return fields.find((f) => f.hasColon && f.name.toLowerCase() === name && (!pred || pred(f)));
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
