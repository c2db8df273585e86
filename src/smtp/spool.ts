/**
 * The spool: where a message lives between the socket and the mailboxes.
 *
 * Receiving: `receive()` fixes line ends as the bytes arrive (bare LF and CR CR LF become
 * CRLF; a bare CR in the header refuses the message, src/smtp/line-ends.ts), and reads the DATA stream into memory up to SPILL_BYTES and into
 * a temp file under `<data>/spool/tmp/` beyond that, so small messages (nearly all of
 * them) cost no extra file while a 50 MB message never sits in memory. A stream that
 * errors or is destroyed (client gone mid-DATA) rejects, and the temp file is removed.
 * A message over the size limit is drained without being kept (smtp-server answers
 * `552 5.3.4`), so an oversized one fills neither memory nor disk.
 *
 * Writing: a message held in memory and bound for local mailboxes only never gets a
 * spool file: `finalData()` gives trace headers + the (filtered) header block + body as
 * one buffer, and the store writes and fsyncs it once, in the mailbox's own tmp/. For the
 * rest (forwards that the queue must keep, messages spilled to disk), `writeFinal()`
 * writes the same bytes to one new file in `<data>/spool/tmp/`, fsyncs it, and returns
 * its path. The store then hard-links that file into every recipient's Maildir (same
 * filesystem, same data root), and the caller unlinks the spool name. A crash before
 * the links leaves only a spool temp file, which `cleanSpool()` removes at the next
 * start: the sender got no 250 yet.
 *
 * Every spool file is written through a `SpoolSink` (plain descriptors by default), and
 * every step of it (open, write, fsync, close) is bounded by `limits.spool_write_timeout_ms`:
 * a step that fails or does not finish in time rejects, the file is unlinked, and the
 * SMTP front end answers `451 4.3.0`. Nothing waits on a promise that may never settle
 * (a FileHandle with a write stream made from it and `autoClose: false` never finishes
 * `close()` on Node 20, nodejs/node#54797: that hung every message over SPILL_BYTES).
 */
import { close as closeCb, constants as fsc, createReadStream, fsync as fsyncCb, open as openCb, writev as writevCb } from 'node:fs';
import { mkdir, open, unlink } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { Readable } from 'node:stream';
import { removeStaleFiles } from '../util/fs.js';
import { randomHex } from '../util/random.js';
import type { ServerContext } from '../context.js';
import { LineEndNormalizer } from './line-ends.js';
import { Rejects } from './reply.js';

/** Messages up to this size stay in memory while they are checked. */
export const SPILL_BYTES = 512 * 1024;
/** The header block of a message we keep in memory to filter/inspect (bigger headers are refused). */
export const MAX_HEADER_BYTES = 1024 * 1024;

/** One spool file being written. Each call is bounded by the caller's step timeout. */
export interface SpoolSink {
  /** Writes the buffers in order, all of them (one gathered write where it can). */
  write(data: Buffer[]): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}
/** Creates a new spool file (exclusively) and returns its sink. */
export type SpoolSinkFactory = (file: string) => Promise<SpoolSink>;

/** How the spool writes: where, through what, and how long one step may take. */
export interface SpoolIo {
  dataRoot: string;
  sink: SpoolSinkFactory;
  stepTimeoutMs: number;
}

/** The spool as the server context configures it (a test may put its own sink in ctx.spoolSink). */
export function spoolIo(ctx: Pick<ServerContext, 'config' | 'spoolSink'>): SpoolIo {
  return { dataRoot: ctx.config.dataRoot, sink: ctx.spoolSink ?? fdSink, stepTimeoutMs: ctx.config.limits.spoolWriteTimeoutMs };
}

const openFd = promisify(openCb);
const writevFd = promisify(writevCb);
const fsyncFd = promisify(fsyncCb);
const closeFd = promisify(closeCb);

/** The default sink: a plain descriptor (no FileHandle, no stream, nothing to hang on). */
export const fdSink: SpoolSinkFactory = async (file) => {
  const fd = await openFd(file, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o640);
  return {
    async write(data) {
      // writev may write less than asked: go on from where it stopped.
      for (let rest = data.filter((b) => b.length > 0); rest.length > 0; ) {
        let n = (await writevFd(fd, rest)).bytesWritten;
        while (rest.length > 0 && n >= rest[0]!.length) n -= rest.shift()!.length;
        if (n > 0) rest[0] = rest[0]!.subarray(n);
      }
    },
    sync: () => fsyncFd(fd),
    close: () => closeFd(fd),
  };
};

/** A spool step that did not finish in time (answered 451 like any write error). */
export class SpoolTimeout extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(what: string, ms: number) {
    super(`spool ${what} did not finish within ${ms} ms`);
    this.name = 'SpoolTimeout';
  }
}

/** `p`, or a SpoolTimeout after `ms`. The timer never keeps the process alive. */
export function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SpoolTimeout(what, ms)), ms);
    timer.unref();
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/**
 * A spool file written step by step, each step bounded. `abort()` gives up: the file
 * is unlinked at once (a stalled descriptor is closed in the background, if ever).
 */
class SpoolWriter {
  private sink?: SpoolSink;
  /** The step under way: a descriptor is closed only after it settles (never under a pending write). */
  private last: Promise<unknown> = Promise.resolve();
  private constructor(
    readonly file: string,
    private readonly io: SpoolIo,
  ) {}

  static async create(io: SpoolIo, suffix: string): Promise<SpoolWriter> {
    const dir = path.join(spoolDir(io.dataRoot), 'tmp');
    const w = new SpoolWriter(path.join(dir, `${spoolName()}${suffix}`), io);
    try {
      w.sink = await w.open();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await mkdir(dir, { recursive: true });
      w.sink = await w.open();
    }
    return w;
  }

  private async open(): Promise<SpoolSink> {
    const p = this.io.sink(this.file);
    try {
      return await bounded(p, this.io.stepTimeoutMs, 'open');
    } catch (err) {
      if (err instanceof SpoolTimeout) {
        // Should the open finish after all, what it made is closed and removed.
        p.then((s) => (s.close().catch(() => undefined), unlink(this.file))).catch(() => undefined);
      }
      throw err;
    }
  }

  private async step<T>(p: Promise<T>, what: string): Promise<T> {
    this.last = p;
    try {
      return await bounded(p, this.io.stepTimeoutMs, what);
    } catch (err) {
      await this.abort();
      throw err;
    }
  }

  write(...data: Buffer[]): Promise<void> {
    return this.step(this.sink!.write(data), 'write');
  }

  /** fsync (when asked) and close; the file stays. */
  async finish(sync: boolean): Promise<void> {
    if (sync) await this.step(this.sink!.sync(), 'fsync');
    const sink = this.sink!;
    this.sink = undefined;
    await this.step(sink.close(), 'close');
  }

  /** Gives up: the file is unlinked now; the descriptor is closed once its last step settles. */
  async abort(): Promise<void> {
    const sink = this.sink;
    this.sink = undefined;
    if (sink) {
      // Not awaited: a stalled descriptor must not stall the answer.
      this.last
        .catch(() => undefined)
        .then(() => sink.close())
        .catch(() => undefined);
    }
    await unlink(this.file).catch(() => undefined);
  }
}

export function spoolDir(dataRoot: string): string {
  return path.join(dataRoot, 'spool');
}

let counter = 0;
/** A unique spool file name: time, pid, counter, randomness. */
export function spoolName(): string {
  counter = (counter + 1) % 1_000_000;
  return `${Date.now()}.${process.pid}.${counter}.${randomHex(4)}`;
}

/** A received message, in memory or in a temp file. */
export interface SpooledMessage {
  size: number;
  /** The whole message, when it is held in memory (read without a stream). */
  readonly data?: Buffer;
  /** A fresh stream over the whole message each call. */
  open(): Readable;
  /** The first bytes up to and including the blank line ending the header block (or everything). */
  header(): Promise<Buffer>;
  dispose(): Promise<void>;
}

class MemoryMessage implements SpooledMessage {
  constructor(readonly data: Buffer) {}
  get size() {
    return this.data.length;
  }
  open(): Readable {
    return Readable.from([this.data]);
  }
  async header(): Promise<Buffer> {
    return this.data.subarray(0, headerEnd(this.data));
  }
  async dispose(): Promise<void> {}
}

class FileMessage implements SpooledMessage {
  constructor(
    readonly file: string,
    readonly size: number,
  ) {}
  open(): Readable {
    return createReadStream(this.file, { highWaterMark: 256 * 1024 });
  }
  async header(): Promise<Buffer> {
    const fh = await open(this.file, 'r');
    try {
      const buf = Buffer.alloc(Math.min(this.size, MAX_HEADER_BYTES));
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      const b = buf.subarray(0, bytesRead);
      return b.subarray(0, headerEnd(b));
    } finally {
      await fh.close();
    }
  }
  async dispose(): Promise<void> {
    await unlink(this.file).catch(() => undefined);
  }
}

/** Index just past the header block's terminating empty line; the whole buffer if there is none. */
export function headerEnd(buf: Buffer): number {
  const crlf = buf.indexOf('\r\n\r\n');
  const lf = buf.indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return crlf + 4;
  if (lf >= 0) return lf + 2;
  // A message that is all header (or starts with the empty line).
  if (buf.subarray(0, 2).equals(Buffer.from('\r\n'))) return 0;
  return buf.length;
}

/** Socket chunks are written in gathered writes of about this many bytes (fewer syscalls, no copy). */
const WRITE_BATCH = 256 * 1024;

/**
 * Reads a DATA stream to the end. Rejects if the stream errors or closes early, or if
 * writing the temp file fails or stalls; in that last case the rest of the stream is
 * still read (and dropped) so that the client gets its reply after the final dot.
 */
export async function receive(stream: Readable & { sizeExceeded?: boolean }, io: SpoolIo): Promise<SpooledMessage> {
  const chunks: Buffer[] = [];
  let size = 0;
  let pending = 0;
  let out: SpoolWriter | undefined;
  let failed: unknown;
  // Line ends fixed once, here, before any check reads the message (src/smtp/line-ends.ts).
  const lineEnds = new LineEndNormalizer();
  try {
    for await (const raw of withEnd(stream as AsyncIterable<Buffer>, lineEnds)) {
      const chunk = lineEnds.push(raw);
      size += chunk.length;
      if (lineEnds.bareCrInHeader && failed === undefined) failed = Rejects.bareCrInHeader();
      if (failed !== undefined || stream.sizeExceeded) {
        // Refused (too big) or the spool failed: drain to the dot, keep nothing.
        chunks.length = 0;
        if (out) await out.abort();
        out = undefined;
        continue;
      }
      chunks.push(chunk);
      pending += chunk.length;
      if (!out && size <= SPILL_BYTES) continue;
      if (pending < WRITE_BATCH && out) continue;
      try {
        out ??= await SpoolWriter.create(io, '.in');
        await out.write(...chunks);
      } catch (err) {
        failed = err;
        out = undefined; // the writer removed its file
      }
      chunks.length = 0;
      pending = 0;
    }
    if (failed !== undefined) throw failed;
    if (stream.sizeExceeded) return new MemoryMessage(Buffer.alloc(0));
    if (out) {
      if (pending > 0) await out.write(...chunks);
      await out.finish(false);
      return new FileMessage(out.file, size);
    }
    return new MemoryMessage(Buffer.concat(chunks, size));
  } catch (err) {
    await out?.abort();
    throw err;
  }
}

/** The stream's chunks, then what the normaliser holds back at the end (a trailing CR), as one last chunk. */
async function* withEnd(stream: AsyncIterable<Buffer>, lineEnds: LineEndNormalizer): AsyncGenerator<Buffer> {
  yield* stream;
  const tail = lineEnds.end();
  if (tail.length > 0) yield tail;
}

/**
 * The final message (prefix + filtered header + body) as one buffer, for a message held
 * in memory; undefined for one spilled to a file. A message for local mailboxes only
 * goes from this buffer straight into the store, which writes and fsyncs it once in
 * the mailbox's own tmp/ (no spool file to write, re-read and unlink).
 */
export async function finalData(prefix: string, msg: SpooledMessage, filterHeader?: (header: Buffer) => Buffer): Promise<Buffer | undefined> {
  if (!(msg instanceof MemoryMessage)) return undefined;
  const head = await msg.header();
  const filtered = filterHeader ? filterHeader(head) : head;
  return Buffer.concat([Buffer.from(prefix, 'utf8'), filtered, msg.data.subarray(head.length)]);
}

/**
 * Writes prefix + filtered header + body to a new fsynced spool file and returns its
 * path and size. `filterHeader` may drop or rewrite header lines (forged
 * Authentication-Results); it gets and returns the raw header block. Rejects (file
 * removed) when a step fails or stalls.
 */
export async function writeFinal(
  io: SpoolIo,
  prefix: string,
  msg: SpooledMessage,
  filterHeader?: (header: Buffer) => Buffer,
): Promise<{ path: string; size: number }> {
  const data = await finalData(prefix, msg, filterHeader);
  const out = await SpoolWriter.create(io, '.msg');
  try {
    if (data) {
      await out.write(data);
      await out.finish(true);
      return { path: out.file, size: data.length };
    }
    const head = await msg.header();
    const filtered = filterHeader ? filterHeader(head) : head;
    const pre = Buffer.from(prefix, 'utf8');
    await out.write(pre, filtered);
    // The body, read back from the temp file in 256 KB pieces: memory stays flat.
    const rest = createReadStream((msg as FileMessage).file, { start: head.length, highWaterMark: WRITE_BATCH });
    try {
      for await (const chunk of rest as AsyncIterable<Buffer>) await out.write(chunk);
    } finally {
      rest.destroy();
    }
    await out.finish(true);
    return { path: out.file, size: pre.length + filtered.length + msg.size - head.length };
  } catch (err) {
    await out.abort();
    throw err;
  }
}

/** Removes spool temp files left by a crash (none of them was acknowledged with 250). */
export function cleanSpool(dataRoot: string, olderThanMs = 0): Promise<number> {
  return removeStaleFiles(path.join(spoolDir(dataRoot), 'tmp'), olderThanMs);
}
