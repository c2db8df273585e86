/**
 * Byte plumbing of section fetches: reading a range of the stored message (the store's
 * positioned reads, or a stream from byte 0), line ends to CRLF, NUL replacement,
 * slicing, and a lazy stream that opens its source on the first read. No file is
 * opened here: bytes come from the store (src/store/types.ts).
 */
import { Readable, Transform, type TransformCallback } from 'node:stream';

/** Reads bytes [start, end) of the stored message. */
export type RangeReader = (start: number, end: number) => Readable | Promise<Readable>;

/**
 * A RangeReader over a function that opens the whole message as a stream (e.g.
 * `() => store.readMessage(...).then(r => r.stream)`): skips to `start`, stops at `end`.
 */
export function streamRangeReader(open: () => Promise<Readable> | Readable): RangeReader {
  return async (start, end) => {
    const src = await open();
    return pipeErr(src, new SliceTransform(start, end - start, () => src.destroy()));
  };
}

/** Passes bytes [skip, skip+take) of its input through; calls done() when finished early. */
export class SliceTransform extends Transform {
  private pos = 0;
  private finished = false;
  constructor(
    private readonly skipBytes: number,
    private readonly takeBytes: number,
    private readonly onDone?: () => void,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.finished) return cb();
    const from = Math.max(0, this.skipBytes - this.pos);
    const to = Math.min(chunk.length, this.skipBytes + this.takeBytes - this.pos);
    this.pos += chunk.length;
    if (to > from) this.push(chunk.subarray(from, to));
    if (this.pos >= this.skipBytes + this.takeBytes) {
      this.finished = true;
      this.push(null);
      this.onDone?.();
    }
    cb();
  }
}

/** Replaces NUL with 0x80 (Dovecot: a NUL cannot be sent in a non-binary literal, RFC 3501 §4.3). */
export class NulTransform extends Transform {
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    cb(null, replaceNul(chunk));
  }
}

export function replaceNul(b: Buffer): Buffer {
  let i = b.indexOf(0);
  if (i < 0) return b;
  const copy = Buffer.from(b);
  for (; i >= 0; i = copy.indexOf(0, i + 1)) copy[i] = 0x80;
  return copy;
}

/** Converts bare LF to CRLF (RFC 3501 §2.1 line ends). */
export class CrlfTransform extends Transform {
  private lastCR = false;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    let start = 0;
    let out: Buffer[] | null = null;
    for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) {
      const prevCR = i > 0 ? chunk[i - 1] === 13 : this.lastCR;
      if (prevCR) continue;
      (out ??= []).push(chunk.subarray(start, i), CRLF);
      start = i + 1;
    }
    if (chunk.length > 0) this.lastCR = chunk[chunk.length - 1] === 13;
    if (out === null) this.push(chunk);
    else {
      out.push(chunk.subarray(start));
      this.push(Buffer.concat(out));
    }
    cb();
  }
}

export const CRLF = Buffer.from('\r\n');

export function toCrlf(buf: Buffer): Buffer {
  if (!buf.includes(10)) return buf;
  const t: Buffer[] = [];
  let start = 0;
  for (let i = buf.indexOf(10); i >= 0; i = buf.indexOf(10, i + 1)) {
    if (i > 0 && buf[i - 1] === 13) continue;
    t.push(buf.subarray(start, i), CRLF);
    start = i + 1;
  }
  t.push(buf.subarray(start));
  return Buffer.concat(t);
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A Readable that calls open() on its first read and relays the opened stream with backpressure. */
export function lazyReadable(open: () => Promise<Readable>): Readable {
  let src: Readable | null = null;
  const out: Readable = new Readable({
    read() {
      if (src) {
        src.resume();
        return;
      }
      open().then(
        (s) => {
          src = s;
          if (out.destroyed) {
            s.destroy();
            return;
          }
          s.on('data', (c: Buffer) => {
            if (!out.push(c)) s.pause();
          });
          s.on('end', () => out.push(null));
          s.on('error', (e) => out.destroy(e));
        },
        (e: Error) => out.destroy(e),
      );
    },
    destroy(err, cb) {
      src?.destroy();
      cb(err);
    },
  });
  return out;
}

/** src.pipe(dst), forwarding src's errors to dst. */
export function pipeErr<T extends Transform>(src: Readable, dst: T): T {
  src.on('error', (e) => dst.destroy(e));
  return src.pipe(dst);
}

/** The number of bytes a stream yields. */
export async function countBytes(s: Readable): Promise<number> {
  let n = 0;
  for await (const c of s) n += (c as Buffer).length;
  return n;
}
