/**
 * The DNS records a domain needs, each with a one-line why, and a checker that asks
 * DNS (through the injected resolver) whether each is published as it should be.
 *
 * Records (for domain D served by host H):
 *   MX D → H (RFC 5321 §5.1)               where mail for D goes
 *   A/AAAA H                               H's address (a hint: we know it only if told)
 *   TXT D "v=spf1 mx -all" (RFC 7208)      only D's MX hosts send as D
 *   TXT <sel>._domainkey.D (RFC 6376)      the DKIM public key, per active/retiring key
 *   TXT _dmarc.D (RFC 7489)                policy + aggregate report address
 *   TXT _mta-sts.D (RFC 8461 §3.1)         MTA-STS policy id; policy at https://mta-sts.D/
 *   CNAME mta-sts.D → H                    the host that serves the policy
 *   TXT _smtp._tls.D (RFC 8460)            where TLS failure reports go
 *   SRV _submissions/_submission/_imaps/_imap/_pop3s._tcp.D (RFC 6186, RFC 8314)
 *   CNAME autoconfig.D, autodiscover.D → H client autoconfiguration
 *   PTR <ip> → H                           reverse DNS, set by the hosting provider
 */
import { dnsRecordName, dnsRecordValue, listKeys, splitTxt } from '../dkim/keys.js';
import type { Db } from '../db/index.js';
import type { Resolver } from '../dns/resolver.js';
import { isNotFound } from '../dns/resolver.js';

export type RecordType = 'MX' | 'A' | 'AAAA' | 'TXT' | 'CNAME' | 'SRV' | 'PTR';

export interface DnsRecord {
  name: string;
  type: RecordType;
  /** The value in zone-file form (TXT without quotes). */
  value: string;
  why: string;
  /** Printed but not checked (a placeholder the user must fill in). */
  hint?: boolean;
}

export interface RecordOptions {
  hostname: string;
  ipv4?: string;
  ipv6?: string;
  /** MTA-STS policy mode printed in the policy and its id. */
  mtaStsMode?: 'testing' | 'enforce';
}

/** The MTA-STS policy this server serves at /.well-known/mta-sts.txt (RFC 8461 §3.2). */
export function mtaStsPolicy(hostname: string, mode: 'testing' | 'enforce' = 'testing'): string {
  return `version: STSv1\r\nmode: ${mode}\r\nmx: ${hostname}\r\nmax_age: 604800\r\n`;
}

/** A policy id that changes when the policy text changes (RFC 8461 §3.1: 1–32 alphanumerics). */
export function mtaStsId(policy: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < policy.length; i++) h = Math.imul(h ^ policy.charCodeAt(i), 0x01000193) >>> 0;
  return `p${h.toString(16)}`;
}

export function domainRecords(db: Db, domain: string, opts: RecordOptions): DnsRecord[] {
  const H = opts.hostname;
  const D = domain;
  const out: DnsRecord[] = [
    { name: D, type: 'MX', value: `10 ${H}.`, why: `mail for ${D} is delivered to ${H}` },
    opts.ipv4
      ? { name: H, type: 'A', value: opts.ipv4, why: `the address of ${H}` }
      : { name: H, type: 'A', value: '<IPv4 address of this server>', why: `the address of ${H}; fill in your server's IPv4`, hint: true },
  ];
  if (opts.ipv6) out.push({ name: H, type: 'AAAA', value: opts.ipv6, why: `the IPv6 address of ${H}` });
  out.push({ name: D, type: 'TXT', value: 'v=spf1 mx -all', why: `SPF: only the MX host of ${D} sends mail as ${D}; receivers reject the rest` });
  for (const k of listKeys(db, D)) {
    out.push({
      name: dnsRecordName(k),
      type: 'TXT',
      value: dnsRecordValue(k),
      why: k.status === 'active' ? 'DKIM: the public key receivers use to verify our signatures' : 'DKIM: the previous key, kept while mail signed with it is still in flight',
    });
  }
  out.push({ name: `_dmarc.${D}`, type: 'TXT', value: `v=DMARC1; p=quarantine; rua=mailto:postmaster@${D}`, why: 'DMARC: mail failing SPF and DKIM alignment goes to spam; aggregate reports to postmaster' });
  const policy = mtaStsPolicy(H, opts.mtaStsMode);
  out.push({ name: `_mta-sts.${D}`, type: 'TXT', value: `v=STSv1; id=${mtaStsId(policy)}`, why: 'MTA-STS: senders must use verified TLS to reach us (policy served over HTTPS at mta-sts)' });
  out.push({ name: `mta-sts.${D}`, type: 'CNAME', value: `${H}.`, why: 'MTA-STS: the host that serves /.well-known/mta-sts.txt (needs a certificate for this name)' });
  out.push({ name: `_smtp._tls.${D}`, type: 'TXT', value: `v=TLSRPTv1; rua=mailto:postmaster@${D}`, why: 'TLS-RPT: senders report TLS failures to postmaster' });
  out.push({ name: `_submissions._tcp.${D}`, type: 'SRV', value: `0 1 465 ${H}.`, why: 'clients find submission with implicit TLS (RFC 8314)' });
  out.push({ name: `_submission._tcp.${D}`, type: 'SRV', value: `0 1 587 ${H}.`, why: 'clients find submission with STARTTLS (RFC 6186)' });
  out.push({ name: `_imaps._tcp.${D}`, type: 'SRV', value: `0 1 993 ${H}.`, why: 'clients find IMAP with implicit TLS' });
  out.push({ name: `_imap._tcp.${D}`, type: 'SRV', value: `0 1 143 ${H}.`, why: 'clients find IMAP with STARTTLS' });
  out.push({ name: `_pop3s._tcp.${D}`, type: 'SRV', value: `0 1 995 ${H}.`, why: 'clients find POP3 with implicit TLS' });
  out.push({ name: `autoconfig.${D}`, type: 'CNAME', value: `${H}.`, why: 'Thunderbird and others fetch their settings from autoconfig' });
  out.push({ name: `autodiscover.${D}`, type: 'CNAME', value: `${H}.`, why: 'Outlook fetches its settings from autodiscover' });
  out.push(
    opts.ipv4
      ? { name: reverseName(opts.ipv4), type: 'PTR', value: `${H}.`, why: `reverse DNS of ${opts.ipv4}: ask your hosting provider; many receivers refuse mail without it` }
      : { name: '<reverse of your IPv4>', type: 'PTR', value: `${H}.`, why: 'reverse DNS: ask your hosting provider to set it; many receivers refuse mail without it', hint: true },
  );
  return out;
}

export function reverseName(ipv4: string): string {
  return `${ipv4.split('.').reverse().join('.')}.in-addr.arpa`;
}

/** One record as a zone-file line (long TXT values split into 255-byte strings). */
export function zoneLine(r: DnsRecord): string {
  const name = r.name.endsWith('.') || r.name.startsWith('<') ? r.name : `${r.name}.`;
  let value = r.value;
  if (r.type === 'TXT') value = splitTxt(value).map((p) => `"${p}"`).join(' ');
  return `${name} 3600 IN ${r.type} ${value}`;
}

export type CheckStatus = 'ok' | 'missing' | 'wrong' | 'error' | 'skipped';

export interface CheckResult {
  record: DnsRecord;
  status: CheckStatus;
  /** What DNS answered, when it is not what we want. */
  found?: string;
}

const stripDot = (s: string) => s.replace(/\.$/, '').toLowerCase();
const norm = (s: string) => s.replace(/\s+/g, ' ').trim();

/** Asks DNS for each record; 'ok', 'missing' (NXDOMAIN/NODATA), or 'wrong' with what it found. */
export async function checkRecords(resolver: Resolver, records: DnsRecord[]): Promise<CheckResult[]> {
  return Promise.all(records.map((r) => checkOne(resolver, r)));
}

async function checkOne(resolver: Resolver, r: DnsRecord): Promise<CheckResult> {
  if (r.hint) return { record: r, status: 'skipped' };
  let answer: unknown;
  try {
    answer = await resolver(r.name, r.type);
  } catch (err) {
    if (isNotFound(err)) return { record: r, status: 'missing' };
    return { record: r, status: 'error', found: (err as NodeJS.ErrnoException).code ?? String(err) };
  }
  switch (r.type) {
    case 'MX': {
      const mx = answer as Array<{ exchange: string; priority: number }>;
      const want = stripDot(r.value.split(' ')[1]!);
      if (mx.some((m) => stripDot(m.exchange) === want)) return { record: r, status: 'ok' };
      return { record: r, status: 'wrong', found: mx.map((m) => `${m.priority} ${m.exchange}`).join(', ') };
    }
    case 'A':
    case 'AAAA':
    case 'PTR':
    case 'CNAME': {
      const list = (answer as string[]).map(stripDot);
      if (list.includes(stripDot(r.value))) return { record: r, status: 'ok' };
      return { record: r, status: 'wrong', found: list.join(', ') };
    }
    case 'SRV': {
      const srv = answer as Array<{ name: string; port: number; priority: number; weight: number }>;
      const [, , port, target] = r.value.split(' ');
      if (srv.some((s) => s.port === Number(port) && stripDot(s.name) === stripDot(target!))) return { record: r, status: 'ok' };
      return { record: r, status: 'wrong', found: srv.map((s) => `${s.priority} ${s.weight} ${s.port} ${s.name}`).join(', ') };
    }
    case 'TXT': {
      const txts = (answer as string[][]).map((chunks) => chunks.join(''));
      return checkTxt(r, txts);
    }
  }
}

function checkTxt(r: DnsRecord, txts: string[]): CheckResult {
  const tagOf = (v: string) => v.split(/[;\s]/)[0]!.toLowerCase();
  const tag = tagOf(r.value);
  const same = txts.filter((t) => tagOf(t) === tag);
  if (same.length === 0) return { record: r, status: 'missing', found: txts.length ? txts.join(' | ') : undefined };
  if (tag === 'v=spf1') {
    // Exactly one SPF record (RFC 7208 §4.5), and it must let our MX send.
    if (same.length > 1) return { record: r, status: 'wrong', found: `${same.length} SPF records: ${same.join(' | ')}` };
    const spf = same[0]!;
    if (/\s[-~?]?mx(\s|$)/.test(` ${spf}`) || spf === r.value) return { record: r, status: 'ok' };
    return { record: r, status: 'wrong', found: spf };
  }
  if (tag === 'v=dkim1') {
    const p = (v: string) => /(?:^|;)\s*p=([^;]*)/.exec(v)?.[1]?.replace(/\s+/g, '') ?? '';
    if (same.some((t) => p(t) === p(r.value))) return { record: r, status: 'ok' };
    return { record: r, status: 'wrong', found: same.join(' | ') };
  }
  if (tag === 'v=dmarc1') {
    if (same.length === 1 && /(?:^|;)\s*p=(none|quarantine|reject)/.test(same[0]!)) return { record: r, status: 'ok' };
    return { record: r, status: 'wrong', found: same.join(' | ') };
  }
  if (tag === 'v=stsv1') {
    const id = (v: string) => /id=([A-Za-z0-9]+)/.exec(v)?.[1];
    if (same.length === 1 && id(same[0]!) === id(r.value)) return { record: r, status: 'ok' };
    return { record: r, status: 'wrong', found: same.join(' | ') };
  }
  if (same.some((t) => norm(t) === norm(r.value))) return { record: r, status: 'ok' };
  return { record: r, status: 'wrong', found: same.join(' | ') };
}
