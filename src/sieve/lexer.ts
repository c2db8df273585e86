/**
 * The Sieve lexer (RFC 5228 §8.1): identifiers, tags, numbers with K/M/G quantifiers,
 * quoted strings with their escapes, multi-line `text:` strings with dot-stuffing,
 * the special characters, and both kinds of comment.
 *
 * Implementation notes:
 * - Line ends may be CRLF or a bare LF (scripts written on Unix); a multi-line string's
 *   value has CRLF line ends whatever the script used, as Pigeonhole stores them.
 * - Every token carries its 1-based line and column for error messages.
 * - Linear in the script size; the caller bounds the size before lexing.
 */
import { SieveCompileError, type Position } from './errors.js';

export type Token =
  | { kind: 'identifier'; value: string; pos: Position }
  | { kind: 'tag'; value: string; pos: Position }
  | { kind: 'number'; value: number; pos: Position }
  | { kind: 'string'; value: string; multiline: boolean; pos: Position }
  | { kind: 'special'; value: '[' | ']' | '(' | ')' | ',' | ';' | '{' | '}'; pos: Position }
  | { kind: 'eof'; pos: Position };

/** RFC 5228 §2.4.1: K = 2^10, M = 2^20, G = 2^30. */
const QUANTIFIER: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
/** Pigeonhole keeps numbers in 64 bits; ours must stay exact in a double. */
const MAX_NUMBER = Number.MAX_SAFE_INTEGER;

const isAlpha = (c: number) => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f;
const isDigit = (c: number) => c >= 0x30 && c <= 0x39;

export class Lexer {
  private i = 0;
  private line = 1;
  private lineStart = 0;

  constructor(private readonly src: string) {}

  private get pos(): Position {
    return { line: this.line, column: this.i - this.lineStart + 1 };
  }

  /** Where the script ends: unterminated strings and comments are reported there (as Pigeonhole does). */
  private get endPos(): Position {
    const lines = this.src.split('\n');
    return { line: lines.length, column: lines[lines.length - 1]!.length + 1 };
  }

  private fail(reason: string, pos = this.pos): never {
    throw new SieveCompileError(pos, reason);
  }

  private newline(at: number): void {
    this.line++;
    this.lineStart = at + 1;
  }

  /** All tokens, ending with 'eof'. */
  tokens(): Token[] {
    const out: Token[] = [];
    for (;;) {
      const t = this.next();
      out.push(t);
      if (t.kind === 'eof') return out;
    }
  }

  next(): Token {
    this.skipWhitespaceAndComments();
    const s = this.src;
    const pos = this.pos;
    if (this.i >= s.length) return { kind: 'eof', pos };
    const c = s.charCodeAt(this.i);
    if ('[](),;{}'.includes(s[this.i]!)) {
      this.i++;
      return { kind: 'special', value: s[this.i - 1] as '[', pos };
    }
    if (c === 0x22) return this.quoted(pos);
    if (isDigit(c)) return this.number(pos);
    if (c === 0x3a) {
      this.i++;
      if (this.i >= s.length || !isAlpha(s.charCodeAt(this.i))) this.fail('expected an identifier after ":"');
      return { kind: 'tag', value: this.identifier(), pos };
    }
    if (isAlpha(c)) {
      const id = this.identifier();
      // RFC 5228 §8.1: multi-line = "text:" *(SP / HTAB) (hash-comment / CRLF)
      if (id.toLowerCase() === 'text' && s[this.i] === ':') {
        this.i++;
        return this.multiline(pos);
      }
      return { kind: 'identifier', value: id, pos };
    }
    this.fail(`unexpected character ${JSON.stringify(s[this.i])}`);
  }

  private skipWhitespaceAndComments(): void {
    const s = this.src;
    while (this.i < s.length) {
      const ch = s[this.i];
      if (ch === ' ' || ch === '\t' || ch === '\r') {
        this.i++;
      } else if (ch === '\n') {
        this.newline(this.i);
        this.i++;
      } else if (ch === '#') {
        // hash-comment = "#" *octet-not-crlf CRLF
        while (this.i < s.length && s[this.i] !== '\n') this.i++;
      } else if (ch === '/' && s[this.i + 1] === '*') {
        // bracket-comment = "/*" *not-star 1*STAR *(not-star-slash *not-star 1*STAR) "/"
        const start = this.pos;
        this.i += 2;
        for (;;) {
          if (this.i >= s.length) this.fail(`unterminated comment (started at line ${start.line})`, this.endPos);
          if (s[this.i] === '*' && s[this.i + 1] === '/') {
            this.i += 2;
            break;
          }
          if (s[this.i] === '\n') this.newline(this.i);
          this.i++;
        }
      } else {
        return;
      }
    }
  }

  private identifier(): string {
    const s = this.src;
    const start = this.i;
    while (this.i < s.length && (isAlpha(s.charCodeAt(this.i)) || isDigit(s.charCodeAt(this.i)))) this.i++;
    return s.slice(start, this.i);
  }

  private number(pos: Position): Token {
    const s = this.src;
    const start = this.i;
    while (this.i < s.length && isDigit(s.charCodeAt(this.i))) this.i++;
    let value = Number(s.slice(start, this.i));
    const q = QUANTIFIER[(s[this.i] ?? '').toLowerCase()];
    if (q) {
      value *= q;
      this.i++;
    }
    if (this.i < s.length && (isAlpha(s.charCodeAt(this.i)) || isDigit(s.charCodeAt(this.i)))) this.fail('invalid character in number');
    if (!Number.isSafeInteger(value) || value > MAX_NUMBER) this.fail('number is too large', pos);
    return { kind: 'number', value, pos };
  }

  /** RFC 5228 §2.4.2: "\\" and "\"" are the escapes; any other "\x" is "x". */
  private quoted(pos: Position): Token {
    const s = this.src;
    this.i++;
    let out = '';
    let run = this.i;
    for (;;) {
      if (this.i >= s.length) this.fail(`unterminated string (started at line ${pos.line})`, this.endPos);
      const ch = s[this.i];
      if (ch === '"') {
        out += s.slice(run, this.i);
        this.i++;
        return { kind: 'string', value: out, multiline: false, pos };
      }
      if (ch === '\\') {
        out += s.slice(run, this.i);
        if (this.i + 1 >= s.length) this.fail(`unterminated string (started at line ${pos.line})`, this.endPos);
        if (s[this.i + 1] === '\n') this.newline(this.i + 1);
        out += s[this.i + 1];
        this.i += 2;
        run = this.i;
        continue;
      }
      if (ch === '\n') this.newline(this.i);
      this.i++;
    }
  }

  private multiline(pos: Position): Token {
    const s = this.src;
    while (s[this.i] === ' ' || s[this.i] === '\t') this.i++;
    if (s[this.i] === '#') {
      while (this.i < s.length && s[this.i] !== '\n') this.i++;
    } else if (s[this.i] === '\r' && s[this.i + 1] === '\n') {
      this.i++;
    }
    if (s[this.i] !== '\n') this.fail('expected end of line after "text:"');
    this.newline(this.i);
    this.i++;
    const lines: string[] = [];
    for (;;) {
      if (this.i >= s.length) this.fail(`unterminated multi-line string (started at line ${pos.line})`, this.endPos);
      let nl = s.indexOf('\n', this.i);
      if (nl < 0) nl = s.length;
      let line = s.slice(this.i, nl);
      if (line.endsWith('\r')) line = line.slice(0, -1);
      if (nl < s.length) this.newline(nl);
      this.i = Math.min(nl + 1, s.length);
      if (line === '.') break;
      // Dot-stuffing: a line starting ".." stands for one starting "."
      lines.push(line.startsWith('..') ? line.slice(1) : line);
    }
    return { kind: 'string', value: lines.map((l) => `${l}\r\n`).join(''), multiline: true, pos };
  }
}
