/**
 * Message authentication of inbound mail: SPF (RFC 7208), DKIM (RFC 6376, RFC 8463
 * ed25519), DMARC (RFC 7489) and ARC (RFC 8617), all through mailauth with the injected
 * resolver, and the trace headers that record them: one `Authentication-Results`
 * (RFC 8601) with this server's hostname as authserv-id, and `Received-SPF`
 * (RFC 7208 §9.1).
 *
 * This module only measures; src/smtp/policy.ts decides what to do with the results.
 *
 * Implementation notes:
 * - SPF is evaluated for the MAIL FROM identity (or postmaster@HELO for the null sender,
 *   RFC 7208 §2.4), which is what DMARC uses. The HELO identity (RFC 7208 §2.3) is
 *   checked as well when it is a domain name and MAIL FROM is not empty; its result is
 *   reported in the structured result (and so in the delivery log) only.
 * - mailauth never throws for DNS trouble: it reports `temperror` per method. An
 *   exception from here means a bug or an unreadable message stream.
 * - BIMI is not evaluated (it is for display in webmail; nothing here shows logos).
 * - No ARC seal is added: this server is the final hop for inbound mail, and sealing
 *   is for intermediaries that forward (RFC 8617 §5.1).
 */
import type { Readable } from 'node:stream';
import type { AuthenticateResult } from 'mailauth';
import type { Resolver } from '../dns/resolver.js';

/** mailauth and its public-suffix and IP tables cost ~40 MB resident: loaded on first use. */
let mailauthModule: Promise<typeof import('mailauth')> | undefined;
const mailauth = () => (mailauthModule ??= import('mailauth'));

export type SpfResult = 'pass' | 'fail' | 'softfail' | 'neutral' | 'none' | 'temperror' | 'permerror';
export type DmarcPolicy = 'none' | 'quarantine' | 'reject';

export interface DkimSignatureResult {
  /** pass, fail, neutral (body hash mismatch, key missing/revoked), policy, temperror, permerror, none */
  result: string;
  domain?: string;
  selector?: string;
  algorithm?: string;
  /** The organizational domain this signature aligns with the From domain under, if any. */
  aligned?: string;
  comment?: string;
}

export interface InboundAuthResult {
  spf: { result: SpfResult; domain: string; comment?: string };
  /** The HELO identity's SPF result, when it was checked. */
  spfHelo?: { result: SpfResult; domain: string };
  /** One entry per DKIM-Signature (a single `none` entry when the message has none). */
  dkim: DkimSignatureResult[];
  dmarc: {
    result: 'pass' | 'fail' | 'none' | 'temperror' | 'permerror' | 'neutral';
    /** The From domain's organizational domain. */
    domain?: string;
    /** The policy that applies to this From domain: sp for a subdomain covered by the org record, p otherwise. */
    policy?: DmarcPolicy;
    /** Percentage of failing mail the policy applies to (RFC 7489 §6.3 pct, default 100). */
    pct: number;
  };
  arc: { result: string };
  /** RFC5322.From addresses as parsed by mailauth (DMARC needs exactly one). */
  headerFrom: string[];
  /** `Received-SPF` and `Authentication-Results` lines, CRLF-terminated, to prepend. */
  headers: string;
}

export interface VerifyInboundOptions {
  /** The whole message as received (no trace headers of ours yet). */
  message: Readable | Buffer;
  /** The connecting client's address. */
  ip: string;
  /** HELO/EHLO argument as given. */
  helo: string;
  /** MAIL FROM address, '' for the null sender. */
  mailFrom: string;
  /** This server's hostname: the MTA name in comments and the authserv-id (RFC 8601 §2.5). */
  hostname: string;
  resolver: Resolver;
  /** Also evaluate SPF for the HELO identity (default true). */
  checkHelo?: boolean;
}

/**
 * Runs SPF, DKIM, ARC and DMARC on one message. Always resolves with a result for
 * every method (DNS trouble shows as `temperror`); rejects only if the message stream
 * fails.
 */
export async function verifyInbound(opts: VerifyInboundOptions): Promise<InboundAuthResult> {
  const helo = opts.helo.trim();
  const mailFrom = opts.mailFrom.trim();
  const resolver = opts.resolver as unknown as NonNullable<Parameters<typeof import('mailauth').authenticate>[1]>['resolver'];
  const heloIsDomain = isDomainName(helo);

  const heloCheck =
    opts.checkHelo !== false && mailFrom !== '' && heloIsDomain
      ? // RFC 7208 §2.3: the HELO identity, checked as "postmaster@<helo>"
        (await mailauth()).spf({ sender: `postmaster@${helo}`, ip: opts.ip, helo, mta: opts.hostname, resolver })
      : undefined;

  const res: AuthenticateResult = await (await mailauth()).authenticate(opts.message, {
    ip: opts.ip,
    helo: helo || undefined,
    // RFC 7208 §2.4: with the null sender, the HELO identity stands in for MAIL FROM.
    sender: mailFrom || (heloIsDomain ? `postmaster@${helo}` : undefined),
    mta: opts.hostname,
    resolver,
    disableBimi: true,
  });
  const heloRes = heloCheck ? await heloCheck.catch(() => undefined) : undefined;

  const spfRes = res.spf || undefined;
  const spf = {
    result: (spfRes?.status.result ?? 'none') as SpfResult,
    domain: spfRes?.domain ?? '',
    comment: typeof spfRes?.status.comment === 'string' ? spfRes.status.comment : undefined,
  };

  const dkim: DkimSignatureResult[] = (res.dkim.results ?? []).map((r) => ({
    result: String(r.status?.result ?? 'none'),
    domain: r.signingDomain,
    selector: r.selector,
    algorithm: (r as { algo?: string }).algo,
    aligned: typeof r.status?.aligned === 'string' ? r.status.aligned : undefined,
    comment: typeof r.status?.comment === 'string' ? r.status.comment : undefined,
  }));
  if (dkim.length === 0) dkim.push({ result: 'none' });

  const d = res.dmarc || undefined;
  const dmarcResult = (d?.status.result ?? 'none') as InboundAuthResult['dmarc']['result'];
  const dmarc: InboundAuthResult['dmarc'] = {
    result: dmarcResult,
    domain: d?.domain,
    policy: d?.policy ? normPolicy(d.policy) : undefined,
    pct: typeof d?.pct === 'number' && d.pct >= 0 && d.pct <= 100 ? d.pct : 100, // RFC 7489 §6.3: default 100
  };

  // mailauth's Received-SPF carries only client-ip; ours carries the RFC 7208 §9.1 key-value pairs.
  let headers = res.headers;
  if (spfRes?.header) headers = headers.replace(`${spfRes.header}\r\n`, '');
  if (spfRes) {
    headers =
      receivedSpfHeader({
        result: spf.result,
        comment: spf.comment,
        ip: opts.ip,
        envelopeFrom: mailFrom || (heloIsDomain ? `postmaster@${helo}` : ''),
        helo,
        receiver: opts.hostname,
        identity: mailFrom ? 'mailfrom' : 'helo',
      }) + headers;
  }
  if (!headers.endsWith('\r\n')) headers += '\r\n';

  return {
    spf,
    spfHelo: heloRes ? { result: heloRes.status.result as SpfResult, domain: heloRes.domain } : undefined,
    dkim,
    dmarc,
    arc: { result: String((res.arc && res.arc.status?.result) || 'none') },
    headerFrom: res.dkim.headerFrom ?? [],
    headers,
  };
}

function normPolicy(p: string): DmarcPolicy {
  const v = p.trim().toLowerCase();
  // RFC 7489 §6.6.3: an unknown policy is treated as if p had not been given ("none").
  return v === 'reject' || v === 'quarantine' ? v : 'none';
}

/** A host name with at least one dot, no IP literal (RFC 5321 §4.1.3 literals are "[...]"). */
function isDomainName(s: string): boolean {
  return /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]*[a-z0-9]$/i.test(s);
}

/** A key-value pair value: a dot-atom as is, anything else as a quoted-string (RFC 7208 §9.1). */
function kv(v: string): string {
  if (/^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+$/.test(v) && !v.startsWith('.') && !v.endsWith('.') && !v.includes('..')) return v;
  return `"${v.replace(/[\r\n]/g, '').replace(/(["\\])/g, '\\$1')}"`;
}

function comment(s: string): string {
  return s.replace(/[\r\n]/g, ' ').replace(/([()\\])/g, '\\$1');
}

/**
 * `Received-SPF: pass (comment) client-ip=…; envelope-from="…"; helo=…; receiver=…;
 * identity=mailfrom;` (RFC 7208 §9.1), folded at the key-value pairs.
 */
export function receivedSpfHeader(r: {
  result: SpfResult;
  comment?: string;
  ip: string;
  envelopeFrom: string;
  helo: string;
  receiver: string;
  identity: 'mailfrom' | 'helo';
}): string {
  const ip = r.ip.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1');
  const pairs = [`client-ip=${ip};`];
  if (r.envelopeFrom) pairs.push(`envelope-from=${kv(r.envelopeFrom)};`);
  if (r.helo) pairs.push(`helo=${kv(r.helo)};`);
  pairs.push(`receiver=${kv(r.receiver)};`, `identity=${r.identity};`);
  const head = `Received-SPF: ${r.result}${r.comment ? ` (${comment(r.comment)})` : ''}`;
  return `${head}\r\n\t${pairs.join('\r\n\t')}\r\n`;
}
