/**
 * Mailbox names: the rules every store applies (what a valid name is, its canonical
 * form, its parents, the mailboxes every account starts with), and their Maildir++
 * folder form, which is also what keeps every mailbox inside its account directory.
 *
 * API names use "/" as the hierarchy separator ("Archive/2024"). On disk, Maildir++
 * keeps every mailbox as one flat directory `.<seg>.<seg>…` directly under the account
 * root (INBOX is the root itself), so "." is the on-disk separator. Each segment is
 * encoded, in this order, so that the mapping is reversible and never produces "/",
 * "." or a control character inside a segment:
 *
 *   1. modified UTF-7 (RFC 3501 §5.1.3, as Dovecot's maildir++ layout stores names
 *      by default): non-ASCII → `&<base64 of UTF-16BE, "," for "/">-`, "&" → "&-";
 *   2. percent-escaping of "%" → "%25" and "." → "%2E" (Dovecot's
 *      `mailbox_list_escape_char = %` does the same for "."), so a segment may contain
 *      dots: "v1.2" is stored as ".v1%2E2".
 *
 *   "INBOX"            → ""  (the account root)
 *   "Sent"             → ".Sent"
 *   "Archive/2024"     → ".Archive.2024"
 *   "Entwürfe"         → ".Entw&APw-rfe"
 *   "a.b/c%d"          → ".a%2Eb.c%25d"
 *
 * Refused with StoreError('invalidName') (the name never reaches the filesystem):
 * empty names, leading or trailing "/", empty segments ("a//b"), "." and ".."
 * segments, NUL and other control characters (U+0000–U+001F, U+007F), lone UTF-16
 * surrogates, a leading "~", more than 512 UTF-8 bytes, more than 32 levels, and names
 * whose encoded folder would exceed 255 bytes (one directory entry).
 */
import { encodeUtf7 } from '../util/mutf7.js';
import { StoreError, type AccountId, type MailboxInfo, type MailStore, type SpecialUse } from './types.js';

export const MAX_NAME_BYTES = 512;
export const MAX_NAME_LEVELS = 32;
const MAX_FOLDER_BYTES = 255;

/**
 * Validates a mailbox name and returns its canonical form: "INBOX" is matched
 * case-insensitively as the first segment (RFC 9051 §5.1: "INBOX" is case-insensitive).
 */
export function canonicalName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0) throw invalid('empty mailbox name');
  if (Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES) throw invalid('mailbox name too long');
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) throw invalid('control character in mailbox name');
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = name.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) throw invalid('invalid UTF-16 in mailbox name');
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      throw invalid('invalid UTF-16 in mailbox name');
    }
  }
  if (name.startsWith('~')) throw invalid('mailbox name starts with "~"');
  if (name.startsWith('/') || name.endsWith('/')) throw invalid('leading or trailing "/" in mailbox name');
  const segs = name.split('/');
  if (segs.length > MAX_NAME_LEVELS) throw invalid('mailbox hierarchy too deep');
  for (const s of segs) {
    if (s === '') throw invalid('empty hierarchy level in mailbox name');
    if (s === '.' || s === '..') throw invalid('"." or ".." in mailbox name');
  }
  if (segs[0].toUpperCase() === 'INBOX') segs[0] = 'INBOX';
  const canon = segs.join('/');
  if (canon !== 'INBOX' && Buffer.byteLength(folderOf(canon), 'utf8') > MAX_FOLDER_BYTES) throw invalid('mailbox name too long');
  return canon;
}

function invalid(msg: string): StoreError {
  return new StoreError('invalidName', msg);
}

/** The Maildir++ folder (directory entry under the account root) of a canonical name; "" for INBOX. */
export function folderOf(canonical: string): string {
  if (canonical === 'INBOX') return '';
  return '.' + canonical.split('/').map(encodeSegment).join('.');
}

/** The mailbox name of a Maildir++ folder ("" → INBOX); undefined if it is not a folder name. */
export function nameOfFolder(folder: string): string | undefined {
  if (folder === '') return 'INBOX';
  if (!folder.startsWith('.') || folder === '.' || folder === '..') return undefined;
  const segs = folder.slice(1).split('.');
  if (segs.some((s) => s === '')) return undefined;
  try {
    return canonicalName(segs.map(decodeSegment).join('/'));
  } catch {
    return undefined;
  }
}

function encodeSegment(seg: string): string {
  return utf7Encode(seg).replace(/[%.]/g, (c) => (c === '%' ? '%25' : '%2E'));
}

function decodeSegment(seg: string): string {
  return utf7Decode(seg.replace(/%([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))));
}

/** Modified UTF-7 (RFC 3501 §5.1.3). */
export const utf7Encode = encodeUtf7;

/** Decodes modified UTF-7; text that is not valid mUTF-7 (e.g. raw UTF-8 names made by other tools) passes through. */
export function utf7Decode(s: string): string {
  return s.replace(/&([A-Za-z0-9+,]*)-/g, (_m, b64: string) => {
    if (b64 === '') return '&';
    const buf = Buffer.from(b64.replace(/,/g, '/'), 'base64');
    let r = '';
    for (let i = 0; i + 1 < buf.length; i += 2) r += String.fromCharCode(buf.readUInt16BE(i));
    return r;
  });
}

/** The parent names of a canonical name, outermost first ("a/b/c" → ["a", "a/b"]). */
export function parentsOf(canonical: string): string[] {
  const segs = canonical.split('/');
  const out: string[] = [];
  for (let i = 1; i < segs.length; i++) out.push(segs.slice(0, i).join('/'));
  return out;
}

/**
 * Checks an account id (`local@domain`) for use as two path segments
 * `<domain>/<local>`; refuses anything that could leave `<data>/maildir/`.
 */
export function accountSegments(account: string): { local: string; domain: string } {
  const at = typeof account === 'string' ? account.lastIndexOf('@') : -1;
  if (at <= 0 || at === account.length - 1) throw new StoreError('invalidName', 'invalid account id');
  const local = account.slice(0, at);
  const domain = account.slice(at + 1);
  for (const seg of [local, domain]) {
    if (seg === '.' || seg === '..' || seg.startsWith('.') || /[/\\\x00-\x1f\x7f]/.test(seg) || Buffer.byteLength(seg) > 255) {
      throw new StoreError('invalidName', 'invalid account id');
    }
  }
  return { local, domain };
}

/** The special-use mailboxes every account gets, besides INBOX (RFC 6154). */
export const SPECIAL_FOLDERS: ReadonlyArray<readonly [string, SpecialUse]> = [
  ['Drafts', '\\Drafts'],
  ['Sent', '\\Sent'],
  ['Junk', '\\Junk'],
  ['Trash', '\\Trash'],
  ['Archive', '\\Archive'],
];

/**
 * The account's Junk mailbox among `list`: the one marked \Junk (RFC 6154 §2), wherever
 * the user renamed it; without one, a mailbox named Junk or Spam.
 */
export function junkOf<M extends Pick<MailboxInfo, 'name' | 'specialUse'>>(list: readonly M[]): M | undefined {
  return list.find((m) => m.specialUse === '\\Junk') ?? list.find((m) => /^(junk|spam)$/i.test(m.name));
}

/** The name of the account's Junk mailbox (see junkOf), or "Junk" when it has none or the listing fails. */
export async function junkMailboxName(store: Pick<MailStore, 'listMailboxes'>, account: AccountId): Promise<string> {
  const list = await store.listMailboxes(account).catch(() => []);
  return junkOf(list)?.name ?? 'Junk';
}
