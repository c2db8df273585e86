/**
 * The capability list: one annotated table, each entry with its RFC (mox
 * serverCapabilitiesList). Only what works is advertised. Some entries depend on the
 * connection (TLS, authentication): `capabilities()` computes the list for one moment.
 */

interface CapEntry {
  name: string;
  rfc: string;
  /** When it is shown; default always. */
  when?: (s: CapState) => boolean;
}

export interface CapState {
  tls: boolean;
  /** Whether LOGIN/AUTHENTICATE may be used now (TLS, or loopback when allowed). */
  authAllowed: boolean;
  authenticated: boolean;
  appendLimit: number;
  /** The listener allows non-synchronizing literals up to 4096 octets only (RFC 7888 §5). */
  literalMinus?: boolean;
}

const CAPS: CapEntry[] = [
  { name: 'IMAP4rev1', rfc: 'RFC 3501' },
  { name: 'IMAP4rev2', rfc: 'RFC 9051' },
  { name: 'STARTTLS', rfc: 'RFC 9051 §6.2.1', when: (s) => !s.tls && !s.authenticated },
  { name: 'LOGINDISABLED', rfc: 'RFC 9051 §6.2.3', when: (s) => !s.authAllowed && !s.authenticated },
  { name: 'AUTH=PLAIN', rfc: 'RFC 4616', when: (s) => s.authAllowed && !s.authenticated },
  { name: 'AUTH=LOGIN', rfc: 'draft-murchison-sasl-login', when: (s) => s.authAllowed && !s.authenticated },
  { name: 'SASL-IR', rfc: 'RFC 4959' },
  // LITERAL+ allows any size and so covers LITERAL-: one of the two (RFC 7888 §5).
  { name: 'LITERAL+', rfc: 'RFC 7888 §3', when: (s) => !s.literalMinus },
  { name: 'LITERAL-', rfc: 'RFC 7888 §5', when: (s) => !!s.literalMinus },
  { name: 'MULTIAPPEND', rfc: 'RFC 3502' },
  { name: 'CATENATE', rfc: 'RFC 4469' }, // URLs to the user's own messages, without URLAUTH
  { name: 'ENABLE', rfc: 'RFC 5161' },
  { name: 'NOTIFY', rfc: 'RFC 5465' }, // SELECTED, SELECTED-DELAYED, INBOXES, PERSONAL, SUBSCRIBED, SUBTREE, MAILBOXES
  { name: 'ID', rfc: 'RFC 2971' },
  { name: 'IDLE', rfc: 'RFC 2177' },
  { name: 'NAMESPACE', rfc: 'RFC 2342' },
  { name: 'UNSELECT', rfc: 'RFC 3691' },
  { name: 'UIDPLUS', rfc: 'RFC 4315' },
  { name: 'MOVE', rfc: 'RFC 6851' },
  { name: 'CHILDREN', rfc: 'RFC 3348' },
  { name: 'SPECIAL-USE', rfc: 'RFC 6154' },
  { name: 'CREATE-SPECIAL-USE', rfc: 'RFC 6154 §3' },
  { name: 'LIST-EXTENDED', rfc: 'RFC 5258' },
  { name: 'LIST-STATUS', rfc: 'RFC 5819' },
  { name: 'ESEARCH', rfc: 'RFC 4731' },
  { name: 'SEARCHRES', rfc: 'RFC 5182' },
  { name: 'SAVEDATE', rfc: 'RFC 8514' },
  { name: 'OBJECTID', rfc: 'RFC 8474' },
  { name: 'PREVIEW', rfc: 'RFC 8970' },
  { name: 'METADATA', rfc: 'RFC 5464' },
  { name: 'WITHIN', rfc: 'RFC 5032' },
  { name: 'UTF8=ACCEPT', rfc: 'RFC 6855' },
  { name: 'STATUS=SIZE', rfc: 'RFC 8438' },
  { name: 'CONDSTORE', rfc: 'RFC 7162' },
  { name: 'QRESYNC', rfc: 'RFC 7162 §3.2' },
  { name: 'QUOTA', rfc: 'RFC 9208' },
  { name: 'QUOTA=RES-STORAGE', rfc: 'RFC 9208 §5.1' },
  { name: 'QUOTA=RES-MESSAGE', rfc: 'RFC 9208 §5.2' },
  { name: 'BINARY', rfc: 'RFC 3516' },
  { name: 'SORT', rfc: 'RFC 5256' },
  { name: 'SORT=DISPLAY', rfc: 'RFC 5957' },
  { name: 'ESORT', rfc: 'RFC 5267 §3' },
  { name: 'CONTEXT=SEARCH', rfc: 'RFC 5267 §4', when: (s) => s.authenticated }, // UPDATE, PARTIAL, CONTEXT; CANCELUPDATE
  { name: 'CONTEXT=SORT', rfc: 'RFC 5267 §4', when: (s) => s.authenticated },
  { name: 'THREAD=ORDEREDSUBJECT', rfc: 'RFC 5256' },
  { name: 'THREAD=REFERENCES', rfc: 'RFC 5256' },
  { name: 'THREAD=REFS', rfc: 'draft-ietf-morg-inthread' },
  { name: 'COMPRESS=DEFLATE', rfc: 'RFC 4978', when: (s) => s.authenticated }, // FETCH BINARY[]/BINARY.SIZE[], APPEND of a literal8
];

export function capabilities(s: CapState): string[] {
  const out = CAPS.filter((c) => !c.when || c.when(s)).map((c) => c.name);
  out.push(`APPENDLIMIT=${s.appendLimit}`); // RFC 7889
  return out;
}

/** What ENABLE accepts (RFC 5161, RFC 9051 §6.3.1, RFC 7162 §3.1, §3.2.3, RFC 6855 §3). */
export const ENABLEABLE = new Set(['IMAP4REV2', 'CONDSTORE', 'QRESYNC', 'UTF8=ACCEPT']);
