/**
 * CATENATE (RFC 4469): APPEND of a message made of TEXT literals and URLs to messages
 * (or parts of them) this user already has, so a client forwarding a large attachment
 * or saving a draft does not download and upload it again.
 *
 *   append-data-ext = "CATENATE" SP "(" cat-part *(SP cat-part) ")"   (RFC 4469 §5)
 *   cat-part        = text-literal / url
 *   text-literal    = "TEXT" SP literal
 *   url             = "URL" SP astring
 *
 * The URLs are IMAP URLs (RFC 5092) without URLAUTH, to this user's own messages:
 *   imap://[user@]host[:port]/mailbox[;UIDVALIDITY=n]/;UID=n[/;SECTION=s][/;PARTIAL=o[.l]]
 *   /mailbox[;UIDVALIDITY=n]/;UID=n...              (absolute path on this server)
 *   ;UID=n... or /;UID=n...                          (in the selected mailbox)
 * A URL naming another user, URLAUTH, a UIDVALIDITY that is not the mailbox's, a
 * missing message or section: NO [BADURL url] (RFC 4469 §5), nothing stored. The host
 * of an absolute URL is not checked: the client reaches this server by names we cannot
 * know, and what the URL may read is the logged-in user's own mail either way.
 */
import { StoreError, type AccountId, type MailStore, type MessageSource, type Uid } from '../store/types.js';
import { ImapNo } from './errors.js';
import { contentToBuffer, messageBytes, parseSection, sectionExists, sectionOf, type PartialRange, type SectionSpec } from './mime-adapter.js';
import type { Parser } from './wire/parser.js';
import type { Literal } from './wire/types.js';
import { readFile } from 'node:fs/promises';

export type CatPart = { kind: 'text'; literal: Literal } | { kind: 'url'; url: string };

/** After "CATENATE": "(" cat-part *(SP cat-part) ")". */
export function parseCatParts(p: Parser): CatPart[] {
  p.take('(');
  const parts: CatPart[] = [];
  do {
    if (p.tryTake('TEXT ')) parts.push({ kind: 'text', literal: p.literal() });
    else if (p.tryTake('URL ')) parts.push({ kind: 'url', url: p.astring() });
    else p.take('TEXT '); // the error names what was expected
  } while (p.trySp());
  p.take(')');
  return parts;
}

export interface ImapUrl {
  /** Absent: the selected mailbox. */
  mailbox?: string;
  uidValidity?: number;
  uid: Uid;
  section?: SectionSpec;
  partial?: PartialRange;
}

class BadUrl extends Error {}

/** RFC 5092 §6 (imessagepart) with the forms above; throws BadUrl. */
export function parseImapUrl(url: string, account: AccountId): ImapUrl {
  let rest = url;
  const abs = /^imap:\/\/(?:([^@/]*)@)?[^/]*(\/.*)$/i.exec(rest);
  if (abs) {
    const user = abs[1] === undefined ? undefined : decode(abs[1].replace(/;AUTH=.*$/i, ''));
    if (user !== undefined && user.toLowerCase() !== account.toLowerCase()) throw new BadUrl('another user');
    rest = abs[2]!;
  } else if (/^[a-z][a-z0-9+.-]*:/i.test(rest)) throw new BadUrl('not an IMAP URL');
  if (/;URLAUTH=|;EXPIRE=/i.test(rest)) throw new BadUrl('URLAUTH is not supported');
  const out: Partial<ImapUrl> = {};
  // The mailbox: up to ";UIDVALIDITY=" or "/;UID=" (a relative URL has none).
  const m = /^\/?([^;]*?)(?:;UIDVALIDITY=([1-9][0-9]*))?\/?;UID=([1-9][0-9]*)(.*)$/i.exec(rest);
  if (!m) throw new BadUrl('no UID');
  if (m[1]) out.mailbox = decode(m[1]);
  if (m[2]) out.uidValidity = number(m[2]);
  out.uid = number(m[3]!) as Uid;
  let tail = m[4]!;
  const sec = /^\/;SECTION=([^/]*)/i.exec(tail);
  if (sec) {
    try {
      out.section = parseSection(decode(sec[1]!).toUpperCase());
    } catch {
      throw new BadUrl('bad section');
    }
    tail = tail.slice(sec[0].length);
  }
  const par = /^\/;PARTIAL=([0-9]+)(?:\.([1-9][0-9]*))?/i.exec(tail);
  if (par) {
    out.partial = par[2] === undefined ? { origin: number(par[1]!) } : { origin: number(par[1]!), length: number(par[2]) };
    tail = tail.slice(par[0].length);
  }
  if (tail !== '') throw new BadUrl('trailing text');
  return out as ImapUrl;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new BadUrl('bad percent-encoding');
  }
}

function number(s: string): number {
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n > 0xffffffff) throw new BadUrl('number out of range');
  return n;
}

export interface CatContext {
  store: MailStore;
  account: AccountId;
  /** The selected mailbox, for URLs relative to it. */
  selected?: { name: string; uidValidity: number };
  /** APPENDLIMIT: the whole message may be no bigger. */
  limit: number;
}

/** The message the parts make, as bytes; NO [BADURL] / [TOOBIG] on failure. */
export async function catenate(ctx: CatContext, parts: CatPart[]): Promise<MessageSource> {
  const chunks: Buffer[] = [];
  let size = 0;
  for (const part of parts) {
    const b = part.kind === 'text' ? await literalBytes(part.literal) : await urlBytes(ctx, part.url);
    size += b.length;
    // RFC 4469 §5 / RFC 7889 §4: the result, not only each literal, is bounded.
    if (size > ctx.limit) throw new ImapNo(`Message too big (APPENDLIMIT ${ctx.limit})`, 'TOOBIG');
    chunks.push(b);
  }
  if (size === 0) throw new ImapNo('Empty message', 'CANNOT');
  return { data: Buffer.concat(chunks, size) };
}

function literalBytes(l: Literal): Promise<Buffer> {
  return l.kind === 'buffer' ? Promise.resolve(l.data) : readFile(l.path);
}

async function urlBytes(ctx: CatContext, url: string): Promise<Buffer> {
  // url-resp-text excludes "]" (RFC 4469 §5, erratum 2002): such a URL is echoed without it.
  const badUrl = (why: string) => new ImapNo(`${why}; CATENATE append failed`, `BADURL ${url.replace(/[\]\r\n]/g, '')}`);
  let u: ImapUrl;
  try {
    u = parseImapUrl(url, ctx.account);
  } catch (err) {
    if (err instanceof BadUrl) throw badUrl(`Invalid URL: ${err.message}`);
    throw err;
  }
  const name = u.mailbox ?? ctx.selected?.name;
  if (name === undefined) throw badUrl('A relative URL needs a selected mailbox');
  try {
    const box = await ctx.store.getMailbox(ctx.account, name);
    if (u.uidValidity !== undefined && u.uidValidity !== box.uidValidity) throw badUrl('UIDVALIDITY changed');
    const [meta] = await ctx.store.fetchMeta(ctx.account, box.id, { uids: [u.uid] });
    if (!meta) throw badUrl('No such message');
    const src = messageBytes(ctx.store, ctx.account, box.id, u.uid);
    const section = u.section ?? { part: [], text: '' };
    if (!(await sectionExists(meta, src, section))) throw badUrl('No such section');
    const content = await sectionOf(meta, src, section, u.partial);
    return await contentToBuffer(content);
  } catch (err) {
    if (err instanceof StoreError) throw badUrl(err.kind === 'nonexistent' ? 'No such mailbox' : 'Message not readable');
    if (err instanceof ImapNo) throw err;
    throw badUrl('Section not readable');
  }
}
