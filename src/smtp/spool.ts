/**
 * The spool: where a message lives between the socket and the mailboxes.
 *
 * Receiving: `receive()` reads the DATA stream into memory up to SPILL_BYTES and into
 * a temp file under `<data>/spool/tmp/` beyond that, so small messages (nearly all of
 * them) cost no extra file while a 50 MB message never sits in memory. A stream that
 * errors or is destroyed (client gone mid-DATA) rejects, and the temp file is removed.
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
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, unlink } from 'node:fs/promises';
import path from 'node:path';
import { removeStaleFiles, writeFileSynced } from '../util/fs.js';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomHex } from './random.js';

/** Messages up to this size stay in memory while they are checked. */
export const SPILL_BYTES = 512 * 1024;
/** The header block of a message we keep in memory to filter/inspect (bigger headers are refused). */
export const MAX_HEADER_BYTES = 1024 * 1024;

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

/** Reads a DATA stream to the end. Rejects if the stream errors or closes early. */
export async function receive(stream: Readable, dataRoot: string): Promise<SpooledMessage> {
  const chunks: Buffer[] = [];
  let size = 0;
  let file: string | undefined;
  let out: ReturnType<typeof createWriteStream> | undefined;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (out) {
        if (!out.write(chunk)) await new Promise<void>((r) => out!.once('drain', () => r()));
        continue;
      }
      chunks.push(chunk);
      if (size > SPILL_BYTES) {
        const dir = path.join(spoolDir(dataRoot), 'tmp');
        await mkdir(dir, { recursive: true });
        file = path.join(dir, `${spoolName()}.in`);
        out = createWriteStream(file, { flags: 'wx' });
        for (const c of chunks) out.write(c);
        chunks.length = 0;
      }
    }
    if (out) {
      await new Promise<void>((resolve, reject) => {
        out!.on('error', reject);
        out!.end(() => resolve());
      });
      return new FileMessage(file!, size);
    }
    return new MemoryMessage(Buffer.concat(chunks, size));
  } catch (err) {
    out?.destroy();
    if (file) await unlink(file).catch(() => undefined);
    throw err;
  }
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
 * Authentication-Results); it gets and returns the raw header block.
 */
export async function writeFinal(
  dataRoot: string,
  prefix: string,
  msg: SpooledMessage,
  filterHeader?: (header: Buffer) => Buffer,
): Promise<{ path: string; size: number }> {
  const dir = path.join(spoolDir(dataRoot), 'tmp');
  const file = path.join(dir, `${spoolName()}.msg`);
  const data = await finalData(prefix, msg, filterHeader);
  if (data) return writeSmall(dir, file, data);
  const head = await msg.header();
  const filtered = filterHeader ? filterHeader(head) : head;
  const pre = Buffer.from(prefix, 'utf8');
  let fh;
  try {
    fh = await open(file, 'wx', 0o640);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await mkdir(dir, { recursive: true });
    fh = await open(file, 'wx', 0o640);
  }
  let size = 0;
  try {
    await fh.write(Buffer.concat([pre, filtered]));
    size = pre.length + filtered.length;
    const rest = createReadStream((msg as FileMessage).file, { start: head.length, highWaterMark: 256 * 1024 });
    const ws = fh.createWriteStream({ autoClose: false });
    await pipeline(rest, ws);
    size += msg.size - head.length;
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await unlink(file).catch(() => undefined);
    throw err;
  }
  await fh.close();
  return { path: file, size };
}

/**
 * writeFinal for a message held in memory: one fsynced file written through plain
 * descriptors (writeFileSynced of src/util/fs.ts, which the store uses too).
 */
async function writeSmall(dir: string, file: string, data: Buffer): Promise<{ path: string; size: number }> {
  try {
    await writeFileSynced(file, data, true);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await mkdir(dir, { recursive: true });
    await writeFileSynced(file, data, true);
  }
  return { path: file, size: data.length };
}

/** Removes spool temp files left by a crash (none of them was acknowledged with 250). */
export function cleanSpool(dataRoot: string, olderThanMs = 0): Promise<number> {
  return removeStaleFiles(path.join(spoolDir(dataRoot), 'tmp'), olderThanMs);
}
