/**
 * The message analyzer the store runs once per delivered message: one streaming pass
 * over the bytes that yields the ENVELOPE fields and the MIME tree (RFC 2045, RFC 2046)
 * with, for every part, the byte offsets of its header and body, the IMAP sizes and the
 * line count, so FETCH of BODYSTRUCTURE never reparses and section fetches seek.
 *
 * Implementation notes (behaviour follows Dovecot 2.3 lib-mail message-parser.c, which
 * the corpus in test/fixtures/mime was recorded from):
 * - Lines may end in CRLF or a bare LF; sizes count a bare LF as CRLF.
 * - A boundary line is "--" + boundary at the start of a line, matched as a prefix,
 *   against every enclosing multipart (the longest match wins), so an outer boundary
 *   closes inner parts whose own boundary never came (RFC 2046 §5.1.2).
 * - The line break before a boundary line belongs to the boundary (RFC 2046 §5.1.1):
 *   a part's body ends before it.
 * - A multipart without a boundary parameter, or whose boundary never appears, gets one
 *   empty text/plain child, as Dovecot reports it.
 * - The children of multipart/digest default to message/rfc822 (RFC 2046 §5.1.5); a
 *   message/rfc822 part is parsed as a message (whatever its transfer encoding).
 * - Repeated fields: the last Subject/Date/... wins, address fields are appended; the
 *   Content-* fields other than Content-Type count only in MIME parts (MIME-Version or
 *   Content-Type present, or inside a multipart); lines without a colon are ignored.
 * - Only header lines are kept in memory (capped per part); body lines are scanned for
 *   boundaries and line breaks only, so a 50 MB body costs no more than a small one.
 */
import type { Readable } from 'node:stream';
import { parseAddressList } from './address.js';
import {
  lastField,
  nolf,
  parseContentType,
  parseDisposition,
  parseEncoding,
  parseHeaderBlock,
  parseLanguage,
  type HeaderField,
} from './header.js';
import type { Address, BodyPart, Envelope, MessageAnalysis } from './types.js';

/** Header bytes kept per part; longer headers are still measured, their tail ignored. */
const MAX_HEADER_BYTES = 512 * 1024;
/** Dovecot's default limits on MIME nesting and on the number of parts. */
const MAX_NESTING = 100;
const MAX_PARTS = 10000;
/** Bytes of a body line looked at for a boundary (RFC 2046 §5.1.1: boundary ≤ 70 chars). */
const LINE_PREFIX_BYTES = 256;

const CRLF = Buffer.from('\r\n');

type FrameState = 'header' | 'body' | 'preamble' | 'epilogue';

interface Frame {
  part: BodyPart;
  state: FrameState;
  boundary: Buffer | null;
  /** Parent is multipart/digest: default type message/rfc822. */
  digestChild: boolean;
  /** Child of a multipart. */
  inMultipart: boolean;
  /** This frame is the root of a message (top level or inside message/rfc822). */
  isMessage: boolean;
  envelope?: Envelope;
  headerChunks: Buffer[];
  headerBytes: number;
  vHeaderStart: number;
  vBodyStart: number;
  lfAtBodyStart: number;
  /** Where the epilogue of a closed multipart starts. */
  epilogueStart?: Pos;
}

/** Position of a line boundary in physical bytes, IMAP (virtual) bytes and line breaks. */
interface Pos {
  phys: number;
  virt: number;
  lf: number;
}

function newPart(headerStart: number): BodyPart {
  return {
    type: 'text',
    subtype: 'plain',
    params: null,
    id: null,
    description: null,
    encoding: null,
    md5: null,
    disposition: null,
    language: null,
    location: null,
    headerStart,
    bodyStart: headerStart,
    bodyEnd: headerStart,
    headerSize: 0,
    bodySize: 0,
    lines: 0,
    hasBlankLine: false,
  };
}

export function envelopeFromFields(fields: HeaderField[]): Envelope {
  // Dovecot: a repeated field replaces the earlier one
  const raw = (name: string) => lastField(fields, name)?.value ?? null;
  const str = (name: string) => {
    const v = raw(name);
    return v === null ? null : nolf(v);
  };
  // Dovecot: addresses of repeated address fields are appended
  const addr = (name: string) => {
    const lower = name.toLowerCase();
    let out: Address[] | null = null;
    for (const f of fields) {
      if (!f.hasColon || f.name.toLowerCase() !== lower) continue;
      const list = parseAddressList(f.value);
      if (list) out = out ? out.concat(list) : list;
    }
    return out;
  };
  return {
    date: str('Date'),
    subject: raw('Subject'),
    from: addr('From'),
    sender: addr('Sender'),
    replyTo: addr('Reply-To'),
    to: addr('To'),
    cc: addr('Cc'),
    bcc: addr('Bcc'),
    inReplyTo: str('In-Reply-To'),
    messageId: str('Message-ID'),
  };
}

/** Fills the Content-* fields of a part from its header (RFC 2045 §5, §6, §7, §8; RFC 2183; RFC 3282; RFC 2557; RFC 1864). */
function applyContentHeaders(part: BodyPart, fields: HeaderField[], digestChild: boolean, inMultipart: boolean): void {
  let sawType = false;
  // Dovecot: a part is MIME if it is inside a multipart or has MIME-Version or
  // Content-Type; the other Content-* fields of a non-MIME part are ignored.
  const isMime = inMultipart || fields.some((f) => f.hasColon && /^(mime-version|content-type)$/i.test(f.name));
  for (const f of fields) {
    const name = f.name.toLowerCase();
    if (!f.hasColon || !name.startsWith('content-')) continue;
    if (!isMime) continue;
    switch (name) {
      case 'content-type': {
        if (sawType) break;
        sawType = true;
        const ct = parseContentType(f.value);
        part.type = ct.type;
        part.subtype = ct.subtype;
        part.params = ct.params.length > 0 ? ct.params : null;
        break;
      }
      case 'content-transfer-encoding': {
        const enc = parseEncoding(f.value) || null;
        if (part.encoding === null) part.encoding = enc;
        else if ((enc ?? '7bit').toLowerCase() !== part.encoding.toLowerCase()) part.binaryEncoding = enc ?? '7bit';
        else delete part.binaryEncoding;
        break;
      }
      case 'content-id':
        if (part.id === null) part.id = nolf(f.value);
        break;
      case 'content-description':
        if (part.description === null) part.description = nolf(f.value);
        break;
      case 'content-md5':
        if (part.md5 === null) part.md5 = nolf(f.value);
        break;
      case 'content-disposition':
        if (part.disposition === null) {
          const d = parseDisposition(f.value);
          part.disposition = { type: d.type, params: d.params.length > 0 ? d.params : null };
        }
        break;
      case 'content-language':
        if (part.language === null) {
          const l = parseLanguage(f.value);
          part.language = l.length > 0 ? l : null;
        }
        break;
      case 'content-location':
        if (part.location === null) part.location = nolf(f.value);
        break;
    }
  }
  if (!sawType && digestChild) {
    // RFC 2046 §5.1.5: in a digest the default is message/rfc822
    part.type = 'message';
    part.subtype = 'rfc822';
  }
}

function paramValue(params: string[] | null, key: string): string | undefined {
  if (!params) return undefined;
  for (let i = 0; i < params.length; i += 2) if (params[i].toLowerCase() === key) return params[i + 1];
  return undefined;
}

/**
 * The incremental parser. Feed it chunks, then call end(). Exposed for tests and for
 * callers that already hold the bytes; analyzeMessage() wraps it around a stream.
 */
export class MimeScanner {
  private stack: Frame[] = [];
  private partCount = 0;
  private root: Frame;
  /** Absolute offset of the next byte to scan. */
  private offset = 0;
  /** Current line: start offset, collected bytes (whole in headers, prefix in bodies). */
  private lineStart = 0;
  private lineChunks: Buffer[] = [];
  private lineBytes = 0;
  /** First byte of the current line (valid when lineBytes > 0). */
  private lineFirst = -1;
  private prevByteCR = false;
  private lineHasNul = false;
  /** Counters at the current line start. */
  private cumBare = 0;
  private cumLf = 0;
  /** Where the previous line's content ended (before its line break). */
  private prevEndPhys = -1;
  private prevEndVirt = 0;
  private prevEndLf = 0;
  private done = false;

  constructor() {
    this.root = this.openFrame(0, { phys: 0, virt: 0, lf: 0 }, false, true);
  }

  private openFrame(start: number, pos: Pos, digestChild: boolean, isMessage: boolean): Frame {
    this.partCount++;
    const f: Frame = {
      part: newPart(start),
      state: 'header',
      boundary: null,
      digestChild,
      inMultipart: !isMessage,
      isMessage,
      headerChunks: [],
      headerBytes: 0,
      vHeaderStart: pos.virt,
      vBodyStart: pos.virt,
      lfAtBodyStart: pos.lf,
    };
    this.stack.push(f);
    return f;
  }

  private wantFullLine(): boolean {
    const top = this.stack[this.stack.length - 1];
    return top !== undefined && top.state === 'header';
  }

  write(chunk: Buffer): void {
    let i = 0;
    // The next NUL in the chunk at or after i (-1: none left). Searched again only once
    // the scan has passed it, so the chunk is searched once overall, not once per line
    // (which was quadratic on a message handed over as one big buffer).
    let nul = chunk.indexOf(0);
    while (i < chunk.length) {
      const nl = chunk.indexOf(10, i);
      const segEnd = nl < 0 ? chunk.length : nl;
      if (nul >= 0 && nul < i) nul = chunk.indexOf(0, i);
      if (nul >= i && nul < segEnd) this.lineHasNul = true;
      this.collect(chunk, i, segEnd);
      if (nl < 0) {
        if (segEnd > i) this.prevByteCR = chunk[segEnd - 1] === 13;
        this.offset += chunk.length - i;
        break;
      }
      // the line ends at absolute position this.offset + (nl - i)
      const lfAbs = this.offset + (nl - i);
      const crlf = nl > i ? chunk[nl - 1] === 13 : this.prevByteCR && lfAbs > this.lineStart;
      this.endLine(lfAbs, crlf);
      this.offset = lfAbs + 1;
      this.prevByteCR = false;
      i = nl + 1;
    }
  }

  private collect(chunk: Buffer, from: number, to: number): void {
    if (to <= from) return;
    if (this.lineBytes === 0) this.lineFirst = chunk[from];
    const full = this.wantFullLine();
    // A body line is kept (its prefix) only when it may be a boundary ("--…"); the rest
    // are only counted, without a Buffer view per line.
    if (full || this.lineFirst === 0x2d) {
      const limit = full ? MAX_HEADER_BYTES : LINE_PREFIX_BYTES;
      if (this.lineBytes < limit) {
        const take = Math.min(to - from, limit - this.lineBytes);
        this.lineChunks.push(chunk.subarray(from, from + take));
      }
    }
    this.lineBytes += to - from;
  }

  /** A line ended with an LF at lfAbs (crlf: preceded by CR). */
  private endLine(lfAbs: number, crlf: boolean): void {
    const contentEndPhys = crlf ? lfAbs - 1 : lfAbs;
    const top = this.stack[this.stack.length - 1];
    const first = this.lineBytes > 0 ? this.lineFirst : -1;
    if (top !== undefined && top.state !== 'header' && first !== 0x2d) {
      // fast path for body lines that cannot be boundaries: only count
      if (this.lineHasNul && top.state === 'body') top.part.hasNul = true;
      this.lineHasNul = false;
      if (this.lineChunks.length > 0) this.lineChunks = [];
      this.lineBytes = 0;
      this.prevEndPhys = contentEndPhys;
      this.prevEndVirt = contentEndPhys + this.cumBare;
      this.prevEndLf = this.cumLf;
      if (!crlf) this.cumBare++;
      this.cumLf++;
      this.lineStart = lfAbs + 1;
      return;
    }
    const line = this.takeLine(crlf);
    const start: Pos = { phys: this.lineStart, virt: this.lineStart + this.cumBare, lf: this.cumLf };
    const contentEnd: Pos = { phys: contentEndPhys, virt: contentEndPhys + this.cumBare, lf: this.cumLf };
    if (!crlf) this.cumBare++;
    this.cumLf++;
    const next: Pos = { phys: lfAbs + 1, virt: lfAbs + 1 + this.cumBare, lf: this.cumLf };
    this.handleLine(line, start, contentEnd, next, lfAbs + 1 - this.lineStart);
    this.prevEndPhys = contentEnd.phys;
    this.prevEndVirt = contentEnd.virt;
    this.prevEndLf = contentEnd.lf;
    this.lineStart = lfAbs + 1;
  }


  private takeLine(crlf: boolean): Buffer {
    let line = this.lineChunks.length === 1 ? this.lineChunks[0] : Buffer.concat(this.lineChunks);
    const truncated = line.length < this.lineBytes;
    this.lineChunks = [];
    this.lineBytes = 0;
    if (crlf && !truncated && line.length > 0 && line[line.length - 1] === 13) line = line.subarray(0, line.length - 1);
    return line;
  }

  end(): MessageAnalysis {
    if (!this.done) {
      this.done = true;
      const eofPhys = this.offset;
      if (eofPhys > this.lineStart) {
        // last line without a line break
        const line = this.takeLine(false);
        const start: Pos = { phys: this.lineStart, virt: this.lineStart + this.cumBare, lf: this.cumLf };
        const endPos: Pos = { phys: eofPhys, virt: eofPhys + this.cumBare, lf: this.cumLf };
        this.handleLine(line, start, endPos, endPos, eofPhys - this.lineStart);
      }
      const eof: Pos = { phys: eofPhys, virt: eofPhys + this.cumBare, lf: this.cumLf };
      while (this.stack.length > 0) this.closeTop(eof, eof);
    }
    return { envelope: this.root.envelope!, bodyStructure: this.root.part };
  }

  private handleLine(line: Buffer, start: Pos, contentEnd: Pos, next: Pos, rawLen: number): void {
    const hasNul = this.lineHasNul;
    this.lineHasNul = false;
    const top = this.stack[this.stack.length - 1];
    if (top === undefined) return;
    const b = this.findBoundary(line);
    if (b) {
      this.onBoundary(b.frame, b.close, start, next);
      return;
    }
    if (hasNul && top.state === 'body') top.part.hasNul = true;
    if (top.state === 'header') {
      if (contentEnd.phys === start.phys && next.phys > start.phys) {
        // the empty line ending the header (RFC 5322 §2.1)
        top.part.hasBlankLine = true;
        this.finishHeader(top, next);
      } else if (contentEnd.phys === start.phys) {
        // EOF
      } else if (top.headerBytes < MAX_HEADER_BYTES) {
        top.headerChunks.push(Buffer.from(line), CRLF);
        top.headerBytes += rawLen;
      }
    }
  }

  /** The innermost-longest enclosing multipart whose boundary starts this line. */
  private findBoundary(line: Buffer): { frame: Frame; close: boolean } | null {
    if (line.length < 2 || line[0] !== 0x2d || line[1] !== 0x2d) return null;
    // past the part limit no boundary is recognised: the last part runs to the end (Dovecot)
    if (this.partCount >= MAX_PARTS) return null;
    let best: Frame | null = null;
    for (let i = this.stack.length - 1; i >= 0; i--) {
      const f = this.stack[i];
      if (!f.boundary || f.state === 'epilogue' || f.state === 'header') continue;
      const bl = f.boundary.length;
      if (line.length - 2 >= bl && line.compare(f.boundary, 0, bl, 2, 2 + bl) === 0) {
        if (!best || best.boundary!.length < bl) best = f;
        if (line.length - 2 === bl) break;
      }
    }
    if (!best) return null;
    const bl = best.boundary!.length;
    const close = line.length >= bl + 4 && line[bl + 2] === 0x2d && line[bl + 3] === 0x2d;
    return { frame: best, close };
  }

  private onBoundary(m: Frame, close: boolean, lineStart: Pos, next: Pos): void {
    // RFC 2046 §5.1.1: the CRLF before the boundary belongs to the boundary, but never
    // reaches back before the start of the current text: the body, or the epilogue
    // after a close-delimiter line (which keeps its own line break).
    const top = this.stack[this.stack.length - 1];
    let end: Pos = this.prevEndPhys < 0 ? lineStart : { phys: this.prevEndPhys, virt: this.prevEndVirt, lf: this.prevEndLf };
    if (top !== m && top.state === 'epilogue' && top.epilogueStart && end.phys < top.epilogueStart.phys) end = top.epilogueStart;
    // a parent never ends before its child (a child's header keeps its blank line)
    while (this.stack[this.stack.length - 1] !== m) end = this.closeTop(end, lineStart);
    if (close) {
      m.state = 'epilogue';
      m.epilogueStart = next;
      return;
    }
    m.state = 'body';
    const child = this.openFrame(next.phys, next, m.part.subtype.toLowerCase() === 'digest', false);
    (m.part.parts ??= []).push(child.part);
  }

  private finishHeader(f: Frame, bodyStart: Pos): void {
    const buf = Buffer.concat(f.headerChunks);
    f.headerChunks = [];
    const fields = parseHeaderBlock(buf);
    if (f.isMessage) f.envelope = envelopeFromFields(fields);
    applyContentHeaders(f.part, fields, f.digestChild, f.inMultipart);
    f.part.bodyStart = bodyStart.phys;
    f.part.headerSize = bodyStart.virt - f.vHeaderStart;
    f.vBodyStart = bodyStart.virt;
    f.lfAtBodyStart = bodyStart.lf;
    const type = f.part.type.toLowerCase();
    // Dovecot's limits (message-parser: 100 nested parts, 10000 parts in all): past them
    // a multipart or message/rfc822 part becomes an application/octet-stream leaf
    if ((type === 'multipart' || type === 'message') && (this.stack.length >= MAX_NESTING || this.partCount >= MAX_PARTS)) {
      if (type === 'multipart' || f.part.subtype.toLowerCase() === 'rfc822') {
        f.part.type = 'application';
        f.part.subtype = 'octet-stream';
        f.state = 'body';
        return;
      }
    }
    if (type === 'multipart') {
      const boundary = paramValue(f.part.params, 'boundary');
      f.part.parts = [];
      if (boundary !== undefined) {
        f.boundary = Buffer.from(boundary, 'latin1');
        f.state = 'preamble';
      } else {
        f.state = 'epilogue'; // content ignored; an empty child is added at close
      }
    } else if (type === 'message' && f.part.subtype.toLowerCase() === 'rfc822') {
      // parsed as a message whatever its transfer encoding (Dovecot)
      f.state = 'body';
      this.openFrame(bodyStart.phys, bodyStart, false, true);
    } else {
      f.state = 'body';
    }
  }

  /** Closes the innermost open part: its body ends at `end` (not before its body start). */
  private closeTop(end: Pos, lineStart: Pos): Pos {
    const f = this.stack[this.stack.length - 1];
    if (f.state === 'header') {
      // header cut short by a boundary or EOF: it ends where the boundary line starts
      this.finishHeader(f, lineStart);
      // a message/rfc822 part now has an (empty) inner message open: close it first
      if (this.stack[this.stack.length - 1] !== f) end = this.closeTop(end, lineStart);
    }
    this.stack.pop();
    const p = f.part;
    const e = end.phys < p.bodyStart ? { phys: p.bodyStart, virt: f.vBodyStart, lf: f.lfAtBodyStart } : end;
    p.bodyEnd = e.phys;
    p.bodySize = e.virt - f.vBodyStart;
    p.lines = e.lf - f.lfAtBodyStart;
    if (p.parts && p.parts.length === 0) {
      // Dovecot: an empty multipart gets one empty text/plain child
      const c = newPart(p.bodyEnd);
      c.bodyStart = c.bodyEnd = p.bodyEnd;
      p.parts.push(c);
    }
    const parent = this.stack[this.stack.length - 1];
    if (f.isMessage && parent && parent.part.type.toLowerCase() === 'message' && !parent.part.message) {
      parent.part.message = { envelope: f.envelope!, body: p };
    }
    return e;
  }
}

/**
 * Analyses a message in one streaming pass (the store's MessageAnalyzer), or bytes
 * already in memory. Resolves with the envelope and the MIME tree; rejects only if the
 * stream errors.
 */
export async function analyzeMessage(source: Readable | Buffer): Promise<MessageAnalysis> {
  if (Buffer.isBuffer(source)) return analyzeBuffer(source);
  const scanner = new MimeScanner();
  for await (const chunk of source) {
    scanner.write(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : (chunk as Buffer));
  }
  return scanner.end();
}

/** Analyses bytes already in memory. */
export function analyzeBuffer(buf: Buffer): MessageAnalysis {
  const scanner = new MimeScanner();
  scanner.write(buf);
  return scanner.end();
}
