/**
 * The injected DNS resolver. Everything that resolves (SPF, DKIM, DMARC, MX, MTA-STS,
 * DNSBL, `dns check`) takes a `Resolver`, so tests point it at a real DNS server on
 * loopback and production uses the system's servers.
 *
 * The shape is mailauth's: `resolver(name, rrtype)` resolving like
 * `dns.promises.resolve(name, rrtype)`, rejecting with Node's DNS error codes
 * (ENOTFOUND = NXDOMAIN, ENODATA = no records of that type, ETIMEOUT/ESERVFAIL =
 * temporary). Every query has a timeout, so a dead DNS server delays but never hangs.
 */
import { promises as dnsPromises } from 'node:dns';

export type Resolver = (name: string, rrtype: string) => Promise<any>;

export interface ResolverOptions {
  /** "ip" or "ip:port" (IPv6 as "[::1]:53"); empty: the system's servers. */
  servers?: string[];
  timeoutMs?: number;
  tries?: number;
}

/** Makes a resolver bound to the given servers (or the system's). */
export function createResolver(opts: ResolverOptions = {}): Resolver {
  const timeout = opts.timeoutMs ?? 5000;
  const tries = opts.tries ?? 2;
  const r = new dnsPromises.Resolver({ timeout: Math.max(100, Math.floor(timeout / tries)), tries });
  if (opts.servers && opts.servers.length > 0) r.setServers(opts.servers);
  return (name: string, rrtype: string) => {
    const q = (r.resolve as (n: string, t: string) => Promise<unknown>)(name, rrtype);
    // Belt and braces: c-ares' own timeout applies per try; this bounds the whole query.
    return withTimeout(q, timeout + 500, name, rrtype);
  };
}

function withTimeout<T>(p: Promise<T>, ms: number, name: string, rrtype: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new Error(`DNS query ${rrtype} ${name} timed out`) as NodeJS.ErrnoException;
      err.code = 'ETIMEOUT';
      reject(err);
    }, ms);
    timer.unref();
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** True for answers that mean "the name or the record does not exist" (not a temporary error). */
export function isNotFound(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOTFOUND' || code === 'ENODATA';
}
