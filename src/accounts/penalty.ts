/**
 * Failed logins slow down the next ones from the same client, across connections and
 * protocols (IMAP, POP3, submission), the way Dovecot's auth_penalty does. Without it,
 * a client that opens many connections guesses passwords as fast as they open, each
 * guess costing us one scrypt.
 *
 * - Clients are counted per IPv4 address and per IPv6 /64 (src/util/net.ts clientKey).
 * - After n failures, the next attempt from that client waits
 *   min(penalty_base_ms · 2^(n-1), penalty_max_ms) before its credentials are even
 *   checked, and attempts from a penalised client run one at a time, so parallel
 *   connections do not multiply its rate.
 * - A success clears the count (as Dovecot does); so does an hour without failures.
 * - Networks in `auth.penalty_exempt` (loopback by default: a webmail on the same host
 *   logs every user in from there) are never penalised.
 * The per-attempt `auth.failure_delay_ms` still applies on top, in each protocol.
 */
import type { Config } from '../config/index.js';
import { cachedNetworkMatcher, clientKey } from '../util/net.js';

/** A failure count is forgotten this long after the last failure. */
const FORGET_MS = 3600_000;
/** Clients tracked at most; the oldest are dropped beyond this. */
const MAX_CLIENTS = 100_000;

interface Entry {
  failures: number;
  last: number;
  /** The attempts of this client waiting their turn, chained. */
  tail: Promise<void>;
}

export class AuthPenalty {
  private readonly clients = new Map<string, Entry>();
  private readonly exempt = cachedNetworkMatcher();

  constructor(private readonly auth: Config['auth']) {}

  /**
   * Runs one login attempt of a client: `attempt` checks the credentials and resolves
   * to the account, or undefined for a failure. Waits first when the client has failed
   * before (see the module comment).
   */
  async run<T>(remoteAddress: string, attempt: () => Promise<T | undefined>): Promise<T | undefined> {
    if (this.auth.penaltyMaxMs <= 0 || this.exempt(this.auth.penaltyExempt, remoteAddress)) return attempt();
    const key = clientKey(remoteAddress);
    const e = this.clients.get(key);
    if (!e || e.failures === 0 || Date.now() - e.last > FORGET_MS) return this.settle(key, attempt);
    const turn = e.tail.then(async () => {
      await new Promise((r) => setTimeout(r, this.delayMs(e.failures)).unref());
      return this.settle(key, attempt);
    });
    e.tail = turn.then(
      () => undefined,
      () => undefined,
    );
    return turn;
  }

  /** The wait before the next attempt of a client with this many failures. */
  delayMs(failures: number): number {
    return Math.min(this.auth.penaltyMaxMs, this.auth.penaltyBaseMs * 2 ** Math.min(failures - 1, 30));
  }

  /** Failures on record for a client address (tests, logs). */
  failuresOf(remoteAddress: string): number {
    return this.clients.get(clientKey(remoteAddress))?.failures ?? 0;
  }

  private async settle<T>(key: string, attempt: () => Promise<T | undefined>): Promise<T | undefined> {
    const r = await attempt();
    const e = this.clients.get(key);
    if (r !== undefined) {
      // Attempts already waiting keep their place (they hold the old entry's chain).
      if (e) this.clients.delete(key);
      return r;
    }
    if (e) {
      e.failures = Date.now() - e.last > FORGET_MS ? 1 : e.failures + 1;
      e.last = Date.now();
      // Most recently failing last: the map's order is the eviction order.
      this.clients.delete(key);
      this.clients.set(key, e);
    } else {
      this.clients.set(key, { failures: 1, last: Date.now(), tail: Promise.resolve() });
      if (this.clients.size > MAX_CLIENTS) this.clients.delete(this.clients.keys().next().value as string);
    }
    return r;
  }
}

/** Runs a login attempt under the penalty when there is one (contexts built by tests may have none). */
export function penalised<T>(penalty: AuthPenalty | undefined, remoteAddress: string, attempt: () => Promise<T | undefined>): Promise<T | undefined> {
  return penalty ? penalty.run(remoteAddress, attempt) : attempt();
}
