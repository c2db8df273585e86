/**
 * The command argument parser: ABNF-named readers over one framed command (RFC 9051 §9,
 * RFC 3501 §9). Methods that must match throw ImapBad; `try*` forms return undefined
 * (go-imap `SP()`/`ExpectSP()`, mox `take`/`xtake`). Each handler parses its own
 * arguments and ends with `end()`, so leftover data is a BAD.
 *
 * A string argument may be a literal: when the reader reaches "{n}" at the end of a
 * line, the value is the framed literal and parsing continues on the next line.
 */
import { ImapBad, ImapNo } from '../errors.js';
import { decodeUtf7, Utf7Error } from './utf7.js';
import type { FramedCommand, Literal } from './types.js';

/** One range of a sequence set; `Infinity` stands for "*" (resolved against the view). */
export type SeqRange = [number, number];
export type SeqSet = SeqRange[];

/**
 * "$", the session's saved search result (SEARCHRES, RFC 5182 §2.1; RFC 9051 §6.4.4.1
 * seq-last-command): this one object stands for it, the selected view resolves it to
 * the saved UIDs still there (SelectedView.uidsForSeqSet/uidsForUidSet).
 */
export const SAVED_SET: SeqSet = Object.freeze([]) as unknown as SeqSet;

const ATOM_SPECIALS = new Set(['(', ')', '{', ' ', '%', '*', '"', '\\', ']']);
const LITERAL_RE = /^\{(\d{1,20})\+?\}$/;
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

function isAtomChar(c: string): boolean {
  const code = c.charCodeAt(0);
  return code > 0x20 && code !== 0x7f && !ATOM_SPECIALS.has(c);
}

export class Parser {
  private li = 0;
  private pos = 0;
  /** Whether mailbox names arrive in UTF-8 (UTF8=ACCEPT / IMAP4rev2 enabled). */
  utf8 = false;

  constructor(private readonly cmd: FramedCommand) {}

  private get line(): string {
    return this.cmd.lines[this.li]!;
  }

  /** The rest of the current line (for logs and error messages). */
  rest(): string {
    return this.line.slice(this.pos);
  }

  atEnd(): boolean {
    return this.li === this.cmd.lines.length - 1 && this.pos >= this.line.length;
  }

  end(): void {
    if (!this.atEnd()) throw new ImapBad('Unexpected extra arguments');
  }

  peek(): string {
    return this.line[this.pos] ?? '';
  }

  /** Consumes `s` (case-insensitively) if present. */
  tryTake(s: string): boolean {
    if (this.line.slice(this.pos, this.pos + s.length).toUpperCase() === s.toUpperCase()) {
      this.pos += s.length;
      return true;
    }
    return false;
  }

  take(s: string): void {
    if (!this.tryTake(s)) throw new ImapBad(`Expected "${s}"`);
  }

  trySp(): boolean {
    return this.tryTake(' ');
  }

  sp(): void {
    if (!this.trySp()) throw new ImapBad('Expected space');
  }

  /** tag = 1*<any ASTRING-CHAR except "+"> */
  tag(): string {
    const start = this.pos;
    while (this.pos < this.line.length) {
      const c = this.line[this.pos]!;
      if (c === '+' || (!isAtomChar(c) && c !== ']')) break;
      this.pos++;
    }
    if (this.pos === start) throw new ImapBad('Missing tag');
    return this.line.slice(start, this.pos);
  }

  tryAtom(): string | undefined {
    const start = this.pos;
    while (this.pos < this.line.length && isAtomChar(this.line[this.pos]!)) this.pos++;
    return this.pos === start ? undefined : this.line.slice(start, this.pos);
  }

  atom(): string {
    const a = this.tryAtom();
    if (a === undefined) throw new ImapBad('Expected atom');
    return a;
  }

  /** A command or item name: atom chars plus "." "[" etc are already atom chars. */
  word(): string {
    return this.atom().toUpperCase();
  }

  tryNumber(): number | undefined {
    const m = /^\d+/.exec(this.line.slice(this.pos));
    if (!m) return undefined;
    this.pos += m[0].length;
    const n = Number(m[0]);
    if (!Number.isSafeInteger(n)) throw new ImapBad('Number too big');
    return n;
  }

  /** number = 1*DIGIT (32 bit unsigned, RFC 9051 §9); number64 when big is true. */
  number(big = false): number {
    const n = this.tryNumber();
    if (n === undefined) throw new ImapBad('Expected number');
    if (!big && n > 0xffffffff) throw new ImapBad('Number too big');
    return n;
  }

  nzNumber(): number {
    const n = this.number();
    if (n === 0) throw new ImapBad('Expected non-zero number');
    return n;
  }

  private tryLiteral(): Literal | undefined {
    const m = LITERAL_RE.exec(this.line.slice(this.pos));
    if (!m || this.li >= this.cmd.literals.length) return undefined;
    const lit = this.cmd.literals[this.li]!;
    this.li++;
    this.pos = 0;
    return lit;
  }

  /** literal = "{" number64 ["+"] "}" CRLF *CHAR8 */
  literal(): Literal {
    const l = this.tryLiteral();
    if (!l) throw new ImapBad('Expected literal');
    return l;
  }

  private literalText(l: Literal): string {
    if (l.kind !== 'buffer') throw new ImapBad('Literal too big for this argument');
    return l.data.toString('utf8');
  }

  /** quoted = DQUOTE *QUOTED-CHAR DQUOTE */
  tryQuoted(): string | undefined {
    if (this.peek() !== '"') return undefined;
    let out = '';
    let i = this.pos + 1;
    const line = this.line;
    while (i < line.length) {
      const c = line[i]!;
      if (c === '"') {
        this.pos = i + 1;
        return out;
      }
      if (c === '\\') {
        const n = line[i + 1];
        if (n !== '"' && n !== '\\') throw new ImapBad('Bad escape in quoted string');
        out += n;
        i += 2;
        continue;
      }
      out += c;
      i++;
    }
    throw new ImapBad('Unterminated quoted string');
  }

  tryString(): string | undefined {
    const q = this.tryQuoted();
    if (q !== undefined) return q;
    const l = this.tryLiteral();
    return l ? this.literalText(l) : undefined;
  }

  string(): string {
    const s = this.tryString();
    if (s === undefined) throw new ImapBad('Expected string');
    return s;
  }

  /** astring = 1*ASTRING-CHAR / string */
  astring(): string {
    const s = this.tryString();
    if (s !== undefined) return s;
    const start = this.pos;
    while (this.pos < this.line.length && (isAtomChar(this.line[this.pos]!) || this.line[this.pos] === ']')) this.pos++;
    if (this.pos === start) throw new ImapBad('Expected astring');
    return this.line.slice(start, this.pos);
  }

  /** nstring = string / nil */
  nstring(): string | null {
    if (this.tryTake('NIL')) return null;
    return this.string();
  }

  /** Decodes a wire mailbox name: INBOX case-insensitive, modified UTF-7 unless UTF-8 (RFC 3501 §5.1.3). */
  decodeMailbox(raw: string): string {
    if (raw.toUpperCase() === 'INBOX') return 'INBOX';
    let name = raw;
    if (!this.utf8 && /^[\x20-\x7e]*$/.test(raw)) {
      try {
        name = decodeUtf7(raw);
      } catch (e) {
        // A name that cannot exist is refused, not a syntax error (RFC 9051 §6.3.2: NO).
        if (e instanceof Utf7Error) throw new ImapNo('Mailbox name is not valid modified UTF-7', 'CANNOT');
        throw e;
      }
    }
    if (/^inbox\//i.test(name)) name = 'INBOX' + name.slice(5);
    return name.normalize('NFC');
  }

  /** mailbox = "INBOX" / astring */
  mailbox(): string {
    return this.decodeMailbox(this.astring());
  }

  /** list-mailbox = 1*list-char / string (list-char adds "%" "*" "]") */
  listMailbox(): string {
    const s = this.tryString();
    if (s !== undefined) return s;
    const start = this.pos;
    while (this.pos < this.line.length) {
      const c = this.line[this.pos]!;
      if (!(isAtomChar(c) || c === '%' || c === '*' || c === ']')) break;
      this.pos++;
    }
    if (this.pos === start) throw new ImapBad('Expected list-mailbox');
    return this.line.slice(start, this.pos);
  }

  /** sequence-set = (seq-number / seq-range) ["," sequence-set]; "*" → Infinity. */
  trySequenceSet(): SeqSet | undefined {
    // RFC 5182 §3: "$" stands alone, never inside a list of numbers.
    if (this.line[this.pos] === '$' && !isAtomChar(this.line[this.pos + 1] ?? ' ')) {
      this.pos++;
      return SAVED_SET;
    }
    const m = /^(?:\d+|\*)(?::(?:\d+|\*))?(?:,(?:\d+|\*)(?::(?:\d+|\*))?)*/.exec(this.line.slice(this.pos));
    if (!m) return undefined;
    const text = m[0];
    const set: SeqSet = [];
    for (const part of text.split(',')) {
      const [a, b] = part.split(':') as [string, string | undefined];
      const na = a === '*' ? Infinity : Number(a);
      const nb = b === undefined ? na : b === '*' ? Infinity : Number(b);
      if (na === 0 || nb === 0) throw new ImapBad('Invalid sequence number 0');
      if ((Number.isFinite(na) && na > 0xffffffff) || (Number.isFinite(nb) && nb > 0xffffffff)) throw new ImapBad('Number too big');
      set.push(na <= nb ? [na, nb] : [nb, na]);
    }
    this.pos += text.length;
    return set;
  }

  sequenceSet(): SeqSet {
    const s = this.trySequenceSet();
    if (!s) throw new ImapBad('Expected sequence set');
    return s;
  }

  /** flag = "\Answered" / "\Flagged" / "\Deleted" / "\Seen" / "\Draft" / flag-keyword / flag-extension */
  flag(): string {
    if (this.tryTake('\\')) {
      const a = this.atom();
      const sys = ['Answered', 'Flagged', 'Deleted', 'Seen', 'Draft', 'Recent'].find((f) => f.toLowerCase() === a.toLowerCase());
      return '\\' + (sys ?? a);
    }
    const a = this.atom();
    // NIL is IMAP's null token: a keyword of that name would read as "no value" in
    // FETCH responses, and "FLAGS (NIL)" is not a way to clear flags (RFC 9051 §4.5, §9 nil).
    if (a.toUpperCase() === 'NIL') throw new ImapBad('NIL is not a flag');
    return a;
  }

  /** flag-list = "(" [flag *(SP flag)] ")"; a single flag without parens is accepted too. */
  flagList(): string[] {
    if (!this.tryTake('(')) return [this.flag()];
    const flags: string[] = [];
    if (this.tryTake(')')) return flags;
    for (;;) {
      flags.push(this.flag());
      if (this.tryTake(')')) return flags;
      this.sp();
    }
  }

  /** date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE */
  dateTime(): Date {
    const s = this.tryQuoted();
    if (s === undefined) throw new ImapBad('Expected date-time');
    const m = /^ ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/.exec(s);
    if (!m) throw new ImapBad('Invalid date-time');
    const mon = MONTHS.indexOf(m[2]!.toLowerCase());
    if (mon < 0) throw new ImapBad('Invalid month');
    const utc = Date.UTC(Number(m[3]), mon, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]));
    const off = (Number(m[8]) * 60 + Number(m[9])) * (m[7] === '-' ? -1 : 1);
    const d = new Date(utc - off * 60_000);
    if (Number.isNaN(d.getTime())) throw new ImapBad('Invalid date-time');
    return d;
  }

  /** date = date-text / DQUOTE date-text DQUOTE; returns the UTC midnight of that day. */
  date(): Date {
    const q = this.tryQuoted();
    let s = q;
    if (s === undefined) {
      const m = /^\d{1,2}-[A-Za-z]{3}-\d{4}/.exec(this.line.slice(this.pos));
      if (!m) throw new ImapBad('Expected date');
      s = m[0];
      this.pos += s.length;
    }
    const m = /^(\d{1,2})-([A-Za-z]{3})-(\d{4})$/.exec(s);
    const mon = m ? MONTHS.indexOf(m[2]!.toLowerCase()) : -1;
    if (!m || mon < 0) throw new ImapBad('Invalid date');
    return new Date(Date.UTC(Number(m[3]), mon, Number(m[1])));
  }

  /** Parses "(" item *(SP item) ")" calling `item` for each; empty lists allowed when allowEmpty. */
  parenList(item: () => void, allowEmpty = true): void {
    this.take('(');
    if (this.tryTake(')')) {
      if (!allowEmpty) throw new ImapBad('Empty list');
      return;
    }
    for (;;) {
      item();
      if (this.tryTake(')')) return;
      this.sp();
    }
  }

  /**
   * A message literal for APPEND (the literal as framed, possibly spooled to a file):
   * a literal, or a literal8 "~{n}" whose bytes may include NUL (RFC 3516 §4.4,
   * RFC 9051 §6.3.12 append-data).
   */
  messageLiteral(): Literal {
    this.tryTake('~');
    return this.literal();
  }
}
