/**
 * COMPRESS=DEFLATE (RFC 4978): after the tagged OK of `COMPRESS DEFLATE` both
 * directions are raw deflate (RFC 1951, no zlib or gzip header; §3). DeflateSocket
 * wraps the connection's socket (plain TCP or TLS) and looks like one to the
 * connection (write, pause/resume, setTimeout, the 'data'/'close'/'timeout' events),
 * the way the TLS upgrade swaps in a TLSSocket.
 *
 * - Output: every write goes into one deflate stream, flushed with Z_SYNC_FLUSH once
 *   the writes of one turn of the event loop are in (a response, or a burst of them):
 *   the client can decode everything it was sent without waiting for more (§4).
 * - Input: inflated with backpressure: when the connection pauses reading, inflating
 *   stops too, so a small compressed stream that inflates to gigabytes never sits in
 *   memory; the framer's line and literal limits see the inflated bytes as usual.
 * - A stream that does not inflate (corrupt or not deflate at all) destroys the
 *   connection: the client gets a closed socket, the server goes on.
 */
import type net from 'node:net';
import { Duplex } from 'node:stream';
import zlib from 'node:zlib';

export class DeflateSocket extends Duplex {
  private readonly inflate = zlib.createInflateRaw();
  private readonly deflate = zlib.createDeflateRaw({ level: 6 });
  private flushQueued = false;

  constructor(readonly raw: net.Socket) {
    super({ allowHalfOpen: false });
    raw.pipe(this.inflate);
    this.inflate.on('data', (d: Buffer) => {
      if (!this.push(d)) this.inflate.pause();
    });
    this.inflate.on('end', () => this.push(null));
    this.inflate.on('error', (err) => this.destroy(err));
    this.deflate.pipe(raw);
    this.deflate.on('error', (err) => this.destroy(err));
    raw.on('timeout', () => this.emit('timeout'));
    raw.on('error', (err) => this.destroy(err));
    raw.on('close', () => this.destroy());
  }

  override _read(): void {
    this.inflate.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const more = this.deflate.write(chunk);
    this.queueFlush();
    if (more) cb();
    else this.deflate.once('drain', () => cb());
  }

  /** Z_SYNC_FLUSH after the writes of this turn (RFC 4978 §4: the peer decodes each response whole). */
  private queueFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    setImmediate(() => {
      this.flushQueued = false;
      if (!this.deflate.destroyed) this.deflate.flush(zlib.constants.Z_SYNC_FLUSH);
    });
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.deflate.end(); // piped: ends the socket once the last bytes are out
    this.deflate.once('end', () => cb());
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.inflate.destroy();
    this.deflate.destroy();
    this.raw.destroy();
    cb(err);
  }

  setTimeout(ms: number): this {
    this.raw.setTimeout(ms);
    return this;
  }
}

/** The wrapper typed as the socket the connection holds (it uses only what DeflateSocket has). */
export function deflateSocket(raw: net.Socket): net.Socket {
  return new DeflateSocket(raw) as unknown as net.Socket;
}
