/**
 * What the ACME manager remembers between runs (`certs/acme-state.json`), and the
 * schedule arithmetic: which names, when a certificate is due, how long to back off.
 */
import type { Logger } from '../log.js';
import type { ServerContext } from '../context.js';
import { certPaths, writeFileAtomic, type CertificateInfo } from '../tls/index.js';
import { readFileSync } from 'node:fs';

export interface AcmeState {
  directoryUrl?: string;
  names?: string[];
  /** Serial of the certificate this manager last issued. */
  serial?: string;
  notBefore?: string;
  notAfter?: string;
  issuedAt?: string;
  /** When the next order is due (renewal time, or the retry time after a failure). */
  nextRenewal?: string;
  /** Consecutive failed orders. */
  failures: number;
  lastAttempt?: string;
  lastError?: string;
  /** The id of the last `mailserver tls renew` request handled, and its outcome. */
  handledRequest?: string;
  handledResult?: 'ok' | 'failed';
  handledError?: string;
}

/** Renewal is due when this fraction of the lifetime is left (Let's Encrypt: 30 of 90 days). */
export const RENEW_FRACTION = 1 / 3;

export function readAcmeState(dataRoot: string): AcmeState {
  try {
    const s = JSON.parse(readFileSync(certPaths(dataRoot).acmeState, 'utf8')) as AcmeState;
    return { ...s, failures: s.failures ?? 0 };
  } catch {
    return { failures: 0 };
  }
}

/** Writes the state atomically; a failure is logged, not thrown (the order's outcome stands). */
export function writeAcmeState(dataRoot: string, state: AcmeState, log: Logger): void {
  try {
    writeFileAtomic(certPaths(dataRoot).acmeState, JSON.stringify(state, null, 2) + '\n', 0o644);
  } catch (err) {
    log.error({ err: (err as Error).message }, 'cannot write acme state');
  }
}

/** The names the certificate must cover: the hostname (CN) first, then the extra names. */
export function acmeNames(config: ServerContext['config']): string[] {
  return [...new Set([config.hostname, ...config.tls.acme.extraNames].map((n) => n.trim().toLowerCase()).filter(Boolean))];
}

/** When a certificate with this validity is due for renewal. */
export function renewalTime(info: Pick<CertificateInfo, 'notBefore' | 'notAfter'>, fraction = RENEW_FRACTION): Date {
  const life = info.notAfter.getTime() - info.notBefore.getTime();
  return new Date(info.notAfter.getTime() - life * fraction);
}
