/**
 * Inbound policy for port 25: an ordered list of named checks (Haraka's hook chain,
 * without a plugin loader). Each check may decide (accept, junk, reject, tempfail) or
 * pass to the next; the first decision wins and its name goes into the delivery log
 * (`decided_by`). Every check runs under a timeout; a check that times out or throws
 * counts as a DNS temporary error (Haraka turns plugin timeouts into DENYSOFT).
 *
 * Message checks, in order (checkInbound):
 *   bypass      authenticated submission, trusted networks, or checks disabled → accept, no headers
 *   msgauth     SPF + DKIM + ARC + DMARC via src/msgauth (measures only, writes the headers)
 *   temperror   a DNS temporary error that could change the outcome → 451 4.7.x
 *               (or accept, `checks.temperror_action = "accept"`); RFC 7208 §8.6, RFC 7489 §6.6.3
 *   local-spoof MAIL FROM or From in one of our own domains, but neither SPF nor an aligned
 *               DKIM signature vouches for it → 550 5.7.1 (mail from us comes through submission)
 *   dmarc       DMARC fail: p=reject → 550 5.7.1, p=quarantine → Junk, p=none → nothing;
 *               sp for subdomains, pct sampling with the RFC 7489 §6.6.4 downgrade
 *   (default)   accept
 *
 * Connection checks (checkConnection), at connect time:
 *   fcrdns      forward-confirmed reverse DNS of the client (recorded in Received, RFC 8601 §3 iprev idea)
 *   dnsbl       optional DNS blocklists (RFC 5782), off by default → 554 5.7.1 naming the list
 *
 * All DNS goes through ctx.resolver, whose own timeouts bound each query; the per-check
 * timeout bounds the whole check, so a dead DNS server costs at most `checks.timeout_ms`.
 */
import { BlockList, isIP } from 'node:net';
import type { Readable } from 'node:stream';
import type { ServerContext } from '../context.js';
import type { Logger } from '../log.js';
import { isNotFound } from '../dns/resolver.js';
import { cachedNetworkMatcher, plainIp } from '../util/net.js';
import { stripForgedAuthResults } from '../msgauth/forged-headers.js';
import { verifyInbound, type InboundAuthResult } from '../msgauth/inbound.js';
import type { InboundVerdict } from './inbound.js';
import { Reply } from './reply.js';

export type { InboundVerdict };

/** What one check can decide. `undefined` from a check means "no opinion, go on". */
export type Verdict =
  | { kind: 'accept' }
  | { kind: 'junk'; reason: string }
  | { kind: 'reject'; code: number; enhanced: string; text: string }
  | { kind: 'tempfail'; code: number; enhanced: string; text: string };

export interface InboundInput {
  remoteAddress: string;
  /** The client's FCrDNS name from checkConnection, if any. */
  clientHostname?: string;
  helo: string;
  /** MAIL FROM address, '' for the null sender. */
  mailFrom: string;
  rcpts: string[];
  /** The message as received; a function is called once, when a check needs the bytes. */
  message: Readable | (() => Readable);
  size: number;
  authenticated: boolean;
}

interface CheckState {
  ctx: ServerContext;
  input: InboundInput;
  auth?: InboundAuthResult;
  headers: string;
  log: Record<string, string>;
  stream?: Readable;
}

interface Check<S> {
  name: string;
  run(s: S): Promise<Verdict | undefined>;
}

// ---- message checks ----------------------------------------------------------------

const bypass: Check<CheckState> = {
  name: 'bypass',
  async run(s) {
    if (!s.ctx.config.checks.enabled) {
      s.log.checks = 'disabled';
      return { kind: 'accept' };
    }
    // Mail from authenticated submission is not SPF/DMARC-checked (it is ours).
    if (s.input.authenticated) {
      s.log.checks = 'skipped-authenticated';
      return { kind: 'accept' };
    }
    if (isTrusted(s.ctx, s.input.remoteAddress)) {
      s.log.checks = 'skipped-trusted-network';
      return { kind: 'accept' };
    }
    return undefined;
  },
};

const msgauth: Check<CheckState> = {
  name: 'msgauth',
  async run(s) {
    const m = s.input.message;
    s.stream = typeof m === 'function' ? m() : m;
    const a = await verifyInbound({
      message: s.stream,
      ip: plainIp(s.input.remoteAddress),
      helo: s.input.helo,
      mailFrom: s.input.mailFrom,
      hostname: s.ctx.config.hostname,
      resolver: s.ctx.resolver,
    });
    s.auth = a;
    s.headers = a.headers;
    s.log.spf = a.spf.result;
    if (a.spfHelo) s.log.spf_helo = a.spfHelo.result;
    s.log.dkim = summarizeDkim(a);
    const passing = a.dkim.filter((d) => d.result === 'pass' && d.domain).map((d) => d.domain!);
    if (passing.length) s.log.dkim_domains = [...new Set(passing)].join(',');
    s.log.dmarc = a.dmarc.result;
    if (a.dmarc.policy) s.log.dmarc_policy = a.dmarc.policy;
    s.log.arc = a.arc.result;
    return undefined;
  },
};

const temperror: Check<CheckState> = {
  name: 'temperror',
  async run(s) {
    const a = s.auth!;
    const why = temporaryProblem(a);
    if (!why) return undefined;
    s.log.temperror = why;
    if (s.ctx.config.checks.temperrorAction === 'accept') return undefined;
    // RFC 7208 §8.6 / RFC 7372 §3.3: X.7.24 for SPF; 4.7.0 for the rest.
    return { kind: 'tempfail', code: Reply.LocalError, enhanced: why === 'spf' ? '4.7.24' : '4.7.0', text: `Temporary DNS error checking ${why.toUpperCase()}, try again later` };
  },
};

const localSpoof: Check<CheckState> = {
  name: 'local-spoof',
  async run(s) {
    const a = s.auth!;
    const claims = new Set<string>();
    const mf = domainOf(s.input.mailFrom);
    if (mf && s.ctx.accounts.isLocalDomain(mf)) claims.add(mf);
    for (const from of a.headerFrom) {
      const d = domainOf(from);
      if (d && s.ctx.accounts.isLocalDomain(d)) claims.add(d);
    }
    for (const d of claims) {
      const spfOk = a.spf.result === 'pass' && related(a.spf.domain, d);
      const dkimOk = a.dkim.some((k) => k.result === 'pass' && k.domain !== undefined && related(k.domain, d));
      if (spfOk || dkimOk) continue;
      // Unsure (a DNS hiccup on our own records) is not proof of forgery.
      if (temporaryProblem(a) || a.spf.result === 'temperror') return undefined;
      s.log.spoofed = d;
      return {
        kind: 'reject',
        code: Reply.MailboxUnavailable,
        enhanced: '5.7.1',
        text: `Sender domain ${d} is local, but this message is not authenticated (SPF ${a.spf.result}, DKIM ${summarizeDkim(a)}); use submission with authentication`,
      };
    }
    return undefined;
  },
};

const dmarc: Check<CheckState> = {
  name: 'dmarc',
  async run(s) {
    const a = s.auth!;
    if (a.dmarc.result !== 'fail') return undefined;
    // todo: let a passing ARC chain from a configured trusted sealer override a DMARC fail
    // (RFC 8617 §7.2 local policy; needs a trusted-sealers config list, none yet)
    let policy = a.dmarc.policy ?? 'none';
    // RFC 7489 §6.6.4: mail outside the pct sample gets the next weaker policy.
    if (a.dmarc.pct < 100 && Math.random() * 100 >= a.dmarc.pct) {
      policy = policy === 'reject' ? 'quarantine' : 'none';
      s.log.dmarc_pct = 'sampled-out';
    }
    if (temporaryProblem(a)) return undefined; // only with temperror_action = accept
    s.log.dmarc_action = policy;
    const domain = a.dmarc.domain ?? domainOf(a.headerFrom[0] ?? '') ?? '';
    const cfg = s.ctx.config.checks;
    if (policy === 'reject') {
      if (!cfg.dmarcReject) return { kind: 'junk', reason: 'dmarc-reject' };
      return {
        kind: 'reject',
        code: Reply.MailboxUnavailable,
        enhanced: '5.7.1',
        text: `Rejected by the DMARC policy of ${domain}: no aligned SPF or DKIM pass (SPF ${a.spf.result}, DKIM ${summarizeDkim(a)})`,
      };
    }
    if (policy === 'quarantine' && cfg.dmarcQuarantineToJunk) return { kind: 'junk', reason: 'dmarc-quarantine' };
    return undefined;
  },
};

/** The message checks, in order. */
export const INBOUND_CHECKS: readonly Check<CheckState>[] = [bypass, msgauth, temperror, localSpoof, dmarc];

/**
 * Judges one message received on port 25. Resolves with the action, the reply for a
 * refusal, the trace headers to prepend and the per-check results for the delivery
 * log line. Never rejects: an internal error is a tempfail (the sender retries).
 */
export async function checkInbound(ctx: ServerContext, input: InboundInput): Promise<InboundVerdict> {
  const s: CheckState = { ctx, input, headers: '', log: {} };
  // Made on first use: a child logger per message showed in the port 25 profile.
  let childLog: Logger | undefined;
  const log = (): Logger => (childLog ??= ctx.log.child({ proto: 'smtp', part: 'policy' }));
  let verdict: Verdict = { kind: 'accept' };
  let decidedBy = 'default';
  try {
    for (const check of INBOUND_CHECKS) {
      let v: Verdict | undefined;
      try {
        v = await withTimeout(check.run(s), ctx.config.checks.timeoutMs, check.name);
      } catch (err) {
        log().warn({ check: check.name, err: (err as Error).message }, 'check failed');
        s.log[check.name] = err instanceof CheckTimeout ? 'timeout' : 'error';
        if (ctx.config.checks.temperrorAction === 'accept') {
          v = { kind: 'accept' };
          if (!s.headers) s.headers = unknownResultHeader(ctx, input, err instanceof CheckTimeout ? 'timed out' : 'internal error');
        } else {
          v = { kind: 'tempfail', code: Reply.LocalError, enhanced: '4.7.0', text: 'Temporary error checking the message, try again later' };
        }
      }
      if (v) {
        verdict = v;
        decidedBy = check.name;
        break;
      }
    }
  } finally {
    s.stream?.destroy();
  }
  s.log.policy = verdict.kind;
  s.log.decided_by = decidedBy;
  if (ctx.log.isLevelEnabled('debug')) log().debug({ decided_by: decidedBy, verdict: verdict.kind }, 'policy decided');
  switch (verdict.kind) {
    case 'accept':
      return { action: 'accept', headers: s.headers, log: s.log };
    case 'junk':
      s.log.junk = verdict.reason;
      return { action: 'junk', headers: s.headers, log: s.log };
    case 'reject':
    case 'tempfail':
      return { action: verdict.kind, code: verdict.code, enhanced: verdict.enhanced, text: verdict.text, headers: s.headers, log: s.log };
  }
}

// ---- connection checks ---------------------------------------------------------------

export interface ConnectionVerdict {
  reject?: { code: number; enhanced: string; text: string };
  /** The client's forward-confirmed reverse DNS name (for the Received header). */
  fcrdns?: string;
}

/**
 * At connect: FCrDNS of the client, then the configured DNSBL zones (none by default;
 * trusted networks skip them). Nothing when checks are disabled. DNS failures never refuse a client here: an unanswered
 * blocklist counts as "not listed" (fail open, as every MTA does for DNSBLs).
 */
export async function checkConnection(ctx: ServerContext, input: { remoteAddress: string }): Promise<ConnectionVerdict> {
  // checks.enabled = false: no DNS at all on port 25 (no FCrDNS either).
  if (!ctx.config.checks.enabled) return {};
  const ip = plainIp(input.remoteAddress);
  const timeout = ctx.config.checks.timeoutMs;
  const out: ConnectionVerdict = {};
  const zones = ctx.config.checks.dnsblZones;
  const listed =
    zones.length > 0 && !isTrusted(ctx, ip)
      ? withTimeout(dnsblLookup(ctx, ip, zones), timeout, 'dnsbl').catch(() => undefined)
      : Promise.resolve(undefined);
  out.fcrdns = await withTimeout(fcrdns(ctx, ip), timeout, 'fcrdns').catch(() => undefined);
  const zone = await listed;
  if (zone) {
    ctx.log.child({ proto: 'smtp', part: 'policy' }).info({ ip, dnsbl: zone }, 'client listed in DNSBL; refused');
    // RFC 5782 §2.1; the reply names the list so the sender knows where to look.
    out.reject = { code: Reply.TransactionFailed, enhanced: '5.7.1', text: `Service unavailable; client [${ip}] blocked using ${zone}` };
  }
  return out;
}

/** The first zone (in configured order) that lists `ip`, or undefined. */
export async function dnsblLookup(ctx: ServerContext, ip: string, zones: string[]): Promise<string | undefined> {
  const rev = reverseName(ip);
  if (!rev) return undefined;
  const results = await Promise.all(
    zones.map(async (zone) => {
      try {
        const addrs = (await ctx.resolver(`${rev}.${zone.replace(/^\.+|\.+$/g, '')}`, 'A')) as string[];
        // RFC 5782 §2.1: listed = an A record in 127.0.0.0/8; 127.255.255.x are
        // Spamhaus' "query refused" codes, not listings.
        return addrs.some((a) => a.startsWith('127.') && !a.startsWith('127.255.255.'));
      } catch {
        return false;
      }
    }),
  );
  const i = results.indexOf(true);
  return i >= 0 ? zones[i] : undefined;
}

/**
 * Forward-confirmed reverse DNS: a PTR name of `ip` whose A/AAAA records include `ip`
 * (RFC 8601 §2.7.3 "iprev"). Undefined when there is none or DNS fails.
 */
export async function fcrdns(ctx: ServerContext, ip: string): Promise<string | undefined> {
  const rev = reverseName(ip);
  if (!rev) return undefined;
  let names: string[];
  try {
    names = (await ctx.resolver(`${rev}.${isIP(ip) === 6 ? 'ip6.arpa' : 'in-addr.arpa'}`, 'PTR')) as string[];
  } catch (err) {
    if (!isNotFound(err)) ctx.log.debug({ ip, err: (err as Error).message }, 'PTR lookup failed');
    return undefined;
  }
  const family = isIP(ip);
  for (const name of names.slice(0, 10)) {
    try {
      const addrs = (await ctx.resolver(name, family === 6 ? 'AAAA' : 'A')) as string[];
      if (addrs.some((a) => sameIp(a, ip))) return name.replace(/\.$/, '');
    } catch {
      // try the next name
    }
  }
  return undefined;
}

// ---- header filter ------------------------------------------------------------------------

/**
 * For the spool (src/smtp/spool.ts writeFinal's filter): drops `Authentication-Results`
 * fields that claim our hostname as authserv-id (RFC 8601 §5), keeps every other byte.
 */
export function filterHeader(ctx: ServerContext, header: Buffer): Buffer {
  const { header: out, removed } = stripForgedAuthResults(header, ctx.config.hostname);
  if (removed > 0) ctx.log.child({ proto: 'smtp', part: 'policy' }).info({ removed }, 'removed forged Authentication-Results');
  return out;
}

export { stripForgedAuthResults };

// ---- helpers -------------------------------------------------------------------------------

class CheckTimeout extends Error {}

function withTimeout<T>(p: Promise<T>, ms: number, name: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CheckTimeout(`check ${name} timed out after ${ms} ms`)), ms);
    timer.unref();
  });
  // The losing promise may still settle later; never let it become an unhandled rejection.
  p.catch(() => undefined);
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/**
 * Which DNS temporary error could change the outcome, if any: SPF temperror (unless DMARC
 * already passed), DMARC temperror, or a DKIM temperror on mail whose DMARC failed.
 */
function temporaryProblem(a: InboundAuthResult): 'spf' | 'dmarc' | 'dkim' | undefined {
  if (a.dmarc.result === 'pass') return undefined;
  if (a.spf.result === 'temperror') return 'spf';
  if (a.dmarc.result === 'temperror') return 'dmarc';
  if (a.dmarc.result === 'fail' && a.dkim.some((d) => d.result === 'temperror')) return 'dkim';
  return undefined;
}

function summarizeDkim(a: InboundAuthResult): string {
  if (a.dkim.some((d) => d.result === 'pass')) return 'pass';
  const first = a.dkim.find((d) => d.result !== 'none');
  return first ? first.result : 'none';
}

function domainOf(addr: string): string | undefined {
  const at = addr.lastIndexOf('@');
  if (at < 0) return undefined;
  const d = addr.slice(at + 1).trim().replace(/>$/, '').toLowerCase();
  return d || undefined;
}

/** Relaxed alignment without a public-suffix list: equal, or one a subdomain of the other. */
function related(a: string, b: string): boolean {
  const x = a.toLowerCase().replace(/\.$/, '');
  const y = b.toLowerCase().replace(/\.$/, '');
  return x === y || x.endsWith(`.${y}`) || y.endsWith(`.${x}`);
}

function sameIp(a: string, b: string): boolean {
  if (a === b) return true;
  if (isIP(a) === 6 && isIP(b) === 6) {
    const bl = new BlockList();
    bl.addAddress(a, 'ipv6');
    return bl.check(b, 'ipv6');
  }
  return false;
}

const trusted = cachedNetworkMatcher();

function isTrusted(ctx: ServerContext, remote: string): boolean {
  return trusted(ctx.config.checks.trustedNetworks, remote);
}

/** "1.2.3.4" → "4.3.2.1"; IPv6 → nibbles reversed (RFC 5782 §2.4, RFC 3596 §2.5). */
function reverseName(ip: string): string | undefined {
  const fam = isIP(ip);
  if (fam === 4) return ip.split('.').reverse().join('.');
  if (fam === 6) {
    const halves = ip.split('::');
    const head = halves[0] ? halves[0].split(':') : [];
    const tail = halves.length > 1 && halves[1] ? halves[1].split(':') : [];
    if (tail.some((w) => w.includes('.')) || head.some((w) => w.includes('.'))) return undefined; // embedded IPv4: skip
    const words = halves.length > 1 ? [...head, ...new Array<string>(8 - head.length - tail.length).fill('0'), ...tail] : head;
    return words
      .map((w) => w.padStart(4, '0'))
      .join('')
      .split('')
      .reverse()
      .join('.');
  }
  return undefined;
}

/** When checks could not finish but policy says accept: say so in the trace header (RFC 8601 §2.2). */
function unknownResultHeader(ctx: ServerContext, input: InboundInput, why: string): string {
  const from = input.mailFrom ? ` smtp.mailfrom=${input.mailFrom}` : '';
  return `Authentication-Results: ${ctx.config.hostname};\r\n spf=temperror (${why})${from}\r\n`;
}
