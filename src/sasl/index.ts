/**
 * SASL mechanisms shared by IMAP, POP3 (submission uses smtp-server's own): PLAIN
 * (RFC 4616) and LOGIN (draft-murchison-sasl-login). Pure decoding, no I/O: the
 * front end feeds client responses in and gets credentials or an error out.
 */

export interface Credentials {
  /** Authorization identity; empty when the client sent none. */
  authzid: string;
  username: string;
  password: string;
}

export class SaslError extends Error {}

/** Strict base64 (RFC 4648 §4): Buffer.from() silently ignores garbage, we must not. */
export function decodeBase64(s: string): Buffer {
  const t = s.trim();
  if (t === '=') return Buffer.alloc(0); // RFC 4954 / RFC 9051: "=" is an empty initial response
  if (t.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(t)) throw new SaslError('invalid base64');
  return Buffer.from(t, 'base64');
}

/** RFC 4616 §2: message = [authzid] UTF8NUL authcid UTF8NUL passwd */
export function decodePlain(response: string): Credentials {
  const raw = decodeBase64(response).toString('utf8');
  const parts = raw.split('\0');
  if (parts.length !== 3) throw new SaslError('malformed PLAIN response');
  const [authzid, username, password] = parts as [string, string, string];
  if (!username || !password) throw new SaslError('malformed PLAIN response');
  return { authzid, username, password };
}

/** The LOGIN mechanism's two prompts, base64 of "Username:" and "Password:". */
export const LOGIN_PROMPTS = [Buffer.from('Username:').toString('base64'), Buffer.from('Password:').toString('base64')] as const;

/** A client that sends "*" cancels the exchange (RFC 9051 §6.2.2, RFC 5034 §4). */
export function isCancel(response: string): boolean {
  return response.trim() === '*';
}

/** Whether `authzid` is acceptable: empty, or the same as the authenticated user (no proxy logins). */
export function authzidAllowed(c: Credentials, canonicalUser: string): boolean {
  return c.authzid === '' || c.authzid.toLowerCase() === canonicalUser.toLowerCase() || c.authzid.toLowerCase() === c.username.toLowerCase();
}
