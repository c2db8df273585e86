/**
 * The IMAP command framer: a push parser in the style of pg-protocol. Bytes go in with
 * `push()`; complete commands (lines split at literals, plus the literals) come out
 * through the handler. No sockets, no timers: connection.ts owns those.
 *
 * Framing rules (RFC 9051 §2.2, §4.3, RFC 7888):
 * - A command is one or more CRLF-terminated lines; a line that ends with "{n}" or
 *   "{n+}" announces a literal of n octets that follows the CRLF.
 * - A synchronizing literal "{n}" needs a "+ " continuation from the server before the
 *   client sends it; we ask the handler first (the command's state, its mailbox, quota,
 *   APPENDLIMIT → NO [TOOBIG]) and send "+ " only when it accepts (RFC 7889 §4, RFC
 *   9051 §7.6). The handler may answer later (a promise): framing waits meanwhile, and
 *   bytes that arrive before the answer are held (at most a line's worth).
 * - A non-synchronizing literal "{n+}" (LITERAL+) arrives at once; a rejected one is
 *   read and discarded when small; one refused for its size (or larger than
 *   maxDiscard) gets its tagged refusal and the connection is closed: we stop reading
 *   rather than take bytes we refused (RFC 7888 §4).
 * - Rejections the framer makes itself (too many literals) carry the command's tag.
 * - Lines longer than maxLine end the connection (we cannot resynchronise safely).
 */
import type { FramedCommand, Literal } from './types.js';

export interface LiteralSink {
  write(chunk: Buffer): void;
  end(): Literal;
  abort(): void;
}

/** `tooBig`: refused for its size; a non-synchronizing one then ends the connection (RFC 7888 §4). */
export type LiteralDecision = { ok: true; sink?: LiteralSink } | { ok: false; response: string; tooBig?: boolean };

export interface LiteralInfo {
  firstLine: string;
  /** The command's lines so far (the last ends with the literal's "{n}"), and its literals so far. */
  lines: readonly string[];
  literals: readonly Literal[];
  size: number;
  nonSync: boolean;
  index: number;
}

export interface FramerHandler {
  /** Decide about a literal announced at the end of the current line (now, or later). */
  literal(info: LiteralInfo): LiteralDecision | Promise<LiteralDecision>;
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
  private mode: 'line' | 'literal' | 'discard' | 'wait' | 'dead' = 'line';
  /** Bytes that arrived while a literal decision was pending. */
  private held: Buffer[] = [];
  private heldLen = 0;
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
    return this.mode === 'literal' || this.mode === 'discard' || this.mode === 'wait' || this.lineLen > 0 || this.lines.length > 0 || this.literals.length > 0;
  }

  /** Waiting for the handler's decision about a literal. */
  get waiting(): boolean {
    return this.mode === 'wait';
  }

  /** Stops framing (connection closing); aborts a literal in progress. */
  close(): void {
    this.held = [];
    this.sink?.abort();
    this.sink = undefined;
    this.mode = 'dead';
  }

  push(chunk: Buffer): void {
    if (this.mode === 'wait') return this.hold(chunk);
    let pos = 0;
    while (pos < chunk.length && this.mode !== 'dead') {
      if ((this.mode as string) === 'wait') return this.hold(chunk.subarray(pos)); // onLine awaits a decision
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
    const decision =
      this.literals.length >= this.limits.maxLiterals || !Number.isSafeInteger(size)
        ? { ok: false as const, response: `${tagOf(firstLine)} BAD [TOOBIG] Too many literals or literal too big`, tooBig: true }
        : this.handler.literal({ firstLine, lines: this.lines, literals: this.literals, size, nonSync, index: this.literals.length });
    if (!(decision instanceof Promise)) return this.apply(decision, size, nonSync);
    this.mode = 'wait';
    decision.then(
      (d) => this.resume(d, size, nonSync),
      () => this.resume({ ok: false, response: `${tagOf(firstLine)} NO [SERVERBUG] Internal error` }, size, nonSync),
    );
  }

  /** Bytes sent before the decision (a client that does not wait for "+"): held, a line's worth at most. */
  private hold(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.heldLen += chunk.length;
    if (this.heldLen > this.limits.maxLine) {
      this.mode = 'dead';
      this.held = [];
      this.handler.fatal('* BYE Data sent before the continuation');
      return;
    }
    this.held.push(Buffer.from(chunk));
  }

  private resume(d: LiteralDecision, size: number, nonSync: boolean): void {
    if (this.mode !== 'wait') return; // closed meanwhile
    this.mode = 'line';
    this.apply(d, size, nonSync);
    const held = Buffer.concat(this.held);
    this.held = [];
    this.heldLen = 0;
    if (held.length > 0) this.push(held);
  }

  private apply(decision: LiteralDecision, size: number, nonSync: boolean): void {
    if (!decision.ok) {
      this.handler.reject(decision.response);
      this.discardCommand();
      if (nonSync) {
        if (decision.tooBig || size > this.limits.maxDiscard) {
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

  /** Literals accepted so far for the command being framed (for memory accounting). */
  get pendingLiterals(): readonly Literal[] {
    return this.literals;
  }

  private discardCommand(): void {
    if (this.literals.length > 0) this.handler.dropped?.(this.literals);
    this.lines = [];
    this.literals = [];
  }
}

/** The tag of a command line (for rejections made before the command is parsed). */
export function tagOf(line: string): string {
  const m = /^([^\s(){%*"\\\]+]+) /.exec(line);
  return m ? m[1]! : '*';
}
