/**
 * Removal of `Authentication-Results` header fields that claim to come from us.
 *
 * RFC 8601 §5: a border MTA MUST remove (or rename) Authentication-Results fields
 * carrying its own authserv-id that arrive from outside, before adding its own, so a
 * sender cannot pre-fill "dkim=pass" for our users' mail clients to trust. Fields from
 * other authserv-ids stay (they are just not trusted), and so do ARC-Authentication-Results
 * (part of an ARC chain, RFC 8617 §4.1.1; removing them would break the chain).
 *
 * Works on the raw header block as bytes (CRLF or bare LF line ends, folded
 * continuation lines), keeps every other byte untouched.
 */

/**
 * The authserv-id of an Authentication-Results field value (RFC 8601 §2.2:
 * `authres-header-field = "Authentication-Results:" authserv-id [ CFWS authres-version ] ...`),
 * lower-cased, comments and folding removed.
 */
export function authservIdOf(value: string): string {
  let s = value.replace(/\r?\n[ \t]/g, ' ');
  // CFWS: strip (possibly nested) comments, RFC 5322 §3.2.2.
  let prev: string;
  do {
    prev = s;
    s = s.replace(/\((?:[^()\\]|\\.)*\)/g, ' ');
  } while (s !== prev);
  const m = /^\s*"?([^\s;"]*)/.exec(s);
  return (m?.[1] ?? '').toLowerCase();
}

/**
 * Returns the header block without Authentication-Results fields whose authserv-id is
 * `authservId` (case-insensitive), and how many were removed. `header` is the raw
 * header block (with or without its terminating empty line).
 */
export function stripForgedAuthResults(header: Buffer, authservId: string): { header: Buffer; removed: number } {
  const id = authservId.toLowerCase().replace(/\.$/, '');
  const text = header.toString('latin1'); // byte-preserving
  // Split into lines keeping their terminators.
  const lines = text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
  const out: string[] = [];
  let removed = 0;
  let i = 0;
  while (i < lines.length) {
    const first = lines[i]!;
    let j = i + 1;
    // RFC 5322 §2.2.3: a field continues on lines starting with WSP.
    if (!/^\r?\n$/.test(first)) {
      while (j < lines.length && /^[ \t]/.test(lines[j]!)) j++;
    }
    const field = lines.slice(i, j).join('');
    const m = /^authentication-results[ \t]*:/i.exec(field);
    if (m && authservIdOf(field.slice(m[0].length)).replace(/\.$/, '') === id) {
      removed++;
    } else {
      out.push(field);
    }
    i = j;
  }
  if (removed === 0) return { header, removed };
  return { header: Buffer.from(out.join(''), 'latin1'), removed };
}
