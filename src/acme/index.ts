/**
 * ACME (RFC 8555) certificates for the mail hostname and `tls.acme.extra_names`, with
 * acme-client, http-01 challenges answered by the built-in HTTP listener, renewal, and
 * hot installation into the shared TLS holder (so every listener serves the new chain
 * to new connections at once).
 *
 * Implementation notes:
 * - One certificate for all names (hostname first, it is the CN). RSA-2048 key, new on
 *   every order. The account key (ECDSA P-256) is made once and kept; the manager
 *   registers it at its first order and again after any failed one (the CA answers a known
 *   key with the existing account, RFC 8555 §7.3.1), so a CA that forgot the account
 *   (Pebble restarts, staging resets) costs one failed attempt at most.
 * - http-01 (RFC 8555 §8.3): the key authorization is served at
 *   `/.well-known/acme-challenge/<token>` from memory, only while the order runs.
 * - Renewal is due when a third of the lifetime is left (Let's Encrypt's advice: 30 of
 *   90 days). A certificate that is not the one this manager issued from the configured
 *   directory for exactly the configured names (the self-signed bootstrap pair, a
 *   changed name list, staging → production) is replaced at once.
 * - A failed order leaves the current certificate in service, is logged at error with
 *   the CA's reason, and is retried after 5 min, 10, 20 … up to 6 h (Let's Encrypt
 *   allows 5 failed validations per hostname and hour).
 * - `mailserver tls renew` runs in another process: it writes `certs/acme-renew-request`
 *   (a JSON `{id}`), which this manager polls for, removes, and answers by a forced
 *   order whose outcome it records in `certs/acme-state.json` (`handledRequest`), where
 *   the CLI waits for it. Only the server process ever talks to the CA or writes
 *   certificates, so two orders never race.
 *
 * Files (all under `<data>/certs/`, written atomically, keys 0600): `acme-account-key.pem`,
 * `acme-key.pem`, `acme-cert.pem` (leaf + intermediates, served as the full chain),
 * `acme-state.json` (serial, validity, next renewal, failures, last error).
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import type AcmeClient from 'acme-client';

/**
 * acme-client (with axios) costs ~27 MB resident: it is loaded when the first order
 * runs, so self-signed and manual installations and CLI verbs never load it.
 */
type Acme = typeof AcmeClient;
let acmeModule: Promise<Acme> | undefined;
const loadAcme = (): Promise<Acme> => (acmeModule ??= import('acme-client').then((m) => m.default));
import type { ServerContext } from '../context.js';
import type { HttpRoutes } from '../http/index.js';
import { sendText } from '../http/index.js';
import { certPaths, describeCertificate, validatePair, writeFileAtomic, type CertificateInfo, type CertificatePair } from '../tls/index.js';

/** What the manager remembers between runs (certs/acme-state.json). */
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

export type RenewOutcome = { ok: true; serial: string; notAfter: Date } | { ok: false; error: string };

export interface AcmeManager {
  /** Orders now, whatever the schedule (joins an order already running). */
  renewNow(reason?: string): Promise<RenewOutcome>;
  /** A copy of the current state. */
  state(): AcmeState;
  /** Resolves when no order is running. */
  idle(): Promise<void>;
  /** Stops timers and the challenge route; waits (briefly) for a running order. */
  stop(): Promise<void>;
}

export interface AcmeOptions {
  /** Fraction of the lifetime left when renewal is due. Default 1/3. */
  renewFraction?: number;
  /** First retry delay after a failed order, doubled each time. Default 5 min. */
  retryBaseMs?: number;
  /** Longest retry delay. Default 6 h. */
  retryMaxMs?: number;
  /** How often to look for a `tls renew` request file. Default 2 s. */
  requestPollMs?: number;
  /** acme-client's polling of pending challenges/orders: first delay. Default 3 s. */
  pollMinMs?: number;
  /** Do not order at start even if due (tests that drive renewNow themselves). */
  noInitialOrder?: boolean;
  /** The clock for scheduling (tests move it forward to reach a renewal time). */
  now?: () => number;
}

const RENEW_FRACTION = 1 / 3;
const MAX_TIMER_MS = 6 * 3600_000;
const CHALLENGE_PREFIX = '/.well-known/acme-challenge/';

export function readAcmeState(dataRoot: string): AcmeState {
  try {
    const s = JSON.parse(readFileSync(certPaths(dataRoot).acmeState, 'utf8')) as AcmeState;
    return { ...s, failures: s.failures ?? 0 };
  } catch {
    return { failures: 0 };
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

let caAgentFor: string | undefined;

/**
 * Starts the manager: registers the http-01 route on `http.routes`, then orders at
 * once if the certificate in service is not a current one from this CA, and otherwise
 * sleeps until renewal is due.
 */
export function startAcme(
  ctx: Pick<ServerContext, 'config' | 'log' | 'tls'>,
  http: { routes: HttpRoutes },
  opts: AcmeOptions = {},
): AcmeManager {
  const log = ctx.log.child({ proto: 'acme' });
  const cfg = ctx.config;
  const paths = certPaths(cfg.dataRoot);
  const names = acmeNames(cfg);
  const directoryUrl = cfg.tls.acme.directoryUrl;
  const fraction = opts.renewFraction ?? RENEW_FRACTION;
  const retryBase = opts.retryBaseMs ?? 5 * 60_000;
  const retryMax = opts.retryMaxMs ?? MAX_TIMER_MS;
  const now = opts.now ?? Date.now;

  let state = readAcmeState(cfg.dataRoot);
  let inflight: Promise<RenewOutcome> | null = null;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const challenges = new Map<string, string>();
  let client: AcmeClient.Client | undefined;

  const acmeReady = async (): Promise<Acme> => {
    const acme = await loadAcme();
    if (cfg.tls.acme.caFile && caAgentFor !== cfg.tls.acme.caFile) {
      // acme-client has one axios instance per process; the CA file applies to it.
      acme.axios.defaults.httpsAgent = new https.Agent({ ca: readFileSync(cfg.tls.acme.caFile) });
      caAgentFor = cfg.tls.acme.caFile;
    }
    acme.setLogger((msg) => log.trace({ acmeClient: msg }, 'acme-client'));
    return acme;
  };

  // RFC 8555 §8.3: GET /.well-known/acme-challenge/<token> → the key authorization.
  const removeRoute = http.routes.add('GET', CHALLENGE_PREFIX, (_req, res, m) => {
    const keyAuth = challenges.get(m.rest);
    if (keyAuth === undefined) {
      log.warn({ token: m.rest.slice(0, 64) }, 'http-01 request for an unknown token');
      sendText(res, 404, 'unknown token\n');
      return;
    }
    log.info({ token: m.rest }, 'answered http-01 challenge');
    sendText(res, 200, keyAuth, 'application/octet-stream');
  });

  function saveState(): void {
    try {
      writeFileAtomic(paths.acmeState, JSON.stringify(state, null, 2) + '\n', 0o644);
    } catch (err) {
      log.error({ err: (err as Error).message }, 'cannot write acme state');
    }
  }

  /** The current certificate is the one we issued, from this directory, for these names. */
  function currentIsOurs(): boolean {
    const info = ctx.tls.describe();
    return (
      state.serial === info.serial &&
      state.directoryUrl === directoryUrl &&
      names.every((n) => info.names.includes(n)) &&
      (state.names ?? []).length === names.length
    );
  }

  function dueAt(): number {
    let at = currentIsOurs() ? renewalTime(ctx.tls.describe(), fraction).getTime() : 0;
    if (state.failures > 0 && state.nextRenewal) at = Math.max(at, Date.parse(state.nextRenewal));
    return at;
  }

  function evaluate(): void {
    if (stopped || inflight) return;
    if (timer) clearTimeout(timer);
    timer = undefined;
    const at = dueAt();
    const iso = new Date(Math.max(at, now())).toISOString();
    if (state.nextRenewal !== iso && at > now()) {
      state.nextRenewal = iso;
      saveState();
    }
    if (at <= now()) {
      void run('due');
      return;
    }
    timer = setTimeout(evaluate, Math.min(at - now(), MAX_TIMER_MS));
    timer.unref();
  }

  function run(reason: string): Promise<RenewOutcome> {
    if (inflight) return inflight;
    inflight = order(reason).finally(() => {
      inflight = null;
      evaluate();
    });
    return inflight;
  }

  async function accountKey(acme: Acme): Promise<Buffer> {
    if (existsSync(paths.acmeAccountKey)) return readFileSync(paths.acmeAccountKey);
    const key = await acme.crypto.createPrivateEcdsaKey('P-256');
    writeFileAtomic(paths.acmeAccountKey, key.toString(), 0o600);
    log.info({ file: paths.acmeAccountKey }, 'created acme account key');
    return key;
  }

  async function order(reason: string): Promise<RenewOutcome> {
    const started = new Date();
    state.lastAttempt = started.toISOString();
    log.info({ names, directoryUrl, reason }, 'ordering certificate');
    try {
      const acme = await acmeReady();
      // One client (and account URL) per manager: registering an existing key again
      // makes acme-client send an account update, which some CAs refuse when empty.
      client ??= new acme.Client({
        directoryUrl,
        accountKey: await accountKey(acme),
        backoffMin: opts.pollMinMs ?? 3_000,
        backoffMax: 30_000,
        backoffAttempts: 10,
      });
      const [key, csr] = await acme.crypto.createCsr({ commonName: names[0], altNames: names }, await acme.crypto.createPrivateRsaKey(2048));
      const chain = await client.auto({
        csr,
        email: cfg.tls.acme.email || undefined,
        termsOfServiceAgreed: true,
        challengePriority: ['http-01'],
        // The CA's own validation reports the reason; acme-client's self-check would
        // fetch port 80 through the system resolver, which is wrong behind NAT and in tests.
        skipChallengeVerification: true,
        challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
          challenges.set(challenge.token, keyAuthorization);
        },
        challengeRemoveFn: async (_authz, challenge) => {
          challenges.delete(challenge.token);
        },
      });
      if (stopped) throw new Error('stopped during the order');
      const pair: CertificatePair = { key: key.toString(), cert: chain };
      validatePair(pair);
      const info = describeCertificate(chain);
      const missing = names.filter((n) => !info.names.includes(n));
      if (missing.length) throw new Error(`issued certificate lacks ${missing.join(', ')}`);
      writeFileAtomic(paths.acmeKey, pair.key, 0o600);
      writeFileAtomic(paths.acmeCert, pair.cert, 0o644);
      ctx.tls.setCertificate(pair);
      state = {
        ...state,
        directoryUrl,
        names,
        serial: info.serial,
        notBefore: info.notBefore.toISOString(),
        notAfter: info.notAfter.toISOString(),
        issuedAt: new Date().toISOString(),
        nextRenewal: renewalTime(info, fraction).toISOString(),
        failures: 0,
        lastError: undefined,
      };
      saveState();
      log.info(
        { names: info.names, issuer: info.issuer, serial: info.serial, notAfter: state.notAfter, nextRenewal: state.nextRenewal, ms: Date.now() - started.getTime() },
        'new certificate installed',
      );
      return { ok: true, serial: info.serial, notAfter: info.notAfter };
    } catch (err) {
      // Register afresh next time, in case the CA forgot the account (staging resets).
      client = undefined;
      const msg = describeError(err);
      if (stopped) {
        // Shutting down mid-order is not the CA's fault: no backoff recorded.
        log.info({ err: msg }, 'order abandoned at shutdown');
        return { ok: false, error: msg };
      }
      state.failures += 1;
      const delay = Math.min(retryBase * 2 ** (state.failures - 1), retryMax);
      state.lastError = msg;
      state.nextRenewal = new Date(now() + delay).toISOString();
      saveState();
      log.error(
        { err: msg, names, directoryUrl, failures: state.failures, retryInMs: delay, retryAt: state.nextRenewal, keptSerial: ctx.tls.describe().serial },
        'certificate order failed; keeping the current certificate',
      );
      return { ok: false, error: msg };
    }
  }

  async function pollRequest(): Promise<void> {
    if (stopped || !existsSync(paths.acmeRenewRequest)) return;
    let id = '';
    try {
      id = (JSON.parse(readFileSync(paths.acmeRenewRequest, 'utf8')) as { id?: string }).id ?? '';
    } catch {
      // A half-written or foreign file still counts as a request.
    }
    rmSync(paths.acmeRenewRequest, { force: true });
    log.info({ id }, 'renewal requested by the CLI');
    // A request that arrives during an order gets a fresh one afterwards.
    if (inflight) await inflight;
    const outcome = await run('cli request');
    state.handledRequest = id;
    state.handledResult = outcome.ok ? 'ok' : 'failed';
    state.handledError = outcome.ok ? undefined : outcome.error;
    saveState();
  }
  let polling = false;
  const requestTimer = setInterval(() => {
    if (polling) return;
    polling = true;
    pollRequest()
      .catch((err) => log.error({ err: (err as Error).message }, 'renew request handling failed'))
      .finally(() => {
        polling = false;
      });
  }, opts.requestPollMs ?? 2_000);
  requestTimer.unref();

  if (!opts.noInitialOrder) evaluate();

  return {
    renewNow: (reason = 'forced') => run(reason),
    state: () => ({ ...state }),
    idle: async () => {
      while (inflight) await inflight.catch(() => undefined);
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      clearInterval(requestTimer);
      removeRoute();
      if (inflight) {
        await Promise.race([inflight.catch(() => undefined), new Promise((r) => setTimeout(r, 5_000).unref())]);
      }
    },
  };
}

/** The CA's problem detail when there is one (RFC 8555 §6.7), else the error message. */
function describeError(err: unknown): string {
  const e = err as { message?: string; response?: { data?: { detail?: string; type?: string } } };
  const detail = e.response?.data?.detail;
  if (detail) return `${e.response?.data?.type ?? 'acme error'}: ${detail}`;
  return e.message ?? String(err);
}
