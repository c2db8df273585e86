/**
 * IMAP wire text of ENVELOPE, BODY and BODYSTRUCTURE (RFC 3501 §7.4.2, RFC 9051 §7.5.2),
 * byte for byte as Dovecot 2.3 writes them (lib-imap imap-envelope.c,
 * imap-bodystructure.c, imap-quote.c):
 *
 * - strings are quoted, or sent as literals when they contain CR, LF, 8-bit bytes or
 *   more than four quoted-specials (RFC 3501 §4.3: a quoted string cannot hold 8-bit);
 * - the subject and address display names are "for humans": runs of whitespace become
 *   one space, leading/trailing whitespace and line breaks are dropped, and whenever
 *   anything had to change (or quotes/backslashes/8-bit are present) a literal is used;
 * - text/* parts without a charset parameter get ("charset" "us-ascii") appended
 *   (RFC 2045 §5.2 default);
 * - BODYSTRUCTURE adds the extension data: MD5, disposition, language, location
 *   (RFC 3501 §7.4.2 body-ext-1part / body-ext-mpart).
 *
 * The output is a Buffer because literals count bytes and header strings may hold any
 * 8-bit bytes (see types.ts on binary strings).
 */
import type { Address, BodyPart, Envelope } from './types.js';

/** Dovecot switches from a quoted string to a literal after this many escapes. */
const QUOTED_MAX_ESCAPE_CHARS = 4;

/** RFC 3501 §4.5: NIL, or a quoted string, or a literal. */
export function nstring(s: string | null): string {
  if (s === null) return 'NIL';
  let escapes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22 || c === 0x5c) {
      if (escapes++ < QUOTED_MAX_ESCAPE_CHARS) continue;
      return literal(s);
    }
    if (c === 13 || c === 10 || c >= 0x80) return literal(s);
  }
  return '"' + s.replace(/[\\"]/g, (m) => '\\' + m) + '"';
}

function literal(s: string): string {
  return `{${s.length}}\r\n${s}`;
}

/** Dovecot's imap_append_string_for_humans (subject, display names). */
export function humanString(s: string): string {
  let modify = false;
  let lastLwsp = true;
  let whitespacePrefix = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    switch (c) {
      case 0:
        lastLwsp = false;
        modify = true;
        break;
      case 0x09:
      case 0x20:
        if (c === 0x09) modify = true;
        if (lastLwsp) modify = true;
        lastLwsp = true;
        break;
      case 13:
      case 10:
        modify = true;
        break;
      case 0x22:
      case 0x5c:
        modify = true;
        lastLwsp = false;
        break;
      default:
        if (c >= 0x80) modify = true;
        lastLwsp = false;
    }
    if (!lastLwsp) whitespacePrefix = false;
  }
  if (lastLwsp && s.length > 0 && !whitespacePrefix) modify = true;
  if (!modify) return '"' + s + '"';
  let out = '';
  lastLwsp = true;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    const c = s.charCodeAt(i);
    if (c === 0) {
      out += '\x80';
      lastLwsp = false;
    } else if (c === 0x09 || c === 0x20) {
      if (!lastLwsp) out += ' ';
      lastLwsp = true;
    } else if (c === 13 || c === 10) {
      // dropped
    } else {
      out += ch;
      lastLwsp = false;
    }
  }
  if (out.endsWith(' ')) out = out.slice(0, -1);
  if (out === '') return '""';
  return literal(out);
}

function addressList(list: Address[] | null): string {
  if (list === null || list.length === 0) return 'NIL';
  let out = '(';
  for (const a of list) {
    out += '(' + (a.name === null ? 'NIL' : humanString(a.name)) + ' ' + nstring(a.route) + ' ' + nstring(a.mailbox) + ' ' + nstring(a.host) + ')';
  }
  return out + ')';
}

function envelopeText(env: Envelope): string {
  // RFC 3501 §7.4.2: sender and reply-to default to from
  return (
    '(' +
    [
      nstring(env.date),
      env.subject === null ? 'NIL' : humanString(env.subject),
      addressList(env.from),
      addressList(env.sender ?? env.from),
      addressList(env.replyTo ?? env.from),
      addressList(env.to),
      addressList(env.cc),
      addressList(env.bcc),
      nstring(env.inReplyTo),
      nstring(env.messageId),
    ].join(' ') +
    ')'
  );
}

/** `(date subject from sender reply-to to cc bcc in-reply-to message-id)` */
export function envelopeToImap(env: Envelope): Buffer {
  return Buffer.from(envelopeText(env), 'latin1');
}

function paramList(params: string[] | null, text: boolean): string {
  const list = params ? [...params] : [];
  if (text) {
    let hasCharset = false;
    for (let i = 0; i < list.length; i += 2) if (list[i].toLowerCase() === 'charset') hasCharset = true;
    if (!hasCharset) list.push('charset', 'us-ascii'); // RFC 2045 §5.2
  }
  if (list.length === 0) return 'NIL';
  return '(' + list.map(nstring).join(' ') + ')';
}

function dispositionText(d: BodyPart['disposition']): string {
  if (d === null) return 'NIL';
  return '(' + nstring(d.type) + ' ' + paramList(d.params, false) + ')';
}

function languageText(l: string[] | null): string {
  if (l === null || l.length === 0) return 'NIL';
  return '(' + l.map(nstring).join(' ') + ')';
}

function bodyText(p: BodyPart, extended: boolean): string {
  if (p.parts) {
    // body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
    let out = '(' + p.parts.map((c) => bodyText(c, extended)).join('') + ' ' + nstring(p.subtype);
    if (extended) {
      out += ' ' + paramList(p.params, false) + ' ' + dispositionText(p.disposition) + ' ' + languageText(p.language) + ' ' + nstring(p.location);
    }
    return out + ')';
  }
  const isText = p.type.toLowerCase() === 'text';
  // body-fields = body-fld-param SP body-fld-id SP body-fld-desc SP body-fld-enc SP body-fld-octets
  // Dovecot writes an encapsulated message's type in lower case
  let out =
    '(' +
    (p.message ? '"message" "rfc822"' : nstring(p.type) + ' ' + nstring(p.subtype)) +
    ' ' +
    paramList(p.params, isText) +
    ' ' +
    nstring(p.id) +
    ' ' +
    nstring(p.description) +
    ' ' +
    nstring(p.encoding ?? '7bit') +
    ' ' +
    p.bodySize;
  if (p.message) {
    // body-type-msg = media-message SP body-fields SP envelope SP body SP body-fld-lines
    out += ' ' + envelopeText(p.message.envelope) + ' ' + bodyText(p.message.body, extended) + ' ' + p.lines;
  } else if (isText) {
    out += ' ' + p.lines; // body-type-text
  }
  if (extended) {
    // body-ext-1part = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc]]]
    out += ' ' + nstring(p.md5) + ' ' + dispositionText(p.disposition) + ' ' + languageText(p.language) + ' ' + nstring(p.location);
  }
  return out + ')';
}

/**
 * Dovecot's message_part_data_is_plain_7bit(): a top-level text/plain part with no other
 * parameter than charset=us-ascii, 7bit, and no other Content-* data is written in the
 * default form ("text" "plain" ("charset" "us-ascii") ... "7bit"), whatever its case,
 * in BODYSTRUCTURE only (BODY keeps the case as written).
 */
function isPlain7bit(p: BodyPart): boolean {
  if (p.parts || p.message || p.type.toLowerCase() !== 'text' || p.subtype.toLowerCase() !== 'plain') return false;
  if (p.params && (p.params.length !== 2 || p.params[0].toLowerCase() !== 'charset' || p.params[1].toLowerCase() !== 'us-ascii')) return false;
  if (p.id !== null || p.description !== null) return false;
  if (p.encoding !== null && p.encoding.toLowerCase() !== '7bit') return false;
  return p.md5 === null && p.disposition === null && p.language === null && p.location === null;
}

/** BODY (extended = false) or BODYSTRUCTURE (extended = true). */
export function bodyStructureToImap(bs: BodyPart, extended: boolean): Buffer {
  if (extended && isPlain7bit(bs)) {
    const plain: BodyPart = { ...bs, type: 'text', subtype: 'plain', params: null, encoding: null };
    return Buffer.from(bodyText(plain, extended), 'latin1');
  }
  return Buffer.from(bodyText(bs, extended), 'latin1');
}
