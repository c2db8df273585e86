/**
 * Compile-time processing of string arguments: encoded characters (RFC 5228 §2.4.2.4,
 * "${hex:…}" and "${unicode:…}" when "encoded-character" is required) and variable
 * references (RFC 5229 §3, "${name}" and "${0}"…"${9}" when "variables" is required),
 * which become templates expanded at run time.
 *
 * Implementation notes:
 * - A "${" that does not start a well-formed reference is kept as text (RFC 5229 §3:
 *   "…is not a variable reference and is left alone").
 * - Variable names are case-insensitive; names with a namespace ("${env.x}") are kept as
 *   text, since no namespace is supported.
 * - Constant strings stay plain strings, so scripts without variables cost nothing here.
 */
import type { Str, Template, VarRef } from './types.js';

const ENCODED = /\$\{(hex|unicode):([^}]*)\}/gi;

/** RFC 5228 §2.4.2.4: decodes ${hex:…} and ${unicode:…}; malformed ones stay as written. */
export function decodeEncodedCharacters(s: string): string {
  if (!s.includes('${')) return s;
  return s.replace(ENCODED, (whole, kind: string, body: string) => {
    const words = body.trim() === '' ? [] : body.trim().split(/[ \t\r\n]+/);
    if (kind.toLowerCase() === 'hex') {
      if (!words.every((w) => /^(?:[0-9a-f]{2})+$/i.test(w))) return whole;
      return Buffer.from(words.join(''), 'hex').toString('utf8');
    }
    if (!words.every((w) => /^[0-9a-f]{1,6}$/i.test(w))) return whole;
    const cps = words.map((w) => parseInt(w, 16));
    // RFC 5228 §2.4.2.4: surrogates and values beyond U+10FFFF are errors; keep the text.
    if (cps.some((c) => c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))) return whole;
    return String.fromCodePoint(...cps);
  });
}

const REF = /\$\{([A-Za-z_][A-Za-z0-9_]*|\d+)\}/g;

/** Splits a string into text and variable references; a plain string when it has none. */
export function compileTemplate(s: string): Str {
  if (!s.includes('${')) return s;
  const parts: Array<string | VarRef> = [];
  let last = 0;
  for (const m of s.matchAll(REF)) {
    if (m.index > last) parts.push(s.slice(last, m.index));
    const name = m[1]!;
    parts.push(/^\d+$/.test(name) ? { match: Number(name) } : { name: name.toLowerCase() });
    last = m.index + m[0].length;
  }
  if (parts.length === 0) return s;
  if (last < s.length) parts.push(s.slice(last));
  return { parts };
}

export function isTemplate(s: Str): s is Template {
  return typeof s !== 'string';
}

/** RFC 5229 §4.1.2: :quotewildcard escapes "*", "?" and "\". */
export function quoteWildcard(s: string): string {
  return s.replace(/[*?\\]/g, (c) => `\\${c}`);
}

/** The string as written in the script, references included ("Re: ${subject}"). */
export function sourceText(s: Str): string {
  if (typeof s === 'string') return s;
  return s.parts.map((p) => (typeof p === 'string' ? p : 'match' in p ? `\${${p.match}}` : `\${${p.name}}`)).join('');
}
