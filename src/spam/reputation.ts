/**
 * Sender reputation (mox junk filter's idea, smtpserver/reputation.go): before content is
 * scored, the verdicts the user gave earlier to mail from the same sender weigh in.
 *
 * Identities of a message, most specific first:
 *   sent   the From address is one the user has written to (a reply, or mail sent)
 *   from   the From address, when verified: DMARC pass, or (no DMARC record) a DKIM
 *          signature or SPF pass of the From domain or a parent/child of it
 *   dkim   each DKIM-verified signing domain
 *   spf    the SPF-verified MAIL FROM domain
 *   ip     the connecting IP's /24 (IPv4) or /64 (IPv6)
 * They come from our own Authentication-Results (RFC 8601, authserv-id = our hostname)
 * and Received fields, both when a message is scored (the policy's fresh headers) and when
 * the user trains on it later (the stored copy, where port 25 prepended them: forged
 * fields naming our host were removed on the way in).
 *
 * How they count: see judge(). A known correspondent's mail never lands in Junk because
 * of its content alone.
 */
import { isIP } from 'node:net';
import { addressParts } from './tokenize.js';

export type IdentityKind = 'sent' | 'from' | 'dkim' | 'spf' | 'ip';

export interface Identities {
  /** Lower-case From address (verified or not). */
  from?: string;
  fromVerified: boolean;
  dkim: string[];
  spf?: string;
  /** The /24 or /64 prefix of the connecting IP. */
  ip?: string;
}

export interface Reputation {
  /** A known correspondent (content alone never puts its mail in Junk), e.g. "sent alice@example.org". */
  known?: string;
  /** A verified sender the user junked again and again. */
  bad?: string;
  /** Domain and network histories that weigh in on the score, as extra clues. */
  clues: RepClue[];
}

export interface RepClue {
  /** e.g. "dkim example.org 0 ham/5 spam" */
  name: string;
  p: number;
  /** How many content clues it counts as. */
  weight: number;
}

export const MIN_EVIDENCE = 3;
const RATIO = 0.9;
const WEIGHT: Record<string, number> = { dkim: 3, spf: 2, ip: 1 };

/** The (kind, key) pairs looked up and recorded for a message. */
export function identityKeys(id: Identities): Array<[IdentityKind, string]> {
  const out: Array<[IdentityKind, string]> = [];
  if (id.from && id.fromVerified) out.push(['sent', id.from], ['from', id.from]);
  for (const d of id.dkim.slice(0, 4)) out.push(['dkim', d]);
  if (id.spf) out.push(['spf', id.spf]);
  if (id.ip) out.push(['ip', id.ip]);
  return out;
}

/**
 * Judges from the rows found for identityKeys(id). A verified From address decides for
 * itself (known or junked sender, with MIN_EVIDENCE verdicts of which ≥ 90 % agree; one
 * message of ours to it is enough to know it). Domains (DKIM, SPF) are shared by many
 * senders (every Gmail user signs as gmail.com), so their history only weighs in, as
 * clues of the combined score; an IP range only when it looks bad.
 */
export function judge(rows: Array<{ kind: string; key: string; ham: number; spam: number }>, id: Identities): Reputation {
  const rep: Reputation = { clues: [] };
  for (const [kind, key] of identityKeys(id)) {
    const r = rows.find((x) => x.kind === kind && x.key === key);
    if (!r) continue;
    const n = r.ham + r.spam;
    const desc = `${kind} ${key} ${r.ham} ham/${r.spam} spam`;
    if (kind === 'sent') {
      if (r.ham > 0 && !rep.known) rep.known = `sent ${key}`;
      continue;
    }
    if (n < MIN_EVIDENCE) continue;
    if (kind === 'from') {
      if (r.ham / n >= RATIO) rep.known ??= desc;
      else if (r.spam / n >= RATIO) rep.bad = desc;
      continue;
    }
    const p = Math.min(0.99, Math.max(0.01, (r.spam + 0.225) / (n + 0.45)));
    if (Math.abs(p - 0.5) < 0.1 || (kind === 'ip' && p < 0.5)) continue;
    rep.clues.push({ name: desc, p, weight: WEIGHT[kind] ?? 1 });
  }
  if (rep.bad) rep.known = undefined;
  return rep;
}

/** The keys a training records: everything but 'sent' (that comes from the user's own mail). */
export function trainingKeys(id: Identities): Array<[IdentityKind, string]> {
  return identityKeys(id).filter(([k]) => k !== 'sent');
}

/** ipPrefix of the addresses seen lately (port 25 asks for every message, mostly the same few clients). */
const prefixes = new Map<string, string | undefined>();

/** "192.0.2.7" → "192.0.2"; IPv6 → its first four groups (/64); undefined for others. */
export function ipPrefix(ip: string): string | undefined {
  if (prefixes.has(ip)) return prefixes.get(ip);
  const p = computePrefix(ip);
  if (prefixes.size >= 1024) prefixes.clear();
  prefixes.set(ip, p);
  return p;
}

function computePrefix(ip: string): string | undefined {
  const plain = ip.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1');
  const fam = isIP(plain);
  if (fam === 4) return plain.split('.').slice(0, 3).join('.');
  if (fam === 6) {
    const [head, tail] = plain.toLowerCase().split('::');
    const h = head ? head.split(':') : [];
    const t = tail !== undefined ? (tail ? tail.split(':') : []) : [];
    const groups = tail !== undefined ? [...h, ...new Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t] : h;
    return groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':');
  }
  return undefined;
}

/**
 * Identities from the fields our delivery wrote: the Authentication-Results with our
 * authserv-id, the From field, and the client IP (given, or from our Received field).
 */
export function identitiesOf(input: { authResults?: string; from?: string; ip?: string }): Identities {
  const id: Identities = { fromVerified: false, dkim: [] };
  const from = input.from ? addressParts(input.from) : undefined;
  if (from?.local !== undefined && from.domain) id.from = `${from.local}@${from.domain}`;
  if (input.ip) id.ip = ipPrefix(input.ip);
  const ar = input.authResults ? parseAuthResults(input.authResults) : undefined;
  if (!ar) return id;
  id.dkim = [...new Set(ar.dkimPass)];
  if (ar.spf === 'pass' && ar.mailfrom) id.spf = domainOf(ar.mailfrom);
  const fd = from?.domain;
  if (fd) {
    if (ar.dmarc === 'pass') id.fromVerified = true;
    else if (ar.dmarc === 'none' || ar.dmarc === undefined) {
      id.fromVerified = id.dkim.some((d) => related(d, fd)) || (id.spf !== undefined && related(id.spf, fd));
    }
  }
  return id;
}

export interface AuthResultsSummary {
  spf?: string;
  mailfrom?: string;
  dkimPass: string[];
  dmarc?: string;
}

/** The results of one Authentication-Results value (RFC 8601 §2.2), leniently. */
export function parseAuthResults(value: string): AuthResultsSummary {
  const out: AuthResultsSummary = { dkimPass: [] };
  // Comments and line breaks out; then "; "-separated resinfo parts after the authserv-id.
  const v = value.replace(/\([^()]*\)/g, ' ').replace(/\s+/g, ' ');
  for (const part of v.split(';').slice(1)) {
    const m = /^\s*(spf|dkim|dmarc)\s*=\s*([a-z]+)(.*)$/i.exec(part);
    if (!m) continue;
    const method = m[1]!.toLowerCase();
    const result = m[2]!.toLowerCase();
    const props = m[3]!;
    if (method === 'spf') {
      out.spf = result;
      const mf = /smtp\.mailfrom=("?)([^\s";]+)\1/i.exec(props);
      if (mf) out.mailfrom = mf[2]!.toLowerCase();
    } else if (method === 'dkim') {
      const d = /header\.(?:d|i)=@?([^\s";]+)/i.exec(props);
      if (result === 'pass' && d) out.dkimPass.push(d[1]!.toLowerCase().replace(/^.*@/, ''));
    } else if (method === 'dmarc') {
      out.dmarc = result;
    }
  }
  return out;
}

function domainOf(addr: string): string | undefined {
  const at = addr.lastIndexOf('@');
  const d = (at >= 0 ? addr.slice(at + 1) : addr).toLowerCase().replace(/\.$/, '');
  return d || undefined;
}

/** Equal, or one a subdomain of the other (relaxed alignment without a public-suffix list). */
function related(a: string, b: string): boolean {
  return a === b || a.endsWith(`.${b}`) || b.endsWith(`.${a}`);
}
