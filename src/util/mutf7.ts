/**
 * Modified UTF-7 for mailbox names (RFC 3501 §5.1.3): printable US-ASCII except "&"
 * stands for itself, "&" is "&-", other characters are UTF-16 in modified base64
 * ("," instead of "/") between "&" and "-". Used by IMAP on the wire unless the client
 * enabled UTF8=ACCEPT or IMAP4rev2 (RFC 9051 §5.1, RFC 6855 §3), and by the store for
 * Maildir++ folder names on disk (as Dovecot does).
 */

export class Utf7Error extends Error {}

export function encodeUtf7(s: string): string {
  let out = '';
  let buf: number[] = [];
  const flush = (): void => {
    if (buf.length === 0) return;
    const bytes = Buffer.alloc(buf.length * 2);
    buf.forEach((u, i) => bytes.writeUInt16BE(u, i * 2));
    out += '&' + bytes.toString('base64').replace(/=+$/, '').replace(/\//g, ',') + '-';
    buf = [];
  };
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e) {
      flush();
      out += c === 0x26 ? '&-' : s[i];
    } else {
      buf.push(c);
    }
  }
  flush();
  return out;
}

/** Decodes modified UTF-7; throws Utf7Error on malformed input (RFC 3501 §5.1.3). */
export function decodeUtf7(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    const code = c.charCodeAt(0);
    if (code < 0x20 || code > 0x7e) throw new Utf7Error('non-ASCII in modified UTF-7 name');
    if (c !== '&') {
      out += c;
      continue;
    }
    const end = s.indexOf('-', i + 1);
    if (end < 0) throw new Utf7Error('unterminated shift');
    const b64 = s.slice(i + 1, end);
    i = end;
    if (b64 === '') {
      out += '&';
      continue;
    }
    if (!/^[A-Za-z0-9+,]+$/.test(b64)) throw new Utf7Error('bad base64 in shift');
    const bytes = Buffer.from(b64.replace(/,/g, '/'), 'base64');
    if (bytes.length % 2 !== 0) throw new Utf7Error('odd byte count');
    let chunk = '';
    for (let j = 0; j < bytes.length; j += 2) chunk += String.fromCharCode(bytes.readUInt16BE(j));
    // Directly encoded printable characters must not be base64-encoded (canonical form).
    if (/^[\x20-\x7e]*$/.test(chunk)) throw new Utf7Error('needless shift');
    out += chunk;
  }
  return out;
}
