/**
 * Address normalisation: the one rule, applied once at every boundary (CLI input,
 * SMTP envelope, login name) so the database only ever holds canonical forms.
 *
 * - The domain is lower-cased and IDNs are converted to punycode (A-labels) with
 *   WHATWG `domainToASCII` (UTS #46), so `Bücher.Example` and `xn--bcher-kva.example`
 *   are the same domain. A trailing dot is removed.
 * - The local part is compared case-insensitively (RFC 5321 §2.4 allows a server to
 *   treat it case-sensitively; every common server, and every user, expects otherwise):
 *   it is Unicode-NFC-normalised and lower-cased. Quoted local parts are unquoted when
 *   the quotes are not needed.
 * - Plus-addressing: `user+tag@domain` delivers to `user@domain` when no address
 *   `user+tag@domain` exists itself. `subaddressBase()` gives the base.
 */
import { domainToASCII } from 'node:url';

export interface ParsedAddress {
  local: string;
  domain: string;
  /** `local@domain` in canonical form. */
  address: string;
}

export class AddressError extends Error {}

const DOT_ATOM = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\uffff-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\uffff-]+)*$/u;

/** Canonical form of a domain name, or throws AddressError. */
export function normalizeDomain(input: string): string {
  let d = input.trim();
  if (d.endsWith('.')) d = d.slice(0, -1);
  if (!d || d.length > 253) throw new AddressError(`invalid domain "${input}"`);
  if (d.startsWith('[')) throw new AddressError(`address literals are not accepted as domains: "${input}"`);
  const ascii = domainToASCII(d.toLowerCase());
  if (!ascii) throw new AddressError(`invalid domain "${input}"`);
  const labels = ascii.split('.');
  if (labels.length < 1 || labels.some((l) => !/^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/.test(l))) {
    throw new AddressError(`invalid domain "${input}"`);
  }
  return ascii;
}

/** Canonical form of a local part, or throws AddressError. */
export function normalizeLocal(input: string): string {
  let local = input;
  if (local.startsWith('"') && local.endsWith('"') && local.length >= 2) {
    local = local.slice(1, -1).replace(/\\(.)/g, '$1');
  }
  local = local.normalize('NFC').toLowerCase();
  if (!local || Buffer.byteLength(local) > 64) throw new AddressError(`invalid local part "${input}"`);
  if (/[\x00-\x1f\x7f\s"\\@]/.test(local) || !DOT_ATOM.test(local)) {
    throw new AddressError(`invalid local part "${input}"`);
  }
  return local;
}

/**
 * Recent results of parseAddress (a pure function): the SMTP path parses the same few
 * envelope addresses several times per message, and IDNA conversion is not free.
 * Cleared when full; errors are not kept.
 */
const parsed = new Map<string, ParsedAddress>();
const PARSED_MAX = 1000;

/** Parses and normalises `local@domain`. Throws AddressError with a clear reason. */
export function parseAddress(input: string): ParsedAddress {
  const hit = parsed.get(input);
  if (hit) return { ...hit };
  const r = parseAddressUncached(input);
  if (parsed.size >= PARSED_MAX) parsed.clear();
  parsed.set(input, r);
  return { ...r };
}

function parseAddressUncached(input: string): ParsedAddress {
  const s = input.trim().replace(/^<(.*)>$/, '$1');
  const at = s.lastIndexOf('@');
  if (at <= 0 || at === s.length - 1) throw new AddressError(`invalid address "${input}"`);
  const rawLocal = s.slice(0, at);
  // Source routes ("@a,@b:user@c") and percent-hack relaying ("user%other@local") are
  // never valid local mailboxes here (RFC 5321 §3.6.1, §F.2, RFC 2505 §2.4).
  if (rawLocal.includes('%') || rawLocal.includes(':') || rawLocal.includes('!') || rawLocal.startsWith('@')) {
    throw new AddressError(`invalid address "${input}"`);
  }
  const local = normalizeLocal(rawLocal);
  const domain = normalizeDomain(s.slice(at + 1));
  return { local, domain, address: `${local}@${domain}` };
}

/** `user+tag` → `user`; undefined when there is no tag. */
export function subaddressBase(local: string): string | undefined {
  const plus = local.indexOf('+');
  if (plus <= 0) return undefined;
  return local.slice(0, plus);
}

/** Shape of a catch-all alias key: `@domain`. */
export function catchAllKey(domain: string): string {
  return `@${domain}`;
}
