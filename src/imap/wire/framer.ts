/**
 * The IMAP command framer: a push parser in the style of pg-protocol. Bytes go in with
 * `push()`; complete commands (lines split at literals, plus the literals) come out
 * through the handler. No sockets, no timers: connection.ts owns those.
 *
 * Framing rules (RFC 9051 §2.2, §4.3, RFC 7888):
 * - A command is one or more CRLF-terminated lines; a line that ends with "{n}" or
 *   "{n+}" announces a literal of n octets that follows the CRLF.
 * - A synchronizing literal "{n}" needs a "+ " continuation from the server before the
 *   client sends it; we ask the handler first (size check, e.g. APPENDLIMIT → NO
 *   [TOOBIG]) and send "+ " only when it accepts (RFC 7889 §4, RFC 9051 §7.6).
 * - A non-synchronizing literal "{n+}" (LITERAL+) arrives at once; a rejected one is
 *   read and discarded when small, otherwise the connection is closed.
 * - Lines longer than maxLine end the connection (we cannot resynchronise safely).
 */
import type { FramedCommand, Literal } from './types.js';

export interface LiteralSink {
  write(chunk: Buffer): void;
  end(): Literal;
  abort(): void;
}

export type LiteralDecision = { ok: true; sink?: LiteralSink } | { ok: false; response: string };

export interface FramerHandler {
  /** Decide about a literal announced at the end of the current line. */
  literal(info: { firstLine: string; size: number; nonSync: boolean; index: number }): LiteralDecision;
  command(cmd: FramedCommand): void;
  /** Send the "+ " continuation for a synchronizing literal. */
  continuation(): void;
  /** Send a rejection (tagged NO/BAD) for the command being framed; it is dropped. */
  reject(response: string): void;
  /** Send BYE and close: the stream cannot be resynchronised. */
  fatal(response: string): void;
  /** Literals of a rejected command (so spooled files can be removed). */
  dropped?(literals: Literal[]): void;
}

export interface FramerLimits {
  maxLine: number;
  /** Rejected non-synchronizing literals up to this size are discarded; larger ones close. */
  maxDiscard: number;
  maxLiterals: number;
}

const LITERAL_AT_END = /\{(\d{1,20})(\+)?\}$/;

class MemorySink implements LiteralSink {
  private chunks: Buffer[] = [];
  write(chunk: Buffer): void {
    this.chunks.push(chunk);
  }
  end(): Literal {
    return { kind: 'buffer', data: Buffer.concat(this.chunks) };
  }
  abort(): void {
    this.chunks = [];
  }
}

export class Framer {
  private lineChunks: Buffer[] = [];
  private lineLen = 0;
  private lines: string[] = [];
  private literals: Literal[] = [];
  private mode: 'line' | 'literal' | 'discard' | 'dead' = 'line';
  private remaining = 0;
  private sink: LiteralSink | undefined;
  /** After a rejected non-sync literal: drop the rest of that command. */
  private dropping = false;

  constructor(
    private readonly handler: FramerHandler,
    private readonly limits: FramerLimits,
  ) {}

  /** Part of a command has arrived (a line begun, or a literal under way or awaited). */
  get midCommand(): boolean {
    return this.mode === 'literal' || this.mode === 'discard' || this.lineLen > 0 || this.lines.length > 0 || this.literals.length > 0;
  }

  /** Stops framing (connection closing); aborts a literal in progress. */
  close(): void {
    this.sink?.abort();
    this.sink = undefined;
    this.mode = 'dead';
  }

  push(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length && this.mode !== 'dead') {
      if (this.mode === 'literal' || this.mode === 'discard') {
        const n = Math.min(this.remaining, chunk.length - pos);
        if (this.mode === 'literal') this.sink!.write(chunk.subarray(pos, pos + n));
        this.remaining -= n;
        pos += n;
        if (this.remaining === 0) {
          if (this.mode === 'literal') {
            this.literals.push(this.sink!.end());
            this.sink = undefined;
          }
          this.mode = 'line';
        }
        continue;
      }
      // line mode: find LF
      const lf = chunk.indexOf(0x0a, pos);
      const end = lf < 0 ? chunk.length : lf;
      const piece = chunk.subarray(pos, end);
      this.lineLen += piece.length;
      if (this.lineLen > this.limits.maxLine) {
        this.mode = 'dead';
        this.handler.fatal('* BYE Line too long');
        return;
      }
      if (piece.length > 0) this.lineChunks.push(Buffer.from(piece));
      if (lf < 0) return;
      pos = lf + 1;
      let line = Buffer.concat(this.lineChunks);
      this.lineChunks = [];
      this.lineLen = 0;
      if (line.length > 0 && line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1);
      this.onLine(line.toString('utf8'));
    }
  }

  private onLine(text: string): void {
    const m = LITERAL_AT_END.exec(text);
    if (this.dropping) {
      if (m) {
        const size = Number(m[1]);
        if (m[2] === '+' && size <= this.limits.maxDiscard) {
          this.remaining = size;
          this.mode = size > 0 ? 'discard' : 'line';
        } else if (m[2] === '+') {
          this.mode = 'dead';
          this.handler.fatal('* BYE Literal too big');
        } else {
          // A synchronizing literal in a dropped command: the client waits for "+", which
          // never comes; it will see the earlier rejection. Stop dropping.
          this.dropping = false;
        }
      } else {
        this.dropping = false;
      }
      return;
    }
    this.lines.push(text);
    if (!m) {
      const cmd: FramedCommand = { lines: this.lines, literals: this.literals };
      this.lines = [];
      this.literals = [];
      this.handler.command(cmd);
      return;
    }
    const size = Number(m[1]);
    const nonSync = m[2] === '+';
    const firstLine = this.lines[0]!;
    const decision: LiteralDecision =
      this.literals.length >= this.limits.maxLiterals || !Number.isSafeInteger(size)
        ? { ok: false, response: `${/^[^ ]+/.exec(firstLine)?.[0] ?? '*'} BAD Too many literals or literal too big` } // RFC 9051 §7.1: tagged
        : this.handler.literal({ firstLine, size, nonSync, index: this.literals.length });
    if (!decision.ok) {
      this.handler.reject(decision.response);
      this.discardCommand();
      if (nonSync) {
        if (size > this.limits.maxDiscard) {
          this.mode = 'dead';
          this.handler.fatal('* BYE Literal too big');
          return;
        }
        this.remaining = size;
        this.mode = size > 0 ? 'discard' : 'line';
        this.dropping = true;
      }
      return;
    }
    this.sink = decision.sink ?? new MemorySink();
    if (!nonSync) this.handler.continuation(); // RFC 9051 §7.6: "+" only after the checks
    if (size === 0) {
      this.literals.push(this.sink.end());
      this.sink = undefined;
      return;
    }
    this.remaining = size;
    this.mode = 'literal';
  }

  private discardCommand(): void {
    if (this.literals.length > 0) this.handler.dropped?.(this.literals);
    this.lines = [];
    this.literals = [];
  }
}
