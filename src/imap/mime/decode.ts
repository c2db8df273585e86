/**
 * Content-Transfer-Encoding decoders for BINARY (RFC 3516) and SEARCH (RFC 9051
 * §6.4.4): base64 (RFC 2045 §6.8) and quoted-printable (RFC 2045 §6.7), as synchronous
 * incremental cores and as Transform streams over them.
 */
import { Transform, type TransformCallback } from 'node:stream';

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

export class CoreTransform extends Transform {
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
