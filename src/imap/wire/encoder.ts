/**
 * The response encoder: builds one response as a list of chunks (text, buffers and
 * streamed literals) so that large bodies are written straight from the file stream
 * with backpressure (never buffered). Handlers call the token writers below and never
 * build IMAP strings from user data with template literals (mox pack.go, go-imap
 * responseEncoder).
 *
 * String form (RFC 9051 §4.3): quoted when short and safe, a literal otherwise. UTF-8
 * in quoted strings and mailbox names only when the client enabled UTF8=ACCEPT or
 * IMAP4rev2 (RFC 6855 §3, RFC 9051 §5.1); otherwise mailbox names are modified UTF-7.
 */
import type { Readable } from 'node:stream';
import { encodeUtf7 } from './utf7.js';

export interface StreamChunk {
  size: number;
  open: () => Promise<Readable>;
}
export type Chunk = string | Buffer | StreamChunk;

export interface EncoderOptions {
  utf8: boolean;
}

const MAX_QUOTED = 1000;

export class Encoder {
  readonly chunks: Chunk[] = [];
  private text = '';

  constructor(readonly opts: EncoderOptions = { utf8: false }) {}

  private flushText(): void {
    if (this.text) {
      this.chunks.push(this.text);
      this.text = '';
    }
  }

  /** Raw protocol text (keywords, numbers, punctuation). Never user data. */
  raw(s: string): this {
    this.text += s;
    return this;
  }

  /** Pre-serialised IMAP data (e.g. ENVELOPE/BODYSTRUCTURE from mime/format.ts, literals included). */
  rawBuffer(b: Buffer): this {
    this.flushText();
    this.chunks.push(b);
    return this;
  }

  sp(): this {
    this.text += ' ';
    return this;
  }

  atom(s: string): this {
    this.text += s;
    return this;
  }

  num(n: number | bigint): this {
    this.text += String(n);
    return this;
  }

  nil(): this {
    this.text += 'NIL';
    return this;
  }

  quoted(s: string): this {
    this.text += '"' + s.replace(/[\\"]/g, (c) => '\\' + c) + '"';
    return this;
  }

  /** string: quoted when possible, literal otherwise (RFC 9051 §4.3). */
  string(s: string): this {
    const safe = s.length <= MAX_QUOTED && !/[\r\n\0]/.test(s) && (this.opts.utf8 || /^[\x01-\x7f]*$/.test(s));
    if (safe) return this.quoted(s);
    return this.literal(Buffer.from(s, 'utf8'));
  }

  nstring(s: string | null | undefined): this {
    return s == null ? this.nil() : this.string(s);
  }

  /** astring for atoms that are safe as-is (flags, keywords) else string. */
  astring(s: string): this {
    if (/^[^(){ %*"\\\]\x00-\x20\x7f-\uffff]+$/.test(s)) return this.atom(s);
    return this.string(s);
  }

  literal(data: Buffer, binary = false): this {
    this.text += (binary ? '~{' : '{') + data.length + '}\r\n';
    this.flushText();
    this.chunks.push(data);
    return this;
  }

  /** A literal whose bytes come from a stream opened when written (FETCH BODY[]). */
  literalStream(size: number, open: () => Promise<Readable>, binary = false): this {
    this.text += (binary ? '~{' : '{') + size + '}\r\n';
    this.flushText();
    this.chunks.push({ size, open });
    return this;
  }

  /** A mailbox name: modified UTF-7 unless UTF-8 is enabled (RFC 3501 §5.1.3). */
  mailbox(name: string): this {
    const wire = this.opts.utf8 ? name : encodeUtf7(name);
    return this.astring(wire);
  }

  /** "(" a SP b ... ")" */
  list<T>(items: readonly T[], each: (item: T, enc: this) => void): this {
    this.text += '(';
    items.forEach((it, i) => {
      if (i > 0) this.text += ' ';
      each(it, this);
    });
    this.text += ')';
    return this;
  }

  crlf(): this {
    this.text += '\r\n';
    return this;
  }

  done(): Chunk[] {
    this.flushText();
    return this.chunks;
  }
}

/** IMAP date-time: "dd-Mon-yyyy hh:mm:ss +0000" (RFC 9051 §9 date-time), in UTC. */
export function formatDateTime(d: Date): string {
  const mon = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][d.getUTCMonth()]!;
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}-${mon}-${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}
