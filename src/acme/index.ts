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
import type { ServerContext } from '../context.js';
import type { HttpRoutes } from '../http/index.js';
import { sendText } from '../http/index.js';
import type { Logger } from '../log.js';
import { certPaths, writeFileAtomic } from '../tls/index.js';
import { createOrderer, describeError, type Issued } from './order.js';
import { watchRenewRequests } from './requests.js';
import { acmeNames, readAcmeState, renewalTime, RENEW_FRACTION, writeAcmeState, type AcmeState } from './state.js';

export { acmeNames, readAcmeState, renewalTime, type AcmeState } from './state.js';

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

type AcmeContext = Pick<ServerContext, 'config' | 'log' | 'tls'>;

const MAX_TIMER_MS = 6 * 3600_000;
const CHALLENGE_PREFIX = '/.well-known/acme-challenge/';

/**
 * Starts the manager: registers the http-01 route on `http.routes`, then orders at
 * once if the certificate in service is not a current one from this CA, and otherwise
 * sleeps until renewal is due.
 */
export function startAcme(ctx: AcmeContext, http: { routes: HttpRoutes }, opts: AcmeOptions = {}): AcmeManager {
  const m = new Manager(ctx, http.routes, opts);
  if (!opts.noInitialOrder) m.evaluate();
  return {
    renewNow: (reason = 'forced') => m.run(reason),
    state: () => ({ ...m.state }),
    idle: async () => {
      while (m.inflight) await m.inflight.catch(() => undefined);
    },
    stop: () => m.stop(),
  };
}

/** The schedule (due → order → next due, or backoff after a failure) and the state it keeps. */
class Manager {
  state: AcmeState;
  inflight: Promise<RenewOutcome> | null = null;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly log: Logger;
  private readonly names: string[];
  private readonly directoryUrl: string;
  private readonly fraction: number;
  private readonly now: () => number;
  private readonly orderer: ReturnType<typeof createOrderer>;
  private readonly removeRoute: () => void;
  private readonly stopRequests: () => void;

  constructor(
    private readonly ctx: AcmeContext,
    routes: HttpRoutes,
    private readonly opts: AcmeOptions,
  ) {
    const cfg = ctx.config;
    this.log = ctx.log.child({ proto: 'acme' });
    this.names = acmeNames(cfg);
    this.directoryUrl = cfg.tls.acme.directoryUrl;
    this.fraction = opts.renewFraction ?? RENEW_FRACTION;
    this.now = opts.now ?? Date.now;
    this.state = readAcmeState(cfg.dataRoot);
    const challenges = new Map<string, string>();
    this.removeRoute = serveChallenges(routes, challenges, this.log);
    this.orderer = createOrderer({ config: cfg, log: this.log, names: this.names, challenges, pollMinMs: opts.pollMinMs ?? 3_000 });
    this.stopRequests = watchRenewRequests(certPaths(cfg.dataRoot).acmeRenewRequest, opts.requestPollMs ?? 2_000, this.log, (id) => this.request(id));
  }

  private saveState(): void {
    writeAcmeState(this.ctx.config.dataRoot, this.state, this.log);
  }

  /** The current certificate is the one we issued, from this directory, for these names. */
  private currentIsOurs(): boolean {
    const info = this.ctx.tls.describe();
    const { state, names } = this;
    return (
      state.serial === info.serial &&
      state.directoryUrl === this.directoryUrl &&
      names.every((n) => info.names.includes(n)) &&
      (state.names ?? []).length === names.length
    );
  }

  private dueAt(): number {
    let at = this.currentIsOurs() ? renewalTime(this.ctx.tls.describe(), this.fraction).getTime() : 0;
    if (this.state.failures > 0 && this.state.nextRenewal) at = Math.max(at, Date.parse(this.state.nextRenewal));
    return at;
  }

  evaluate(): void {
    if (this.stopped || this.inflight) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const at = this.dueAt();
    const now = this.now();
    const iso = new Date(Math.max(at, now)).toISOString();
    if (this.state.nextRenewal !== iso && at > now) {
      this.state.nextRenewal = iso;
      this.saveState();
    }
    if (at <= now) {
      void this.run('due');
      return;
    }
    this.timer = setTimeout(() => this.evaluate(), Math.min(at - now, MAX_TIMER_MS));
    this.timer.unref();
  }

  run(reason: string): Promise<RenewOutcome> {
    if (this.inflight) return this.inflight;
    this.inflight = this.order(reason).finally(() => {
      this.inflight = null;
      this.evaluate();
    });
    return this.inflight;
  }

  private async order(reason: string): Promise<RenewOutcome> {
    const started = Date.now();
    const { names, directoryUrl } = this;
    this.state.lastAttempt = new Date(started).toISOString();
    this.log.info({ names, directoryUrl, reason }, 'ordering certificate');
    try {
      const issued = await this.orderer.order();
      if (this.stopped) throw new Error('stopped during the order');
      this.state = { ...this.state, ...installCertificate(this.ctx, issued, this.fraction), directoryUrl, names, failures: 0, lastError: undefined };
      this.saveState();
      const { info } = issued;
      this.log.info(
        { names: info.names, issuer: info.issuer, serial: info.serial, notAfter: this.state.notAfter, nextRenewal: this.state.nextRenewal, ms: Date.now() - started },
        'new certificate installed',
      );
      return { ok: true, serial: info.serial, notAfter: info.notAfter };
    } catch (err) {
      this.orderer.forget();
      return this.failed(describeError(err));
    }
  }

  /** A failed order: the current certificate stays; retry after 5 min, 10, 20 … up to 6 h. */
  private failed(msg: string): RenewOutcome {
    const state = this.state;
    if (this.stopped) {
      // Shutting down mid-order is not the CA's fault: no backoff recorded.
      this.log.info({ err: msg }, 'order abandoned at shutdown');
      return { ok: false, error: msg };
    }
    state.failures += 1;
    const delay = Math.min((this.opts.retryBaseMs ?? 5 * 60_000) * 2 ** (state.failures - 1), this.opts.retryMaxMs ?? MAX_TIMER_MS);
    state.lastError = msg;
    state.nextRenewal = new Date(this.now() + delay).toISOString();
    this.saveState();
    this.log.error(
      { err: msg, names: this.names, directoryUrl: this.directoryUrl, failures: state.failures, retryInMs: delay, retryAt: state.nextRenewal, keptSerial: this.ctx.tls.describe().serial },
      'certificate order failed; keeping the current certificate',
    );
    return { ok: false, error: msg };
  }

  /** A `mailserver tls renew` request (requests.ts): a forced order, its outcome recorded for the CLI. */
  private async request(id: string): Promise<void> {
    // A request that arrives during an order gets a fresh one afterwards.
    if (this.inflight) await this.inflight;
    const outcome = await this.run('cli request');
    this.state.handledRequest = id;
    this.state.handledResult = outcome.ok ? 'ok' : 'failed';
    this.state.handledError = outcome.ok ? undefined : outcome.error;
    this.saveState();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.stopRequests();
    this.removeRoute();
    if (this.inflight) {
      await Promise.race([this.inflight.catch(() => undefined), new Promise((r) => setTimeout(r, 5_000).unref())]);
    }
  }
}

/** RFC 8555 §8.3: GET /.well-known/acme-challenge/<token> → the key authorization, from memory. Returns the route's removal. */
function serveChallenges(routes: HttpRoutes, challenges: ReadonlyMap<string, string>, log: Logger): () => void {
  return routes.add('GET', CHALLENGE_PREFIX, (_req, res, m) => {
    const keyAuth = challenges.get(m.rest);
    if (keyAuth === undefined) {
      log.warn({ token: m.rest.slice(0, 64) }, 'http-01 request for an unknown token');
      sendText(res, 404, 'unknown token\n');
      return;
    }
    log.info({ token: m.rest }, 'answered http-01 challenge');
    sendText(res, 200, keyAuth, 'application/octet-stream');
  });
}

/**
 * Writes the new key and chain (key 0600) and puts them in service for new connections
 * on every listener; returns what the state records of them.
 */
function installCertificate(ctx: AcmeContext, { pair, info }: Issued, fraction: number): Partial<AcmeState> {
  const paths = certPaths(ctx.config.dataRoot);
  writeFileAtomic(paths.acmeKey, pair.key, 0o600);
  writeFileAtomic(paths.acmeCert, pair.cert, 0o644);
  ctx.tls.setCertificate(pair);
  return {
    serial: info.serial,
    notBefore: info.notBefore.toISOString(),
    notAfter: info.notAfter.toISOString(),
    issuedAt: new Date().toISOString(),
    nextRenewal: renewalTime(info, fraction).toISOString(),
  };
}
