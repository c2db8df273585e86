/**
 * POP3 wire codec, no sockets (STYLE.md principle 2, pg-protocol style):
 *
 * - `LineFramer`: a push framer that turns socket chunks into command lines. Lines end
 *   in CRLF (RFC 1939 §3); a bare LF is accepted too (lenient, as Dovecot is). A line
 *   longer than the limit yields one `tooLong` unit and is discarded up to its end, so
 *   a hostile client cannot make us buffer without bound (RFC 2449 §4 caps commands at
 *   255 octets; we allow more for AUTH responses and long passwords).
 * - `parseCommand`: keyword + arguments (RFC 1939 §3: case-insensitive keyword of 3-4
 *   characters, arguments separated by single spaces).
 * - `MultilineEncoder`: a Transform that turns a stored message into the body of a
 *   multi-line response (RFC 1939 §3): every line ends in CRLF whatever the file has
 *   (bare LF → CRLF; a bare CR is left alone), lines starting with "." get an extra "."
 *   (byte-stuffing), a final line without a newline is terminated, and the response
 *   ends with ".\r\n". With `bodyLines` set it implements TOP (RFC 1939 §7): the
 *   headers, the blank line, then at most that many body lines.
 */
import { Transform, type TransformCallback } from 'node:stream';

const LF = 0x0a;
const CR = 0x0d;
const DOT = 0x2e;

export type FramedUnit = { line: string } | { tooLong: true };

export class LineFramer {
  private parts: Buffer[] = [];
  private partLen = 0;
  private discarding = false;

  constructor(readonly maxLine: number) {}

  /** Feeds a chunk; returns the complete units it finished, in order. */
  push(chunk: Buffer): FramedUnit[] {
    const out: FramedUnit[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      const nl = chunk.indexOf(LF, pos);
      const end = nl === -1 ? chunk.length : nl;
      if (!this.discarding) {
        if (this.partLen + (end - pos) > this.maxLine) {
          this.discarding = true;
          this.parts = [];
          this.partLen = 0;
          out.push({ tooLong: true });
        } else if (end > pos) {
          this.parts.push(chunk.subarray(pos, end));
          this.partLen += end - pos;
        }
      }
      if (nl === -1) break;
      if (this.discarding) {
        this.discarding = false;
      } else {
        let buf = Buffer.concat(this.parts, this.partLen);
        if (buf.length > 0 && buf[buf.length - 1] === CR) buf = buf.subarray(0, buf.length - 1);
        out.push({ line: buf.toString('utf8') });
      }
      this.parts = [];
      this.partLen = 0;
      pos = nl + 1;
    }
    return out;
  }

  /** Bytes held for an unfinished line (for tests and limits). */
  get pending(): number {
    return this.partLen;
  }
}

export interface ParsedCommand {
  /** Upper-cased keyword. */
  name: string;
  /** Arguments split on single spaces (RFC 1939 §3). */
  args: string[];
  /** Everything after the keyword and one space, verbatim (PASS takes the rest of the line). */
  rest: string;
}

/** Splits a command line; undefined when the keyword is not 1-16 printable letters. */
export function parseCommand(line: string): ParsedCommand | undefined {
  const sp = line.indexOf(' ');
  const keyword = sp === -1 ? line : line.slice(0, sp);
  // RFC 1939 §3: keywords are 3-4 characters; RFC 2449 extension keywords are letters too.
  if (!/^[A-Za-z]{1,16}$/.test(keyword)) return undefined;
  const rest = sp === -1 ? '' : line.slice(sp + 1);
  const args = rest === '' ? [] : rest.split(' ');
  return { name: keyword.toUpperCase(), args, rest };
}

/** A strictly decimal message number or line count; undefined for anything else. */
export function parseNumber(s: string | undefined): number | undefined {
  if (s === undefined || !/^\d{1,9}$/.test(s)) return undefined;
  return Number(s);
}

export interface EncoderOptions {
  /** TOP: how many body lines to send after the headers (RFC 1939 §7). Undefined: all (RETR). */
  bodyLines?: number;
}

/**
 * The encoder's state machine: feed chunks with `encode`, end with `finish`. Keeps a
 * few bits of state across chunks, so any split of the input gives the same output.
 */
export class MultilineState {
  private atLineStart = true;
  private lastByte = -1;
  /** Bytes on the current line, not counting the LF. */
  private lineLen = 0;
  private lineOnlyCr = false;
  private inHeaders = true;
  private bodyLeft: number | undefined;
  private done = false;

  constructor(opts: EncoderOptions = {}) {
    this.bodyLeft = opts.bodyLines;
  }

  /** True once TOP has sent all the lines it wants (the rest of the source can be skipped). */
  get finished(): boolean {
    return this.done;
  }

  encode(chunk: Buffer): Buffer {
    if (this.done) return EMPTY;
    const out: Buffer[] = [];
    let pos = 0;
    while (pos < chunk.length && !this.done) {
      if (this.atLineStart && chunk[pos] === DOT) out.push(DOT_BUF); // RFC 1939 §3: byte-stuff "."
      const nl = chunk.indexOf(LF, pos);
      if (nl === -1) {
        this.noteBytes(chunk, pos, chunk.length);
        out.push(chunk.subarray(pos));
        this.atLineStart = false;
        this.lastByte = chunk[chunk.length - 1]!;
        break;
      }
      this.noteBytes(chunk, pos, nl);
      const prev = nl > pos ? chunk[nl - 1]! : this.lastByte;
      if (prev === CR) {
        out.push(chunk.subarray(pos, nl + 1));
      } else {
        // Bare LF → CRLF (RFC 1939 §3: multi-line responses are CRLF-terminated lines).
        out.push(chunk.subarray(pos, nl), CRLF_BUF);
      }
      this.lastByte = LF;
      this.atLineStart = true;
      this.endLine();
      pos = nl + 1;
    }
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  }

  /** The end of the response: a missing final line end, then ".\r\n" (RFC 1939 §3). */
  finish(): Buffer {
    if (!this.atLineStart && !this.done) {
      // The file's last line had no newline: terminate it (a trailing bare CR gets its LF).
      return Buffer.concat([this.lastByte === CR ? LF_BUF : CRLF_BUF, TERMINATOR]);
    }
    return TERMINATOR;
  }

  private noteBytes(chunk: Buffer, from: number, to: number): void {
    if (to <= from) return;
    // A line is "empty" (the header/body separator) when it holds nothing but a CR.
    this.lineOnlyCr = this.lineLen === 0 && to - from === 1 && chunk[from] === CR;
    this.lineLen += to - from;
  }

  private endLine(): void {
    const empty = this.lineLen === 0 || (this.lineLen === 1 && this.lineOnlyCr);
    this.lineLen = 0;
    this.lineOnlyCr = false;
    if (this.bodyLeft === undefined) return;
    if (this.inHeaders) {
      if (empty) this.inHeaders = false;
    } else {
      this.bodyLeft--;
    }
    if (!this.inHeaders && this.bodyLeft <= 0) this.done = true;
  }
}

/** The stream form of MultilineState, for RETR and TOP. */
export class MultilineEncoder extends Transform {
  readonly state: MultilineState;

  constructor(opts: EncoderOptions = {}) {
    super();
    this.state = new MultilineState(opts);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    const out = this.state.encode(chunk);
    if (out.length > 0) this.push(out);
    cb();
  }

  override _flush(cb: TransformCallback): void {
    this.push(this.state.finish());
    cb();
  }
}

const EMPTY = Buffer.alloc(0);
const DOT_BUF = Buffer.from('.');
const CRLF_BUF = Buffer.from('\r\n');
const LF_BUF = Buffer.from('\n');
const TERMINATOR = Buffer.from('.\r\n');

/** Encodes a whole message given as chunks (tests, small payloads). */
export function encodeMultiline(chunks: Buffer | Buffer[], opts: EncoderOptions = {}): Buffer {
  const st = new MultilineState(opts);
  const out = (Array.isArray(chunks) ? chunks : [chunks]).map((c) => st.encode(c));
  out.push(st.finish());
  return Buffer.concat(out);
}
