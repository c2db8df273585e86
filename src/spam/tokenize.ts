/**
 * Tokens of a message for the classifier (SpamBayes' tokenizer idea): the set of
 * distinct features it shows, each counted once per message.
 *
 * - Body words from the text and HTML parts, lower-case, split on white space with the
 *   surrounding punctuation trimmed; words of 3 to 12 characters as they are, longer ones
 *   as "skip:<first char> <length rounded to 10>" (SpamBayes), shorter ones ignored.
 * - Scripts written without spaces between words (Han, Hiragana, Katakana, Hangul, Thai,
 *   Lao, Khmer, Myanmar) become overlapping character bigrams, as search engines index
 *   CJK text (Lucene's CJKBigramFilter); a lone character is a unigram.
 * - Header features with a prefix: subject words, From domain/local part/name words,
 *   number of To/Cc recipients, Reply-To domain, Message-ID domain, Content-Type,
 *   charsets, transfer encodings, mailer, List-Id, Precedence, foreign Received hosts
 *   and IP prefixes, and the presence of every header name.
 * - URLs (host, registered-looking domain, scheme, IP hosts, user info) and mail
 *   addresses in the text; HTML tag names and comments; attachment types and extensions.
 *
 * Our own trace fields (Return-Path, Received-SPF, our Authentication-Results and
 * Received, X-Spam-*) are skipped, so a message tokenises the same before delivery (when
 * it is scored) and after (when the user's moves train on it).
 */
import { headerText } from '../imap/mime/index.js';
import type { HeaderField } from '../imap/mime/header.js';
import { htmlToText } from './html.js';
import type { MessageText } from './text.js';
import { prefixOf, TokenSet, type Prefix } from './token-set.js';

/** Distinct tokens kept per message. */
export const MAX_TOKENS = 8192;

/** Code units of scripts tokenised as character bigrams (one at a time: isBigramScript). */
export const BIGRAM_SCRIPT = /[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f]/;
const BIGRAM_RUNS = /([\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f]+)|([^\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f]+)/g;
/**
 * Word separators: white space, including no-break and ideographic spaces, and
 * CJK/fullwidth punctuation (words() tests them one code unit at a time: isSplit).
 */
export const SPLIT = /[\s\u00a0\u2000-\u200b\u3000-\u303f\uff01-\uff0f\uff1a-\uff20]+/;
/** Punctuation trimmed from the start and the end of a word. */
const LEAD = asciiSet('"\'(<[{*`|~');
const TRAIL = asciiSet('"\')>]}.,;:*`|~');
const URL_RE = /\b(?:https?|ftp):\/\/[^\s<>"'()]{1,512}/gi;
/** The domain of a mail address, right after its "@". */
const EMAIL_DOMAIN = /[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63}){1,8}/iy;

/** Header names never tokenised: our own trace and verdict fields, delivery artefacts. */
const SKIP_HEADER = /^(return-path|delivered-to|x-spam-.*|x-rspamd-.*|x-original-to|envelope-to)$/;

type Tokens = TokenSet;

export interface TokenizeOptions {
  /** This server's hostname: its own Received and Authentication-Results fields are skipped. */
  hostname?: string;
}

/** The distinct tokens of a message. */
export function tokenize(m: MessageText, opts: TokenizeOptions = {}): TokenSet {
  const t = new TokenSet(MAX_TOKENS);
  headerTokens(m.fields, t, opts.hostname?.toLowerCase());
  for (const cs of m.charsets) t.add(`charset:${cs.slice(0, 30)}`);
  for (const e of m.encodings) t.add(`cte:${e.slice(0, 30)}`);
  for (const a of m.attachments) {
    t.add(`attach:${a.type.slice(0, 60)}`);
    if (a.ext) t.add(`attach-ext:${a.ext}`);
  }
  for (const text of m.plain) bodyTokens(text, t);
  for (const html of m.html) {
    const h = htmlToText(html);
    for (const tag of h.tags) t.add(`html:${tag}`);
    if (h.comments) t.add('html:comments');
    for (const u of h.urls) urlTokens(u, t);
    bodyTokens(h.text, t);
  }
  if (m.html.length > 0 && m.plain.length === 0) t.add('html:only');
  return t;
}

// ---- body -------------------------------------------------------------------------------

function bodyTokens(text: string, t: Tokens): void {
  if (text.includes('://')) {
    for (const m of text.matchAll(URL_RE)) urlTokens(m[0], t);
  }
  // Mail addresses: from each "@" (a regex scanning for the local part first backtracks at every letter).
  for (let at = text.indexOf('@'); at >= 0 && !t.full; at = text.indexOf('@', at + 1)) {
    if (at === 0 || !/[\w.+-]/.test(text[at - 1]!)) continue;
    EMAIL_DOMAIN.lastIndex = at + 1;
    const d = EMAIL_DOMAIN.exec(text);
    if (d) t.add(`email:${d[0].toLowerCase()}`);
  }
  words(text, BODY, t);
}

const BODY = prefixOf('');
const SUBJECT = prefixOf('subject:');
const FROM_NAME = prefixOf('from:name:');

/**
 * Words of a text with a prefix ('' for the body, 'subject:' …). An ASCII word is hashed
 * where it lies (TokenSet.addSpan), without its string; others are made into one.
 */
export function words(text: string, prefix: Prefix, t: Tokens): void {
  // Most text has no bigram script at all: one test of the whole, not one per word.
  const anyBigrams = BIGRAM_SCRIPT.test(text);
  const n = text.length;
  // One pass over the code units, chunk by chunk (what SPLIT separates), without an array of
  // the chunks: noting the "@", "://", non-ASCII and bigram-script characters the chunk holds.
  for (let i = 0; i < n; ) {
    if (t.full) return;
    if (isSplit(text.charCodeAt(i))) {
      i++;
      continue;
    }
    const start = i;
    let at = false;
    let url = false;
    let bigrams = false;
    // Non-ASCII: the word needs toLowerCase(), which may change its length.
    let wide = false;
    for (; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c < 0x80) {
        if (c <= 32 && (c === 32 || (c >= 9 && c <= 13))) break;
        if (c === 64) at = true;
        else if (c === 58 && text.charCodeAt(i + 1) === 47 && text.charCodeAt(i + 2) === 47) url = true;
      } else if (isSplitAbove127(c)) break;
      else {
        wide = true;
        if (anyBigrams && !bigrams && isBigramScript(c)) bigrams = true;
      }
    }
    const len = i - start;
    if (len < 3 && !bigrams) continue;
    if (url || (at && len > 5)) continue; // URLs and addresses: above
    let a = start;
    let b = i;
    while (a < b && LEAD[text.charCodeAt(a)] === 1) a++;
    while (b > a && TRAIL[text.charCodeAt(b - 1)] === 1) b--;
    if (a === b) continue;
    if (!wide) asciiWord(text, a, b, prefix, t);
    else if (bigrams) mixed(text.slice(a, b).toLowerCase(), prefix.text, t);
    else word(text.slice(a, b).toLowerCase(), prefix.text, t);
  }
}

/** word() of the ASCII text[a, b), lower-cased, without its string (but for a long one's skip token). */
function asciiWord(text: string, a: number, b: number, prefix: Prefix, t: Tokens): void {
  const n = b - a;
  if (n < 3) return;
  if (n <= 12) t.addSpan(text, a, b, prefix);
  else t.add(`${prefix.text}skip:${text[a]!.toLowerCase()} ${Math.min(100, Math.round(n / 10) * 10)}`);
}

/** ASCII characters as a table by code (1: in the set); other codes read undefined. */
function asciiSet(chars: string): Uint8Array {
  const t = new Uint8Array(128);
  for (const ch of chars) t[ch.charCodeAt(0)] = 1;
  return t;
}

/** What SPLIT matches, by code unit: JavaScript's white space (\s) and the CJK/fullwidth punctuation. */
export function isSplit(c: number): boolean {
  return c < 0x80 ? c === 32 || (c >= 9 && c <= 13) : isSplitAbove127(c);
}

function isSplitAbove127(c: number): boolean {
  if (c < 0x2000) return c === 0xa0 || c === 0x1680;
  if (c <= 0x205f) return c <= 0x200b || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f;
  if (c < 0xfeff) return c >= 0x3000 && c <= 0x303f;
  return c === 0xfeff || (c >= 0xff01 && c <= 0xff0f) || (c >= 0xff1a && c <= 0xff20);
}

/** What BIGRAM_SCRIPT matches, by code unit. */
export function isBigramScript(c: number): boolean {
  if (c < 0x3040) return (c >= 0x0e00 && c <= 0x0eff) || (c >= 0x1000 && c <= 0x109f) || (c >= 0x1780 && c <= 0x17ff);
  if (c < 0xa960) return c <= 0x30ff || (c >= 0x3400 && c <= 0x4dbf) || (c >= 0x4e00 && c <= 0x9fff);
  return c <= 0xa97f || (c >= 0xac00 && c <= 0xd7af) || (c >= 0xf900 && c <= 0xfaff) || (c >= 0xff66 && c <= 0xff9f);
}

export function word(w: string, prefix: string, t: { add(s: string): void }): void {
  const n = w.length;
  if (n < 3) return;
  if (n <= 12) t.add(prefix + w);
  // SpamBayes: a long word says little by itself; its first character and length do.
  else t.add(`${prefix}skip:${w[0]} ${Math.min(100, Math.round(n / 10) * 10)}`);
}

/** A chunk mixing a bigram script with others: bigrams for the one, words for the rest. */
export function mixed(w: string, prefix: string, t: { add(s: string): void }): void {
  for (const m of w.matchAll(BIGRAM_RUNS)) {
    const run = m[1];
    if (run === undefined) {
      word(m[2]!, prefix, t);
      continue;
    }
    const chars = Array.from(run);
    if (chars.length === 1) t.add(prefix + chars[0]);
    for (let i = 0; i + 1 < chars.length && i < 4096; i++) t.add(prefix + chars[i]! + chars[i + 1]!);
  }
}

function urlTokens(u: string, t: Tokens): void {
  const m = /^([a-z][a-z0-9+.-]{0,15}):\/\/([^/?#\s]*)/i.exec(u.trim());
  if (!m) return;
  t.add(`proto:${m[1]!.toLowerCase()}`);
  let host = m[2]!.toLowerCase();
  const at = host.lastIndexOf('@');
  if (at >= 0) {
    t.add('url:userinfo');
    host = host.slice(at + 1);
  }
  const colon = host.lastIndexOf(':');
  if (colon >= 0 && !host.endsWith(']')) {
    t.add('url:port');
    host = host.slice(0, colon);
  }
  if (!host) return;
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.startsWith('[')) {
    t.add('url:ip');
    return;
  }
  host = host.slice(0, 100);
  t.add(`url:${host}`);
  const labels = host.split('.');
  if (labels.length > 2) t.add(`url:${labels.slice(-2).join('.')}`);
}

// ---- header --------------------------------------------------------------------------

function headerTokens(fields: HeaderField[], t: Tokens, hostname: string | undefined): void {
  let leading = hostname !== undefined;
  let recipients = 0;
  let received = 0;
  let fromDomain: string | undefined;
  let replyDomain: string | undefined;
  for (const f of fields) {
    if (!f.hasColon) continue;
    const name = f.name.toLowerCase();
    if (leading) {
      // The block a delivery of ours prepends, up to and including our Received line.
      if (name === 'received-spf' || name === 'return-path' || name.startsWith('x-spam-')) continue;
      if (name === 'authentication-results' && f.value.trim().toLowerCase().startsWith(`${hostname};`)) continue;
      if (name === 'received' && byUs(hostname!).test(f.value)) {
        leading = false;
        continue;
      }
      leading = false;
    }
    if (SKIP_HEADER.test(name)) continue;
    t.add(`header:${name.slice(0, 40)}`);
    // A field's first 8 KB is plenty to tokenise; hostile ones can be a megabyte.
    const v = f.value.length > 8192 ? f.value.slice(0, 8192) : f.value;
    switch (name) {
      case 'subject':
        words(fieldText(v), SUBJECT, t);
        if (/!{2,}|\${2,}|\?{2,}/.test(v)) t.add('subject:punct');
        break;
      case 'from': {
        const a = addressParts(fieldText(v));
        fromDomain = a.domain;
        if (a.domain) t.add(`from:domain:${a.domain}`);
        if (a.local && a.local.length <= 20) t.add(`from:local:${a.local}`);
        if (a.name) words(a.name, FROM_NAME, t);
        else t.add('from:noname');
        break;
      }
      case 'to':
      case 'cc':
        recipients += v.split(',').filter((s) => s.includes('@')).length;
        break;
      case 'reply-to':
        replyDomain = addressParts(fieldText(v)).domain;
        if (replyDomain) t.add(`reply-to:domain:${replyDomain}`);
        break;
      case 'message-id': {
        const d = /@([^>\s@]+)>?\s*$/.exec(v.slice(0, 1000));
        t.add(d ? `message-id:@${d[1]!.toLowerCase().slice(0, 60)}` : 'message-id:invalid');
        break;
      }
      case 'content-type':
        t.add(`content-type:${v.split(';')[0]!.trim().toLowerCase().slice(0, 60)}`);
        break;
      case 'x-mailer':
      case 'user-agent': {
        const s = fieldText(v).toLowerCase().trim();
        t.add(`${name}:${s.slice(0, 40)}`);
        t.add(`${name}:${s.split(/[\s/(;]/)[0]!.slice(0, 30)}`);
        break;
      }
      case 'list-id':
      case 'precedence':
        t.add(`${name}:${v.trim().toLowerCase().slice(0, 60)}`);
        break;
      case 'received':
        if (++received <= 5) receivedTokens(v, t);
        break;
    }
  }
  t.add(`rcpts:${recipients === 0 ? 'none' : recipients === 1 ? '1' : recipients <= 5 ? 'few' : 'many'}`);
  if (replyDomain && fromDomain && replyDomain !== fromDomain) t.add('reply-to:differs');
}

/** "from host.example (rdns [192.0.2.1])": host domains and IP prefixes. */
function receivedTokens(v: string, t: Tokens): void {
  const from = /^\s*from\s+(\S+)/i.exec(v);
  if (from) {
    const host = from[1]!.toLowerCase().replace(/[()[\]]/g, '').slice(0, 100);
    const labels = host.split('.');
    if (labels.length >= 2 && !/^\d+$/.test(labels[labels.length - 1]!)) t.add(`received:${labels.slice(-2).join('.')}`);
  }
  const ip = /\[(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.\d{1,3}\]/.exec(v);
  if (ip) {
    t.add(`received:ip:${ip[1]}.${ip[2]}`);
    t.add(`received:ip:${ip[1]}.${ip[2]}.${ip[3]}`);
  }
}

/**
 * A field value (a binary string) as text: headerText (UTF-8 or latin1, RFC 2047
 * encoded-words decoded) for the few that need it; most are ASCII without encoded-words
 * and are only unfolded, without headerText's Buffer copy.
 */
export function fieldText(v: string): string {
  if (NEEDS_DECODING.test(v)) return headerText(v);
  return v.includes('\n') ? v.replace(/\r?\n/g, '') : v;
}
const NEEDS_DECODING = /[\x80-\xff]|=\?/;

/** Display name, local part and domain of the first address of a field (lower-case, bounded). */
export function addressParts(value: string): { name?: string; local?: string; domain?: string } {
  // Bounded: the patterns below rescan from every position of a run without "@".
  const v = value.slice(0, 2000);
  const angle = /<([^<>@\s]*)@([^<>\s]+)>/.exec(v);
  let local: string | undefined;
  let domain: string | undefined;
  let name: string | undefined;
  if (angle) {
    local = angle[1];
    domain = angle[2];
    name = v.slice(0, angle.index).replace(/["']/g, '').trim() || undefined;
  } else {
    const bare = /([^\s<>"(),;:]+)@([^\s<>"(),;:]+)/.exec(v);
    if (bare) {
      local = bare[1];
      domain = bare[2];
    }
    const comment = /\(([^)]*)\)/.exec(v);
    if (comment) name = comment[1]!.trim() || undefined;
  }
  return {
    name: name?.slice(0, 200),
    local: local?.toLowerCase().slice(0, 64),
    domain: domain?.toLowerCase().replace(/\.$/, '').slice(0, 100),
  };
}

const byUsCache = new Map<string, RegExp>();

/** Matches "by <our hostname>" in a Received field. */
export function byUs(hostname: string): RegExp {
  let re = byUsCache.get(hostname);
  if (!re) {
    re = new RegExp(`\\bby ${hostname.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\w.-])`, 'i');
    if (byUsCache.size > 16) byUsCache.clear();
    byUsCache.set(hostname, re);
  }
  return re;
}
