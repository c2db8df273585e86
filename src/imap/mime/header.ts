/**
 * Header parsing shared by the analyzer, section fetches and SEARCH: splitting a header
 * block into fields (RFC 5322 §2.2, §2.2.3 unfolding), the RFC 822 tokenizer used for
 * Content-* fields (RFC 2045 §5.1 tokens and tspecials), parameter lists with RFC 2231
 * continuations. The address-list parser of ENVELOPE, over the same tokenizer, is in
 * address.ts.
 *
 * Implementation notes: the behaviour follows Dovecot 2.3 (lib-mail message-address.c,
 * rfc822-parser.c, rfc2231-parser.c), because IMAP clients are used to its answers and
 * the corpus in test/fixtures/mime was recorded from it:
 * - values are kept raw: encoded-words (RFC 2047) and RFC 2231 charsets are not decoded;
 * - RFC 2231 continuations are merged (`name*0`, `name*1` → `name`; any extended piece →
 *   `name*` with the raw `charset'lang'%xx` value, plain pieces %-escaped);
 * All strings here are binary strings (one char per byte, latin1).
 */
export interface HeaderField {
  /** Field name as written (binary string), trailing whitespace removed. */
  name: string;
  /** Unfolded value: line breaks removed, continuation whitespace kept, leading whitespace of the first line removed. */
  value: string;
  /** The raw bytes of the field, all its lines and line breaks included. */
  raw: Buffer;
  /** False for a line without a colon: kept in the header, ignored as a field. */
  hasColon: boolean;
}

/** Splits a header block (as stored, possibly with its blank line) into fields. */
export function parseHeaderBlock(buf: Buffer): HeaderField[] {
  const fields: HeaderField[] = [];
  let pos = 0;
  let cur: { start: number; end: number } | null = null;
  const flush = () => {
    if (!cur) return;
    fields.push(makeField(buf.subarray(cur.start, cur.end)));
    cur = null;
  };
  while (pos < buf.length) {
    let nl = buf.indexOf(10, pos);
    const end = nl < 0 ? buf.length : nl + 1;
    if (nl < 0) nl = buf.length;
    const contentEnd = nl > pos && buf[nl - 1] === 13 ? nl - 1 : nl;
    if (contentEnd === pos) break; // blank line: end of header (RFC 5322 §2.1)
    const first = buf[pos];
    if ((first === 0x20 || first === 0x09) && cur) {
      // RFC 5322 §2.2.3: a line starting with WSP continues the previous field
      cur.end = end;
    } else {
      flush();
      cur = { start: pos, end };
    }
    pos = end;
  }
  flush();
  return fields;
}

function makeField(raw: Buffer): HeaderField {
  const text = raw.toString('latin1');
  const colon = text.indexOf(':');
  let name: string;
  let rest: string;
  if (colon < 0) {
    name = text.replace(/\r?\n$/, '');
    rest = '';
  } else {
    name = text.slice(0, colon).replace(/[ \t]+$/, '');
    rest = text.slice(colon + 1);
  }
  // Unfold (RFC 5322 §2.2.3), keeping a "\n" where a line break was, as Dovecot's
  // full_value does: the subject writer treats it as whitespace to normalise, the other
  // writers drop it (see nolf()).
  let value = rest.replace(/\r?\n$/, '').replace(/\r?\n/g, '\n').replace(/\r/g, '');
  value = value.replace(/^[ \t]+/, '');
  return { name, value, raw, hasColon: colon >= 0 };
}

/** A field value without its line breaks (Dovecot imap_append_nstring_nolf). */
export function nolf(value: string): string {
  return value.replace(/[\r\n]/g, '');
}

/** The last field with this name (case-insensitive), or undefined. */
export function lastField(fields: HeaderField[], name: string): HeaderField | undefined {
  const lower = name.toLowerCase();
  for (let i = fields.length - 1; i >= 0; i--) if (fields[i].hasColon && fields[i].name.toLowerCase() === lower) return fields[i];
  return undefined;
}

/** Value of the first field with this name (case-insensitive), or undefined. */
export function firstField(fields: HeaderField[], name: string): HeaderField | undefined {
  const lower = name.toLowerCase();
  // Names of another length are skipped unread: lower-casing a binary (latin1) string never changes its length.
  return fields.find((f) => f.hasColon && f.name.length === lower.length && f.name.toLowerCase() === lower);
}

// --- RFC 822 tokenizer -------------------------------------------------------------

/** RFC 2045 §5.1 tspecials, plus SPACE and CTLs, end a MIME token. */
function isTokenChar(c: number): boolean {
  if (c <= 0x20 || c === 0x7f) return false;
  switch (c) {
    case 0x28: // (
    case 0x29: // )
    case 0x3c: // <
    case 0x3e: // >
    case 0x40: // @
    case 0x2c: // ,
    case 0x3b: // ;
    case 0x3a: // :
    case 0x5c: // \
    case 0x22: // "
    case 0x2f: // /
    case 0x5b: // [
    case 0x5d: // ]
    case 0x3f: // ?
    case 0x3d: // =
      return false;
  }
  return true;
}

/** RFC 5322 §3.2.3 atext (8-bit bytes allowed as Dovecot does). */
function isAtext(c: number): boolean {
  if (c <= 0x20 || c === 0x7f) return false;
  switch (c) {
    case 0x28:
    case 0x29:
    case 0x3c:
    case 0x3e:
    case 0x40:
    case 0x2c:
    case 0x3b:
    case 0x3a:
    case 0x5c:
    case 0x22:
    case 0x2e: // .
    case 0x5b:
    case 0x5d:
      return false;
  }
  return true;
}

export class Rfc822Parser {
  pos = 0;
  /** The last comment skipped (without parentheses), for "addr (Name)". */
  lastComment: string | null = null;
  constructor(readonly s: string) {}

  get atEnd(): boolean {
    return this.pos >= this.s.length;
  }
  peek(): number {
    return this.pos < this.s.length ? this.s.charCodeAt(this.pos) : -1;
  }

  /** Skips whitespace and comments (RFC 5322 §3.2.2 CFWS). Returns false at the end of input. */
  skipLwsp(): boolean {
    while (this.pos < this.s.length) {
      const c = this.s.charCodeAt(this.pos);
      if (c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a) {
        this.pos++;
      } else if (c === 0x28) {
        this.skipComment();
      } else {
        return true;
      }
    }
    return false;
  }

  private skipComment(): void {
    let depth = 0;
    let text = '';
    while (this.pos < this.s.length) {
      const ch = this.s[this.pos];
      this.pos++;
      if (ch === '\\' && this.pos < this.s.length) {
        if (depth > 0) text += this.s[this.pos];
        this.pos++;
        continue;
      }
      if (ch === '(') {
        if (depth > 0) text += ch;
        depth++;
      } else if (ch === ')') {
        depth--;
        if (depth === 0) break;
        text += ch;
      } else if (ch !== '\r' && ch !== '\n') {
        text += ch;
      }
    }
    this.lastComment = text;
  }

  mimeToken(): string {
    const start = this.pos;
    while (this.pos < this.s.length && isTokenChar(this.s.charCodeAt(this.pos))) this.pos++;
    return this.s.slice(start, this.pos);
  }

  atom(): string {
    const start = this.pos;
    while (this.pos < this.s.length && isAtext(this.s.charCodeAt(this.pos))) this.pos++;
    return this.s.slice(start, this.pos);
  }

  /** At a DQUOTE: the unescaped content; folding line breaks removed. */
  quotedString(): string | null {
    if (this.peek() !== 0x22) return null;
    this.pos++;
    let out = '';
    while (this.pos < this.s.length) {
      const ch = this.s[this.pos];
      if (ch === '"') {
        this.pos++;
        return out;
      }
      if (ch === '\\' && this.pos + 1 < this.s.length) {
        out += this.s[this.pos + 1];
        this.pos += 2;
        continue;
      }
      if (ch !== '\r' && ch !== '\n') out += ch;
      this.pos++;
    }
    return null; // unterminated
  }

  /** RFC 5322 phrase (obs-phrase: also dots): words joined by one space. Null if no word. */
  phrase(): string | null {
    const words: string[] = [];
    for (;;) {
      if (!this.skipLwsp()) break;
      const c = this.peek();
      if (c === 0x22) {
        const save = this.pos;
        const q = this.quotedString();
        if (q === null) {
          this.pos = save;
          break;
        }
        words.push(q);
      } else if (c === 0x2e && words.length > 0) {
        this.pos++;
        words[words.length - 1] += '.';
      } else {
        const a = this.atom();
        if (a === '') break;
        words.push(a);
      }
    }
    if (words.length === 0) return null;
    return words.join(' ');
  }

  /** local-part: dot-atom or obs-local-part, dots not checked (Dovecot non_strict_dots: "a..b", ".a", "a."). */
  dotAtomOrWords(): string | null {
    let out = '';
    let any = false;
    for (;;) {
      this.skipLwsp();
      const c = this.peek();
      if (c === 0x22) {
        const q = this.quotedString();
        if (q === null) return any ? out : null;
        out += q;
        any = true;
      } else if (c === 0x2e) {
        this.pos++;
        out += '.';
        any = true;
        continue;
      } else {
        const a = this.atom();
        if (a === '') break;
        out += a;
        any = true;
      }
      this.skipLwsp();
      if (this.peek() === 0x2e) {
        this.pos++;
        out += '.';
        continue;
      }
      break;
    }
    return any ? out : null;
  }

  /** domain = dot-atom / domain-literal; null when invalid (an empty label, as in "b." or ".b"). */
  domain(): string | null {
    this.skipLwsp();
    if (this.peek() === 0x5b) {
      const end = this.s.indexOf(']', this.pos);
      const stop = end < 0 ? this.s.length : end + 1;
      const lit = this.s.slice(this.pos, stop).replace(/[\r\n]/g, '');
      this.pos = stop;
      return lit;
    }
    let out = '';
    for (;;) {
      this.skipLwsp();
      const a = this.atom();
      if (a === '') return null;
      out += a;
      this.skipLwsp();
      if (this.peek() === 0x2e) {
        this.pos++;
        out += '.';
        continue;
      }
      return out;
    }
  }
}

// --- Content-Type and parameters ----------------------------------------------------

/**
 * Parses ";" parameter lists (RFC 2045 §5.1) and merges RFC 2231 continuations the way
 * Dovecot's rfc2231_parse does. Returns a flat [key, value, ...] list.
 */
export function parseParams(p: Rfc822Parser): string[] {
  const result: string[] = [];
  interface Piece {
    key: string;
    value: string;
    idx: number;
    extended: boolean;
  }
  const pieces: Piece[] = [];
  let staleIdx = 0; // Dovecot keeps the index of the previous piece for "key*" (no number)
  for (;;) {
    const kv = contentParam(p);
    if (kv === null) break;
    if (kv === 'broken') {
      // try to continue at the next ";" (Dovecot: skip one char and retry)
      if (p.atEnd) break;
      p.pos++;
      continue;
    }
    const [key, value] = kv;
    const star = key.indexOf('*');
    if (star >= 0) {
      let i = star;
      let idx = staleIdx;
      if (i + 1 < key.length) {
        i++;
        idx = 0;
        while (i < key.length && key.charCodeAt(i) >= 0x30 && key.charCodeAt(i) <= 0x39) {
          idx = idx * 10 + key.charCodeAt(i) - 0x30;
          i++;
        }
      }
      let extended = false;
      if (key[i] === '*') {
        extended = true;
        i++;
      }
      staleIdx = idx;
      if (i >= key.length) {
        pieces.push({ key: key.slice(0, star), value, idx, extended });
        continue;
      }
    }
    result.push(key, value);
  }
  if (pieces.length === 0) return result;
  // RFC 2231 §3: sort by name, then index, and merge
  pieces.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.idx - b.idx));
  for (let i = 0; i < pieces.length; ) {
    let j = i;
    let ok = true;
    let haveExtended = false;
    let nextIdx = 0;
    for (; j < pieces.length; j++) {
      if (pieces[j].key.toLowerCase() !== pieces[i].key.toLowerCase()) break;
      if (pieces[j].idx !== nextIdx) ok = false;
      if (pieces[j].extended) haveExtended = true;
      nextIdx++;
    }
    if (!ok) {
      for (let k = i; k < j; k++) {
        result.push(`${pieces[k].key}*${pieces[k].idx}${pieces[k].extended ? '*' : ''}`, pieces[k].value);
      }
    } else {
      let v = '';
      if (!pieces[i].extended && haveExtended) v += "''";
      for (let k = i; k < j; k++) {
        v += !pieces[k].extended && haveExtended ? pieces[k].value.replace(/%/g, '%25') : pieces[k].value;
      }
      result.push(haveExtended ? pieces[i].key + '*' : pieces[i].key, v);
    }
    i = j;
  }
  return result;
}

/** One `; key=value`: [key, value], null at the end, 'broken' on a syntax error. */
function contentParam(p: Rfc822Parser): [string, string] | null | 'broken' {
  if (p.atEnd) return null;
  if (p.peek() !== 0x3b) return 'broken';
  p.pos++;
  if (!p.skipLwsp()) return 'broken';
  const key = p.mimeToken();
  if (key === '') return 'broken';
  p.skipLwsp();
  if (p.peek() !== 0x3d) return 'broken';
  p.pos++;
  let value = '';
  if (!p.skipLwsp()) {
    // broken / no value
  } else if (p.peek() === 0x22) {
    const q = p.quotedString();
    if (q === null) return 'broken';
    value = q;
  } else if (p.peek() === 0x3d) {
    // workaround for broken input: name==?utf-8?b?...?=
    const start = p.pos;
    while (!p.atEnd && !';\t \r\n'.includes(p.s[p.pos])) p.pos++;
    value = p.s.slice(start, p.pos);
  } else {
    value = p.mimeToken();
  }
  p.skipLwsp();
  return [key, value];
}

export interface ContentType {
  type: string;
  subtype: string;
  params: string[];
}

/** Content-Type (RFC 2045 §5.1): `type "/" subtype *(";" parameter)`, kept as written. */
export function parseContentType(value: string): ContentType {
  const broken: ContentType = { type: '', subtype: '', params: [] };
  const p = new Rfc822Parser(value);
  p.skipLwsp();
  const type = p.mimeToken();
  if (type === '') return broken;
  p.skipLwsp();
  if (p.peek() !== 0x2f) {
    // Dovecot: "text" alone keeps its type; anything else after it is broken
    return p.atEnd || p.peek() === 0x3b ? { type, subtype: '', params: [] } : broken;
  }
  p.pos++;
  p.skipLwsp();
  const subtype = p.mimeToken();
  if (subtype === '') return broken;
  p.skipLwsp();
  if (!p.atEnd && p.peek() !== 0x3b) return broken;
  return { type, subtype, params: parseParams(p) };
}

/** Content-Disposition (RFC 2183): `type *(";" parameter)`; the type may be empty. */
export function parseDisposition(value: string): { type: string; params: string[] } {
  const p = new Rfc822Parser(value);
  p.skipLwsp();
  const type = p.mimeToken();
  p.skipLwsp();
  return { type, params: parseParams(p) };
}

/** The first token of Content-Transfer-Encoding (RFC 2045 §6.1). */
export function parseEncoding(value: string): string {
  const p = new Rfc822Parser(value);
  p.skipLwsp();
  return p.mimeToken();
}

/** Content-Language (RFC 3282): a comma-separated list of language tags. */
export function parseLanguage(value: string): string[] {
  const p = new Rfc822Parser(value);
  const out: string[] = [];
  for (;;) {
    if (!p.skipLwsp()) break;
    const start = p.pos;
    while (!p.atEnd && /[A-Za-z0-9-]/.test(p.s[p.pos])) p.pos++;
    if (p.pos > start) out.push(p.s.slice(start, p.pos));
    p.skipLwsp();
    if (p.atEnd) break;
    if (p.peek() === 0x2c) {
      p.pos++;
      continue;
    }
    // garbage: skip to the next comma
    const comma = p.s.indexOf(',', p.pos);
    if (comma < 0) break;
    p.pos = comma + 1;
  }
  return out;
}
