/**
 * The section grammar of FETCH, the one parser of it: BODY[section] and BINARY[part]
 * (RFC 9051 §6.4.5 and §9, RFC 3516 §4.1), read by FETCH from the command line through
 * the wire parser (src/imap/wire/parser.ts, which gives literals for field names), and
 * by `parseSection()` from a string (tests, the recorded Dovecot answers).
 *
 *   section          = "[" [section-spec] "]"
 *   section-binary   = "[" [section-part] "]"
 *   section-spec     = section-msgtext / (section-part ["." section-text])
 *   section-msgtext  = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list / "TEXT"
 *   section-part     = nz-number *("." nz-number)
 *   section-text     = section-msgtext / "MIME"
 *   header-list      = "(" header-fld-name *(SP header-fld-name) ")"
 *   header-fld-name  = astring
 */
import { MimeError } from './types.js';

export type SectionText = '' | 'HEADER' | 'HEADER.FIELDS' | 'HEADER.FIELDS.NOT' | 'TEXT' | 'MIME';

/** A parsed section: part numbers ([] = the whole message) and what to take of it. */
export interface SectionSpec {
  part: number[];
  /** '' or absent: the whole part (or the whole message when `part` is empty). */
  text?: SectionText;
  /** Field names of HEADER.FIELDS / HEADER.FIELDS.NOT. */
  fields?: string[];
}

/** A partial range `<origin.length>` (RFC 9051 §6.4.5); length omitted = to the end. */
export interface PartialRange {
  origin: number;
  length?: number;
}

/**
 * What the grammar reads from. src/imap/wire/parser.ts's Parser is one (its errors are
 * ImapBad); `parseSection` wraps a string in another (its errors MimeError).
 */
export interface SectionInput {
  /** The rest of the current line. */
  rest(): string;
  /** Consumes `s` (ASCII case-insensitively), or throws. */
  take(s: string): void;
  /** A header field name: an atom, a quoted string or (on the wire) a literal. */
  astring(): string;
}

const bad = (what: string): MimeError => new MimeError('badSection', `invalid section: ${what.slice(0, 100)}`);

/**
 * Reads `[section]` (binary = false) or `[section-part]` (binary = true) at the input's
 * position, brackets included. Throws MimeError('badSection') (or the input's error).
 */
export function readSection(inp: SectionInput, binary: boolean): SectionSpec {
  inp.take('[');
  const part: number[] = [];
  for (let m = /^[1-9][0-9]*/.exec(inp.rest()); m; m = /^\.([1-9][0-9]*)/.exec(inp.rest())) {
    const digits = m[1] ?? m[0];
    // nz-number is a 32-bit number (RFC 9051 §9)
    if (digits.length > 10 || Number(digits) > 0xffffffff) throw bad(inp.rest());
    part.push(Number(digits));
    inp.take(m[0]);
  }
  if (inp.rest().startsWith(']')) {
    inp.take(']');
    return { part, text: '' };
  }
  if (binary) throw bad(inp.rest()); // RFC 3516 §4.1: BINARY takes part numbers only
  if (part.length > 0) inp.take('.');
  const t = /^(HEADER\.FIELDS\.NOT|HEADER\.FIELDS|HEADER|TEXT|MIME)(?=[\] ])/i.exec(inp.rest());
  if (!t) throw bad(inp.rest());
  inp.take(t[1]);
  const text = t[1].toUpperCase() as SectionText;
  if (text === 'MIME' && part.length === 0) throw bad('MIME needs a part number'); // RFC 9051 §6.4.5
  const spec: SectionSpec = { part, text };
  if (text === 'HEADER.FIELDS' || text === 'HEADER.FIELDS.NOT') {
    inp.take(' ');
    inp.take('(');
    const fields = [inp.astring()];
    while (inp.rest().startsWith(' ')) {
      inp.take(' ');
      fields.push(inp.astring());
    }
    inp.take(')');
    spec.fields = fields;
  }
  inp.take(']');
  return spec;
}

/** Characters of an atom (RFC 9051 §9 ATOM-CHAR); ']' is an ASTRING-CHAR too. */
const ATOM_CHARS = /^[^\x00-\x20\x7f(){%*"\\\]]+/;

/** A string as SectionInput: quoted strings and atoms, no literals. */
class StringInput implements SectionInput {
  private pos = 0;
  constructor(private readonly s: string) {}
  rest(): string {
    return this.s.slice(this.pos);
  }
  atEnd(): boolean {
    return this.pos === this.s.length;
  }
  take(t: string): void {
    if (this.s.slice(this.pos, this.pos + t.length).toUpperCase() !== t.toUpperCase()) throw bad(this.s);
    this.pos += t.length;
  }
  astring(): string {
    const rest = this.rest();
    if (!rest.startsWith('"')) {
      const m = ATOM_CHARS.exec(rest);
      if (!m) throw bad(this.s);
      this.pos += m[0].length;
      return m[0];
    }
    let v = '';
    for (let i = 1; i < rest.length; i++) {
      if (rest[i] === '"') {
        this.pos += i + 1;
        return v;
      }
      if (rest[i] === '\\') i++;
      v += rest[i] ?? '';
    }
    throw bad(this.s);
  }
}

/** The text between the brackets of BODY[...] / BINARY[...] as a SectionSpec. Throws MimeError('badSection'). */
export function parseSection(s: string, binary = false): SectionSpec {
  const inp = new StringInput(`[${s}]`);
  const spec = readSection(inp, binary);
  if (!inp.atEnd()) throw bad(s);
  return spec;
}

/** The section as echoed in the FETCH response: `1.2.HEADER.FIELDS (SUBJECT FROM)` (Dovecot upper-cases field names). */
export function sectionToString(spec: SectionSpec): string {
  const parts = spec.part.map(String);
  if (spec.text) {
    let t: string = spec.text;
    if (spec.fields) t += ' (' + spec.fields.map(fieldNameToWire).join(' ') + ')';
    parts.push(t);
  }
  return parts.join('.');
}

function fieldNameToWire(name: string): string {
  const up = name.toUpperCase();
  return /^[!#$&'+\-.0-9;<>?@A-Z^_`|~:=/,\x5b]+$/.test(up) ? up : '"' + up.replace(/[\\"]/g, (m) => '\\' + m) + '"';
}
