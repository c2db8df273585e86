/**
 * One certificate order against the CA (RFC 8555 §7.4) with acme-client: the account
 * key, the CSR, http-01 challenges, and checking what comes back. Scheduling and
 * installation are the manager's (index.ts); this module only talks to the CA.
 */
import { existsSync, readFileSync } from 'node:fs';
import https from 'node:https';
import type AcmeClient from 'acme-client';
import type { Config } from '../config/index.js';
import type { Logger } from '../log.js';
import { certPaths, describeCertificate, validatePair, writeFileAtomic, type CertificateInfo, type CertificatePair } from '../tls/index.js';

/**
 * acme-client (with axios) costs ~27 MB resident: it is loaded when the first order
 * runs, so self-signed and manual installations and CLI verbs never load it.
 */
type Acme = typeof AcmeClient;
let acmeModule: Promise<Acme> | undefined;
const loadAcme = (): Promise<Acme> => (acmeModule ??= import('acme-client').then((m) => m.default));
let caAgentFor: string | undefined;

export interface Issued {
  pair: CertificatePair;
  info: CertificateInfo;
}

export interface OrdererOptions {
  config: Config;
  log: Logger;
  names: string[];
  /** token → key authorization, served by the http-01 route while the order runs. */
  challenges: Map<string, string>;
  /** acme-client's polling of pending challenges/orders: first delay. */
  pollMinMs: number;
}

/**
 * Orders certificates for `names` from the configured directory. One client (and
 * account URL) is kept between orders: registering an existing key again makes
 * acme-client send an account update, which some CAs refuse when empty. `forget()`
 * drops it after a failure, so the next order registers afresh in case the CA forgot
 * the account (RFC 8555 §7.3.1: a known key gets the existing account back).
 */
export function createOrderer(o: OrdererOptions): { order(): Promise<Issued>; forget(): void } {
  const acmeCfg = o.config.tls.acme;
  const paths = certPaths(o.config.dataRoot);
  let client: AcmeClient.Client | undefined;

  const acmeReady = async (): Promise<Acme> => {
    const acme = await loadAcme();
    if (acmeCfg.caFile && caAgentFor !== acmeCfg.caFile) {
      // acme-client has one axios instance per process; the CA file applies to it.
      acme.axios.defaults.httpsAgent = new https.Agent({ ca: readFileSync(acmeCfg.caFile) });
      caAgentFor = acmeCfg.caFile;
    }
    acme.setLogger((msg) => o.log.trace({ acmeClient: msg }, 'acme-client'));
    return acme;
  };

  async function accountKey(acme: Acme): Promise<Buffer> {
    if (existsSync(paths.acmeAccountKey)) return readFileSync(paths.acmeAccountKey);
    const key = await acme.crypto.createPrivateEcdsaKey('P-256');
    writeFileAtomic(paths.acmeAccountKey, key.toString(), 0o600);
    o.log.info({ file: paths.acmeAccountKey }, 'created acme account key');
    return key;
  }

  async function order(): Promise<Issued> {
    const acme = await acmeReady();
    client ??= new acme.Client({
      directoryUrl: acmeCfg.directoryUrl,
      accountKey: await accountKey(acme),
      backoffMin: o.pollMinMs,
      backoffMax: 30_000,
      backoffAttempts: 10,
    });
    const [key, csr] = await acme.crypto.createCsr({ commonName: o.names[0], altNames: o.names }, await acme.crypto.createPrivateRsaKey(2048));
    const chain = await client.auto({
      csr,
      email: acmeCfg.email || undefined,
      termsOfServiceAgreed: true,
      challengePriority: ['http-01'],
      // The CA's own validation reports the reason; acme-client's self-check would
      // fetch port 80 through the system resolver, which is wrong behind NAT and in tests.
      skipChallengeVerification: true,
      challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
        o.challenges.set(challenge.token, keyAuthorization);
      },
      challengeRemoveFn: async (_authz, challenge) => {
        o.challenges.delete(challenge.token);
      },
    });
    const pair: CertificatePair = { key: key.toString(), cert: chain };
    validatePair(pair);
    const info = describeCertificate(chain);
    const missing = o.names.filter((n) => !info.names.includes(n));
    if (missing.length) throw new Error(`issued certificate lacks ${missing.join(', ')}`);
    return { pair, info };
  }

  return {
    order,
    forget: () => {
      client = undefined;
    },
  };
}

/** The CA's problem detail when there is one (RFC 8555 §6.7), else the error message. */
export function describeError(err: unknown): string {
  const e = err as { message?: string; response?: { data?: { detail?: string; type?: string } } };
  const detail = e.response?.data?.detail;
  if (detail) return `${e.response?.data?.type ?? 'acme error'}: ${detail}`;
  return e.message ?? String(err);
}
