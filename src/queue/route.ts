/**
 * Where mail for a domain goes: MX lookup through the injected resolver.
 *
 * - RFC 5321 §5.1: MX records in preference order (lowest first), equal preferences in
 *   random order; no MX records (NODATA) → the domain itself is the host ("implicit
 *   MX", its A/AAAA records).
 * - RFC 7505 §3: a single MX of "." (null MX) means the domain accepts no mail → bounce
 *   at once with 5.1.10, never retry.
 * - NXDOMAIN for the domain → permanent (5.1.2, bad destination system).
 * - Any other DNS failure (timeout, SERVFAIL) → temporary, retried later.
 * - A relay host (smarthost), when configured, replaces all of this.
 */
import net from 'node:net';
import type { Resolver } from '../dns/resolver.js';

export interface Host {
  /** The name to present for TLS (SNI, certificate check) and in logs. */
  name: string;
  port: number;
}

export type Route =
  | { kind: 'hosts'; hosts: Host[] }
  | { kind: 'permanent'; reply: string; status: string }
  | { kind: 'temporary'; reply: string; status: string };

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

function shuffle<T>(a: T[]): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** MX hosts for a domain (or the relay host), in the order to try them. */
export async function routeFor(resolver: Resolver, domain: string, port: number): Promise<Route> {
  let mx: Array<{ exchange: string; priority: number }>;
  try {
    mx = (await resolver(domain, 'MX')) as Array<{ exchange: string; priority: number }>;
  } catch (err) {
    const c = code(err);
    if (c === 'ENODATA') return { kind: 'hosts', hosts: [{ name: domain, port }] }; // RFC 5321 §5.1 implicit MX
    if (c === 'ENOTFOUND') return { kind: 'permanent', reply: `Host or domain name not found: ${domain} (DNS: NXDOMAIN)`, status: '5.1.2' };
    return { kind: 'temporary', reply: `DNS lookup of MX for ${domain} failed (${c ?? 'error'})`, status: '4.4.3' };
  }
  if (!Array.isArray(mx) || mx.length === 0) return { kind: 'hosts', hosts: [{ name: domain, port }] };
  // RFC 7505 §3: exactly one MX with an empty exchange ("."): the domain takes no mail.
  const isNull = (r: { exchange: string }) => r.exchange === '' || r.exchange === '.';
  if (mx.length === 1 && isNull(mx[0]!)) {
    return { kind: 'permanent', reply: `Domain ${domain} does not accept mail (null MX, RFC 7505)`, status: '5.1.10' };
  }
  const byPref = new Map<number, string[]>();
  for (const r of mx) {
    if (isNull(r)) continue;
    const l = byPref.get(r.priority) ?? [];
    l.push(r.exchange.replace(/\.$/, '').toLowerCase());
    byPref.set(r.priority, l);
  }
  const hosts: Host[] = [];
  for (const pref of [...byPref.keys()].sort((a, b) => a - b)) {
    for (const name of shuffle(byPref.get(pref)!)) hosts.push({ name, port });
  }
  return { kind: 'hosts', hosts };
}

/** The relay host's route: "host" or "host:port" ("[v6]:port"). */
export function relayRoute(spec: string, defaultPort: number): Route {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(spec) ?? /^([^:]+)(?::(\d+))?$/.exec(spec);
  if (!m) return { kind: 'temporary', reply: `invalid relay host "${spec}"`, status: '4.3.5' };
  return { kind: 'hosts', hosts: [{ name: m[1]!, port: m[2] ? Number(m[2]) : defaultPort }] };
}

/**
 * Addresses of one host, IPv4 first. An IP literal is its own address. Empty list when
 * the name has no addresses; throws only on temporary DNS failure.
 */
export async function addressesOf(resolver: Resolver, name: string): Promise<string[]> {
  if (net.isIP(name)) return [name];
  const out: string[] = [];
  let temporary: unknown;
  for (const type of ['A', 'AAAA']) {
    try {
      out.push(...((await resolver(name, type)) as string[]));
    } catch (err) {
      const c = code(err);
      if (c !== 'ENODATA' && c !== 'ENOTFOUND') temporary = err;
    }
  }
  if (out.length === 0 && temporary) throw temporary;
  return out;
}
