/**
 * The sort and thread keys of one message (SORT and THREAD, RFC 5256; SORT=DISPLAY,
 * RFC 5957), computed once from its header at delivery or APPEND and kept by the store,
 * so that sorting 100 000 messages compares stored strings and numbers, not headers.
 * Both stores use this one definition; `compareKeys` is the reference order every
 * SupportsSort implementation must give (the store contract checks it).
 *
 * - Strings are collation keys of i;unicode-casemap (RFC 5051 §2): each character mapped
 *   to its simple titlecase form, then fully decomposed (NFKD of that character; Hangul
 *   syllables, which UnicodeData gives no decomposition, are kept). Two keys compare
 *   as i;octet over their UTF-8 bytes, that is, by code point.
 * - The base subject follows RFC 5256 §2.1 exactly (RFC 2047 words decoded, WSP
 *   collapsed, "(fwd)" and WSP trailers, "re:"/"fw:"/"fwd:" leaders with "[blob]"s,
 *   "[fwd: ...]" wrappers); `reply` says whether a leader, "(fwd)" trailer or "[fwd:"
 *   wrapper was removed (THREAD=REFERENCES step 5, as Dovecot counts it).
 * - Addresses: the addr-mailbox of the first address of From, To, Cc (RFC 5256 §3),
 *   group markers skipped; the display name (RFC 2047 decoded) or else mailbox@host
 *   for DISPLAYFROM/DISPLAYTO (RFC 5957 §3.1).
 * - The sent date is the Date header in UTC (RFC 5256 §2.2); `undefined` when absent or
 *   unparsable, and the store then uses the INTERNALDATE.
 * - Message-IDs (RFC 5256 §3 REFERENCES step 1): the first msg-id of Message-ID; the
 *   parents are the msg-ids of References, or the first of In-Reply-To when References
 *   has none.
 */
import { parseAddressList } from '../imap/mime/address.js';
import { nolf, parseHeaderBlock, type HeaderField } from '../imap/mime/header.js';
import { headerText, sentDate } from '../imap/mime/search.js';
import type { Address, Envelope } from '../imap/mime/types.js';

export interface SortKeys {
  /** Sent date (ms UTC), undefined when the Date header is absent or unparsable. */
  sent?: number;
  subject: string;
  reply: boolean;
  from: string;
  to: string;
  cc: string;
  displayFrom: string;
  displayTo: string;
  messageId: string | null;
  /** The parent chain, oldest first (References, else the first In-Reply-To id). */
  refs: string[];
}

/** The keys of a stored row: the sent date resolved, and what ARRIVAL and SIZE sort on. */
export interface StoredSortKeys extends Omit<SortKeys, 'sent'> {
  uid: number;
  sent: number;
  arrival: number;
  size: number;
}

/** What THREAD reads (RFC 5256 §3: ids, parents, base subject, sent date; ties by UID). */
export type ThreadKeys = Pick<StoredSortKeys, 'uid' | 'sent' | 'subject' | 'reply' | 'messageId' | 'refs'>;

/** Header bytes looked at: a header longer than this is cut (its later fields ignored). */
export const SORT_HEADER_MAX = 256 * 1024;

export function sortKeysOf(header: Buffer): SortKeys {
  const fields = parseHeaderBlock(header.length > SORT_HEADER_MAX ? header.subarray(0, SORT_HEADER_MAX) : header);
  const { env, subj, references } = keyFields(fields);
  const from = firstAddress(env.from);
  const to = firstAddress(env.to);
  const { subject, reply } = baseSubject(subj === undefined ? '' : headerText(subj));
  let refs = references !== undefined ? msgIds(references) : [];
  if (refs.length === 0 && env.inReplyTo !== null) refs = msgIds(env.inReplyTo).slice(0, 1);
  const sent = sentDate(env)?.getTime();
  return {
    ...(sent !== undefined && Number.isFinite(sent) ? { sent } : {}),
    subject: casemap(subject),
    reply,
    from: casemap(mailboxOf(from)),
    to: casemap(mailboxOf(to)),
    cc: casemap(mailboxOf(firstAddress(env.cc))),
    displayFrom: casemap(displayOf(from)),
    displayTo: casemap(displayOf(to)),
    messageId: env.messageId === null ? null : (msgIds(env.messageId)[0] ?? null),
    refs,
  };
}

/**
 * The fields the keys come from, in one pass over the header (the analyzer's
 * envelopeFromFields looks up each of ten names in turn): as the ENVELOPE has them, the
 * last Date, In-Reply-To and Message-ID without line breaks and the addresses of every
 * From, To and Cc field in order (Dovecot); the first Subject and References.
 */
function keyFields(fields: readonly HeaderField[]): { env: Pick<Envelope, 'date' | 'from' | 'to' | 'cc' | 'inReplyTo' | 'messageId'>; subj?: string; references?: string } {
  const env: Pick<Envelope, 'date' | 'from' | 'to' | 'cc' | 'inReplyTo' | 'messageId'> = { date: null, from: null, to: null, cc: null, inReplyTo: null, messageId: null };
  let subj: string | undefined;
  let references: string | undefined;
  const add = (to: Address[] | null, value: string): Address[] | null => {
    const list = parseAddressList(value);
    return list ? (to ? to.concat(list) : list) : to;
  };
  for (const f of fields) {
    if (!f.hasColon) continue;
    switch (f.name.toLowerCase()) {
      case 'date':
        env.date = nolf(f.value);
        break;
      case 'in-reply-to':
        env.inReplyTo = nolf(f.value);
        break;
      case 'message-id':
        env.messageId = nolf(f.value);
        break;
      case 'from':
        env.from = add(env.from, f.value);
        break;
      case 'to':
        env.to = add(env.to, f.value);
        break;
      case 'cc':
        env.cc = add(env.cc, f.value);
        break;
      case 'subject':
        subj ??= f.value;
        break;
      case 'references':
        references ??= f.value;
        break;
    }
  }
  return { env, ...(subj !== undefined ? { subj } : {}), ...(references !== undefined ? { references } : {}) };
}

/** The header block of a message's first bytes (through the blank line, or all of them). */
export function headerOf(head: Buffer): Buffer {
  const crlf = head.indexOf('\r\n\r\n');
  const lf = head.indexOf('\n\n');
  const ends = [crlf < 0 ? -1 : crlf + 4, lf < 0 ? -1 : lf + 2].filter((x) => x >= 0);
  return ends.length === 0 ? head : head.subarray(0, Math.min(...ends));
}

function firstAddress(list: Address[] | null): Address | undefined {
  // The first address of the ENVELOPE list: a group's start marker too (RFC 3501 §7.4.2:
  // its addr-mailbox is the group name), as Dovecot sorts "undisclosed-recipients:;".
  return list?.[0];
}

function mailboxOf(a: Address | undefined): string {
  return a?.mailbox ? headerText(a.mailbox) : '';
}

/** RFC 5957 §3.1: the display name when non-empty, else the addr-spec. */
function displayOf(a: Address | undefined): string {
  if (!a) return '';
  const name = a.name ? headerText(a.name).trim() : '';
  if (name !== '') return name;
  return a.mailbox ? `${headerText(a.mailbox)}@${a.host ? headerText(a.host) : ''}` : '';
}

/** The msg-ids of a field value (RFC 5322 §3.6.4), without their angle brackets. */
export function msgIds(value: string): string[] {
  const out: string[] = [];
  for (const m of value.replace(/\([^()]*\)/g, ' ').matchAll(/<([^<>\s]*@[^<>\s]*)>/g)) out.push(m[1]!);
  return out;
}

// ------------------------------------------------------------------ base subject

const LEADER_BLOB = /^\[[^[\]]*\][ ]*/;
const REFWD = /^(?:re|fwd?)[ ]*(?:\[[^[\]]*\][ ]*)?:/i;

/** RFC 5256 §2.1: the base subject and whether it was a reply or forward. */
export function baseSubject(decoded: string): { subject: string; reply: boolean } {
  // (1) RFC 2047 words are decoded by the caller; tabs and line breaks become spaces, runs of spaces one.
  let s = decoded.replace(/[\t\r\n]/g, ' ').replace(/ {2,}/g, ' ');
  let reply = false;
  for (;;) {
    // (2) subj-trailer = "(fwd)" / WSP, repeatedly
    for (;;) {
      if (s.endsWith(' ')) s = s.slice(0, -1);
      else if (s.toLowerCase().endsWith('(fwd)')) {
        s = s.slice(0, -5);
        reply = true;
      } else break;
    }
    // (5) repeat (3) and (4) until nothing changes
    for (let changed = true; changed; ) {
      changed = false;
      // (3) subj-leader = (*subj-blob subj-refwd) / WSP
      for (;;) {
        if (s.startsWith(' ')) {
          s = s.slice(1);
          changed = true;
          continue;
        }
        let rest = s;
        let m: RegExpExecArray | null;
        while ((m = LEADER_BLOB.exec(rest))) rest = rest.slice(m[0].length);
        const r = REFWD.exec(rest);
        if (!r) break;
        s = rest.slice(r[0].length);
        reply = changed = true;
      }
      // (4) a leading subj-blob, when what is left is a non-empty subj-base
      const b = LEADER_BLOB.exec(s);
      if (b && s.length > b[0].length && !/^[ ]*$/.test(s.slice(b[0].length))) {
        s = s.slice(b[0].length);
        changed = true;
      }
    }
    // (6) "[fwd:" ... "]": unwrap and start again from (2)
    if (s.length >= 6 && s.slice(0, 5).toLowerCase() === '[fwd:' && s.endsWith(']')) {
      s = s.slice(5, -1);
      reply = true;
      continue;
    }
    return { subject: s, reply };
  }
}

// ------------------------------------------------------------------ i;unicode-casemap

const folded = new Map<number, string>();

/** The collation key of i;unicode-casemap (RFC 5051 §2) for one string. */
export function casemap(s: string): string {
  if (/^[\x20-\x60\x7b-\x7e]*$/.test(s)) return s; // ASCII without lower case: itself
  let out = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (cp < 0x80) {
      out += cp >= 0x61 && cp <= 0x7a ? String.fromCharCode(cp - 32) : ch;
      continue;
    }
    let f = folded.get(cp);
    if (f === undefined) {
      f = foldChar(cp);
      if (folded.size < 65_536) folded.set(cp, f);
    }
    out += f;
  }
  return out;
}

/** Simple titlecase mapping (UnicodeData field 14), then the character's full decomposition. */
function foldChar(cp: number): string {
  const t = titlecase(cp);
  // Hangul syllables have no decomposition mapping in UnicodeData (RFC 5051 uses that table).
  if (t >= 0xac00 && t <= 0xd7a3) return String.fromCodePoint(t);
  return String.fromCodePoint(t).normalize('NFKD');
}

function titlecase(cp: number): number {
  // The digraphs whose titlecase differs from their upper case (UnicodeData).
  if (cp >= 0x1c4 && cp <= 0x1cc) return cp - ((cp - 0x1c4) % 3) + 1;
  if (cp >= 0x1f1 && cp <= 0x1f3) return 0x1f2;
  // Greek with ypogegrammeni: simple titlecase is the prosgegrammeni form.
  if (cp >= 0x1f80 && cp <= 0x1faf) return cp | 0x8;
  if (cp === 0x1fb3) return 0x1fbc;
  if (cp === 0x1fc3) return 0x1fcc;
  if (cp === 0x1ff3) return 0x1ffc;
  const up = String.fromCodePoint(cp).toUpperCase();
  // More than one character: a full mapping only (ß → SS); the simple mapping keeps it.
  const first = up.codePointAt(0)!;
  return up.length === String.fromCodePoint(first).length ? first : cp;
}

// ------------------------------------------------------------------ the reference order

export type SortKeyName = 'arrival' | 'cc' | 'date' | 'from' | 'size' | 'subject' | 'to' | 'displayfrom' | 'displayto';

export interface SortCriterion {
  key: SortKeyName;
  reverse: boolean;
}

/** The stored-row field each sort key compares. */
export const KEY_FIELD: Record<SortKeyName, keyof StoredSortKeys> = {
  arrival: 'arrival',
  cc: 'cc',
  date: 'sent',
  from: 'from',
  size: 'size',
  subject: 'subject',
  to: 'to',
  displayfrom: 'displayFrom',
  displayto: 'displayTo',
};

/** Code point order (i;octet over UTF-8), not UTF-16 unit order. */
export function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // A surrogate (a code point above U+FFFF) sorts after every BMP character.
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

/** RFC 5256 §3: by each criterion in turn, ties by sequence (= UID) order, ascending. */
export function compareKeys(by: readonly SortCriterion[]): (a: StoredSortKeys, b: StoredSortKeys) => number {
  return (a, b) => {
    for (const c of by) {
      const f = KEY_FIELD[c.key];
      const x = a[f] as string | number;
      const y = b[f] as string | number;
      const d = typeof x === 'number' ? x - (y as number) : compareCodePoints(x, y as string);
      if (d !== 0) return c.reverse ? -d : d;
    }
    return a.uid - b.uid;
  };
}
