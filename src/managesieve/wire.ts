/**
 * The ManageSieve wire format (RFC 5804 §4), without sockets: a framer that cuts the
 * client's bytes into commands (lines with their literals), a tokenizer for those
 * commands, and the encoders of the server's strings and responses.
 *
 *   command    = atom *(SP argument) CRLF
 *   argument   = string / number
 *   string     = quoted / literal-c2s
 *   quoted     = DQUOTE *QUOTED-CHAR DQUOTE      ; "\" escapes DQUOTE and "\"
 *   literal-c2s = "{" number "+}" CRLF *OCTET   ; we also take "{n}" (Dovecot does)
 *
 * Hostile input: a line longer than `maxLine` and a literal larger than `maxLiteral`
 * are consumed without being kept (the framer counts and drops them) and reported as
 * a unit with an error, so the session can answer NO and go on; a literal larger than
 * `maxDiscard` cannot be worth reading and is reported as fatal (the session says BYE).
 */

export type Token = { kind: 'atom'; value: string } | { kind: 'string'; value: string } | { kind: 'number'; value: number };

export type Unit =
  | { kind: 'command'; tokens: Token[] }
  | { kind: 'error'; error: 'lineTooLong' | 'literalTooLarge' | 'syntax'; detail: string }
  | { kind: 'fatal'; detail: string };

export interface FramerLimits {
  maxLine: number;
  maxLiteral: number;
  maxDiscard: number;
}

type Piece = { text: string } | { literal: Buffer };

const LITERAL_END = /\{(\d{1,10})(\+?)\}$/;

/** Cuts a byte stream into commands; feed with push(), read the units it returns. */
export class Framer {
  private line: Buffer[] = [];
  private lineLen = 0;
  private pieces: Piece[] = [];
  private literalLeft = 0;
  private literal: Buffer[] | undefined;
  /** Set while dropping an over-long line or literal: the error to report at its end. */
  private dropping: Extract<Unit, { kind: 'error' }> | undefined;
  private dead = false;

  constructor(private readonly limits: FramerLimits) {}

  /** No command is partly received. */
  get idle(): boolean {
    return this.lineLen === 0 && this.pieces.length === 0 && this.literalLeft === 0 && !this.dropping;
  }

  push(chunk: Buffer): Unit[] {
    const out: Unit[] = [];
    let i = 0;
    while (i < chunk.length && !this.dead) {
      if (this.literalLeft > 0) {
        const take = Math.min(this.literalLeft, chunk.length - i);
        if (this.literal) this.literal.push(chunk.subarray(i, i + take));
        this.literalLeft -= take;
        i += take;
        if (this.literalLeft === 0 && this.literal) {
          this.pieces.push({ literal: Buffer.concat(this.literal) });
          this.literal = undefined;
        }
        continue;
      }
      const nl = chunk.indexOf(10, i);
      const end = nl < 0 ? chunk.length : nl;
      if (!this.dropping) {
        this.lineLen += end - i;
        if (this.lineLen > this.limits.maxLine) {
          this.dropping = { kind: 'error', error: 'lineTooLong', detail: `line longer than ${this.limits.maxLine} bytes` };
          this.line = [];
        } else {
          this.line.push(chunk.subarray(i, end));
        }
      }
      if (nl < 0) break;
      i = nl + 1;
      const u = this.endOfLine();
      if (u) out.push(u);
    }
    return out;
  }

  /** A line ended: either it announces a literal (the command goes on) or the command is complete. */
  private endOfLine(): Unit | undefined {
    let text = Buffer.concat(this.line).toString('utf8');
    this.line = [];
    this.lineLen = 0;
    if (text.endsWith('\r')) text = text.slice(0, -1);
    const m = LITERAL_END.exec(text);
    if (m) {
      const n = Number(m[1]);
      if (n > this.limits.maxDiscard) {
        this.dead = true;
        return { kind: 'fatal', detail: `literal of ${n} bytes is too large` };
      }
      if (!this.dropping) this.pieces.push({ text: text.slice(0, m.index) });
      if (n > this.limits.maxLiteral && !this.dropping) {
        this.dropping = { kind: 'error', error: 'literalTooLarge', detail: `literal of ${n} bytes is larger than the limit of ${this.limits.maxLiteral}` };
      }
      this.literalLeft = n;
      this.literal = this.dropping ? undefined : [];
      if (n === 0 && this.literal) {
        this.pieces.push({ literal: Buffer.alloc(0) });
        this.literal = undefined;
      }
      return undefined;
    }
    const pieces = this.pieces;
    this.pieces = [];
    if (this.dropping) {
      const e = this.dropping;
      this.dropping = undefined;
      return e;
    }
    pieces.push({ text });
    return tokenize(pieces);
  }
}

function tokenize(pieces: Piece[]): Unit {
  const tokens: Token[] = [];
  for (const p of pieces) {
    if ('literal' in p) {
      tokens.push({ kind: 'string', value: p.literal.toString('utf8') });
      continue;
    }
    const s = p.text;
    let i = 0;
    while (i < s.length) {
      const c = s[i]!;
      if (c === ' ') {
        i++;
      } else if (c === '"') {
        let v = '';
        i++;
        for (;;) {
          if (i >= s.length) return { kind: 'error', error: 'syntax', detail: 'unterminated quoted string' };
          const d = s[i]!;
          if (d === '"') break;
          if (d === '\\') {
            const e = s[i + 1];
            // RFC 5804 §4: only DQUOTE and "\" may be escaped.
            if (e !== '"' && e !== '\\') return { kind: 'error', error: 'syntax', detail: 'invalid escape in quoted string' };
            v += e;
            i += 2;
            continue;
          }
          v += d;
          i++;
        }
        i++;
        tokens.push({ kind: 'string', value: v });
      } else {
        let j = i;
        while (j < s.length && s[j] !== ' ' && s[j] !== '"') j++;
        const word = s.slice(i, j);
        i = j;
        if (/^\d+$/.test(word)) tokens.push({ kind: 'number', value: Number(word) });
        else if (/^[A-Za-z]+$/.test(word)) tokens.push({ kind: 'atom', value: word.toUpperCase() });
        else return { kind: 'error', error: 'syntax', detail: `unexpected "${word.slice(0, 40)}"` };
      }
    }
  }
  // A command starts with an atom; an AUTHENTICATE continuation is a lone string.
  if (tokens.length === 0) return { kind: 'error', error: 'syntax', detail: 'empty line' };
  return { kind: 'command', tokens };
}

/** A server string (RFC 5804 §4): quoted when it can be, a literal otherwise. */
export function encodeString(s: string): string {
  if (/[\r\n\0]/.test(s) || Buffer.byteLength(s) > 1024) return `{${Buffer.byteLength(s)}}\r\n${s}`;
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** RFC 5804 §4 response codes we send. */
export type ResponseCode =
  | 'AUTH-TOO-WEAK'
  | 'ENCRYPT-NEEDED'
  | 'QUOTA'
  | 'QUOTA/MAXSCRIPTS'
  | 'QUOTA/MAXSIZE'
  | 'SASL'
  | 'TRYLATER'
  | 'ACTIVE'
  | 'NONEXISTENT'
  | 'ALREADYEXISTS'
  | `TAG ${string}`
  | 'WARNINGS';

/** `OK|NO|BYE [(code)] ["text"]` CRLF */
export function response(kind: 'OK' | 'NO' | 'BYE', text?: string, code?: ResponseCode): string {
  let line: string = kind;
  if (code) line += ` (${code})`;
  if (text !== undefined) line += ` ${encodeString(text)}`;
  return `${line}\r\n`;
}
