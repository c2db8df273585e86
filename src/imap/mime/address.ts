/**
 * The address-list parser of ENVELOPE (RFC 5322 §3.4, with RFC 822 obsolete forms:
 * routes, groups, comments as names), over header.ts's RFC 822 tokenizer. Behaviour
 * follows Dovecot 2.3 lib-mail message-address.c (the corpus in test/fixtures/mime was
 * recorded from it): values are kept raw (binary strings, encoded-words not decoded),
 * and missing address parts are filled with MISSING_MAILBOX / MISSING_DOMAIN.
 */
import { Rfc822Parser } from './header.js';
import type { Address } from './types.js';

const MISSING_MAILBOX = 'MISSING_MAILBOX';
const MISSING_DOMAIN = 'MISSING_DOMAIN';

/**
 * Parses an address list (RFC 5322 §3.4) into ENVELOPE addresses, groups included
 * (RFC 3501 §7.4.2: group start has a NIL host, group end is all NIL). Returns null for
 * an empty value.
 */
export function parseAddressList(value: string): Address[] | null {
  const p = new Rfc822Parser(value);
  const out: Address[] = [];
  if (!p.skipLwsp()) return null;
  for (;;) {
    parseAddress(p, out);
    p.skipLwsp();
    if (p.atEnd) break;
    // Dovecot: anything but a comma after an address ends the list
    if (p.peek() !== 0x2c) break;
    p.pos++;
    if (!p.skipLwsp()) break;
  }
  return out.length > 0 ? out : null;
}

function parseAddress(p: Rfc822Parser, out: Address[]): void {
  const start = p.pos;
  const name = p.phrase();
  p.skipLwsp();
  if (name !== null && p.peek() === 0x3a) {
    // RFC 5322 §3.4 group: display-name ":" [group-list] ";"
    p.pos++;
    out.push({ name: null, route: null, mailbox: name, host: null });
    for (;;) {
      if (!p.skipLwsp()) break;
      if (p.peek() === 0x3b) {
        p.pos++;
        break;
      }
      if (p.peek() === 0x2c) {
        p.pos++;
        continue;
      }
      const before = p.pos;
      parseMailbox(p, out);
      if (p.pos === before) p.pos++;
    }
    out.push({ name: null, route: null, mailbox: null, host: null });
    return;
  }
  p.pos = start;
  parseMailbox(p, out);
}

function parseMailbox(p: Rfc822Parser, out: Address[]): void {
  const start = p.pos;
  const addr = parseNameAddr(p) ?? (() => {
    p.pos = start;
    return parseAddrSpec(p);
  })();
  // Dovecot (fill_missing): never leave mailbox or domain empty
  if (addr.mailbox === null || addr.mailbox === '') addr.mailbox = MISSING_MAILBOX;
  if (addr.host === null || addr.host === '') addr.host = MISSING_DOMAIN;
  out.push(addr);
}

/** name-addr = [display-name] angle-addr; null when there is no "<". */
function parseNameAddr(p: Rfc822Parser): Address | null {
  let name = p.phrase();
  if (name === '') name = null; // "" <addr>
  p.skipLwsp();
  if (p.peek() !== 0x3c) return null;
  p.pos++;
  // obs-route: 1*("@" domain) ":"
  let route: string | null = null;
  p.skipLwsp();
  if (p.peek() === 0x40) {
    const parts: string[] = [];
    while (p.peek() === 0x40) {
      p.pos++;
      parts.push('@' + (p.domain() ?? ''));
      p.skipLwsp();
      if (p.peek() === 0x2c) {
        p.pos++;
        p.skipLwsp();
      }
    }
    if (p.peek() === 0x3a) p.pos++;
    route = parts.join(',');
  }
  p.skipLwsp();
  let mailbox: string | null = null;
  let host: string | null = null;
  if (p.peek() !== 0x3e) {
    mailbox = p.dotAtomOrWords();
    p.skipLwsp();
    if (p.peek() === 0x40) {
      p.pos++;
      host = p.domain();
    }
  }
  p.skipLwsp();
  if (p.peek() !== 0x3e) {
    // Dovecot: a broken angle-addr keeps what was parsed and marks the domain
    const close = p.s.indexOf('>', p.pos);
    p.pos = close < 0 ? p.s.length : close + 1;
    return { name, route, mailbox, host: 'SYNTAX_ERROR' };
  }
  p.pos++;
  return { name, route, mailbox, host };
}

/** addr-spec = local-part "@" domain; a trailing comment becomes the name. */
function parseAddrSpec(p: Rfc822Parser): Address {
  p.lastComment = null;
  p.skipLwsp();
  const mailbox = p.dotAtomOrWords();
  let host: string | null = null;
  p.skipLwsp();
  if (p.peek() === 0x40) {
    p.pos++;
    host = p.domain();
  }
  p.skipLwsp();
  const name = p.lastComment as string | null;
  return { name: name !== null && name !== '' ? name : null, route: null, mailbox, host };
}
