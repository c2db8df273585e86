/**
 * Maildir file names: unique base names, the `,S=` size and `,U=` UID fields, and the
 * flags info `:2,<letters>` (https://cr.yp.to/proto/maildir.html, Dovecot's
 * maildir-filename.c).
 *
 *   <sec>.M<usec>P<pid>Q<n>.<host>,S=<size>,U=<uid>            in new/
 *   <sec>.M<usec>P<pid>Q<n>.<host>,S=<size>,U=<uid>:2,<flags>  in cur/
 *
 * Flags letters, sorted by ASCII as the Maildir spec requires:
 *   D Draft → \Draft      F Flagged → \Flagged   P Passed → $Forwarded (keyword)
 *   R Replied → \Answered S Seen → \Seen         T Trashed → \Deleted
 *
 * Inside the index the system flags are a bit mask (FLAG_* of ../flags.ts); other
 * keywords are kept in the index only (lower-case Dovecot keyword letters of foreign
 * files are dropped when we rename the file).
 */
import os from 'node:os';
import { FLAG_ANSWERED, FLAG_DELETED, FLAG_DRAFT, FLAG_FLAGGED, FLAG_FORWARDED, FLAG_SEEN } from '../flags.js';

/** In the order the letters must appear in a file name. */
const LETTERS: ReadonlyArray<readonly [string, number]> = [
  ['D', FLAG_DRAFT],
  ['F', FLAG_FLAGGED],
  ['P', FLAG_FORWARDED],
  ['R', FLAG_ANSWERED],
  ['S', FLAG_SEEN],
  ['T', FLAG_DELETED],
];

export function lettersOf(bits: number): string {
  let s = '';
  for (const [l, b] of LETTERS) if (bits & b) s += l;
  return s;
}

const BIT_OF_LETTER = new Map(LETTERS);

export function bitsOfLetters(info: string): number {
  let bits = 0;
  for (let i = 0; i < info.length; i++) bits |= BIT_OF_LETTER.get(info[i]!) ?? 0;
  return bits;
}

/** The base of a file name: everything before the ":2," info. */
export function baseOf(filename: string): string {
  const i = filename.indexOf(':');
  return i < 0 ? filename : filename.slice(0, i);
}

export function infoOf(filename: string): string {
  const i = filename.indexOf(':2,');
  return i < 0 ? '' : filename.slice(i + 3);
}

/** `,S=` and `,U=` of a base name, if present and sane. */
export function fieldsOf(base: string): { size?: number; uid?: number } {
  const out: { size?: number; uid?: number } = {};
  const s = fieldNumber(base, ',S=', 15);
  if (s !== undefined) out.size = s;
  const u = fieldNumber(base, ',U=', 10);
  if (u !== undefined && u >= 1 && u <= 0xffffffff) out.uid = u;
  return out;
}

/**
 * The first `<key><1..max digits>` followed by "," or the end (scanned by hand: two
 * regular expressions per name were a tenth of indexing 100 000 names).
 */
export function fieldNumber(base: string, key: ',S=' | ',U=', max: number): number | undefined {
  for (let at = base.indexOf(key); at >= 0; at = base.indexOf(key, at + 1)) {
    let i = at + key.length;
    let n = 0;
    const start = i;
    for (; i < base.length; i++) {
      const c = base.charCodeAt(i);
      if (c < 48 || c > 57) break;
      n = n * 10 + (c - 48);
    }
    const digits = i - start;
    if (digits >= 1 && digits <= max && (i === base.length || base.charCodeAt(i) === 44)) return n;
  }
  return undefined;
}

/** The base with its `,U=` field replaced by (or set to) uid. */
export function withUid(base: string, uid: number): string {
  return base.replace(/,U=\d*(?=,|$)/g, '') + ',U=' + uid;
}

/** The file name in cur/ for a base and system flags. */
export function curName(base: string, bits: number): string {
  return base + ':2,' + lettersOf(bits);
}

// Maildir: "/" and ":" in the host name are written as \057 and \072; we also escape
// "," because it separates our fields.
const HOST = os.hostname().replace(/[/:,\\]/g, (c) => '\\' + c.charCodeAt(0).toString(8).padStart(3, '0')) || 'localhost';
let counter = 0;

/** A new unique base name with its size (`<sec>.M<usec>P<pid>Q<n>.<host>,S=<size>`). */
export function uniqueBase(size: number): string {
  const now = process.hrtime.bigint();
  const wall = Date.now();
  const sec = Math.floor(wall / 1000);
  const usec = (wall % 1000) * 1000 + Number((now / 1000n) % 1000n);
  counter = (counter + 1) % 1_000_000_000;
  return `${sec}.M${usec}P${process.pid}Q${counter}.${HOST},S=${size}`;
}
