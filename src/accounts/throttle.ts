/**
 * Login throttling per client, across connections and protocols (IMAP, POP3,
 * submission, ManageSieve): Dovecot's auth_penalty, and a temporary ban as fail2ban
 * adds on top. Without it, a client that opens many connections guesses passwords as
 * fast as they open, each guess costing us one scrypt.
 *
 * - Clients are counted per IPv4 address and per IPv6 /64 (util/net.ts clientKey).
 * - Attempts of one client run one at a time, from its first: a burst of parallel
 *   attempts from a fresh address is a queue, so the second waits for the first's
 *   outcome (and its penalty when it failed).
 * - After n failures, the client's next attempt waits
 *   min(penalty_base_ms · 2^(n-1), penalty_max_ms) before its credentials are checked.
 * - An attempt whose client has gone (closed the connection, timed out) while it
 *   waited is dropped when its turn comes or during its wait, never checked, so a live
 *   attempt behind it does not wait for it.
 * - Failures are counted per client across login names. A success clears only the
 *   failures on the account it logged in to (it proves the client knows that password,
 *   so those were typos), never failures on other names: an attacker cannot reset its
 *   count by logging in to an account of its own. An hour without failures forgets all.
 * - auth.ban_failures failures within auth.ban_window_seconds ban the client for
 *   auth.ban_seconds (bans.ts, kept across restarts; logged at warn with the client);
 *   a banned client is refused at connect and at login without any check.
 * - Networks in `auth.penalty_exempt` (loopback by default: a webmail on the same host
 *   logs every user in from there) are never penalised, serialised or banned
 *   automatically (a ban added by hand applies to them).
 * The per-attempt `auth.failure_delay_ms` applies on top (login.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/index.js';
import type { Logger } from '../log.js';
import { cachedNetworkMatcher, clientKey } from '../util/net.js';
import type { Ban, BanList } from './bans.js';

/** Failure counts are forgotten this long after the client's last failure. */
const FORGET_MS = 3600_000;
/** Clients tracked at most; the least recently failing idle ones are dropped beyond this. */
const MAX_CLIENTS = 100_000;
/** Login names counted apart per client; more fall into one bucket. */
const MAX_NAMES = 100;
/** A waiting attempt looks at least this often whether its client is still there. */
const GONE_CHECK_MS = 100;
/** An attempt that has not told its outcome after this long no longer holds its client's queue. */
const STUCK_MS = 60_000;

/** What an attempt proved, told back to the throttle when it ends. */
export type Outcome =
  /** Logged in to this account (canonical address). */
  | { kind: 'success'; account: string }
  /** Wrong password or unknown name; `name` is the account it tried (canonical when it parses). */
  | { kind: 'failure'; name: string }
  /** Neither (the credential store failed, the right password of a disabled account). */
  | { kind: 'neutral' };

/** An attempt's turn: go (and call release once with the outcome), or why not. */
export type Turn = { kind: 'go'; release(o: Outcome): void } | { kind: 'gone' } | { kind: 'banned'; ban: Ban };

interface Waiter {
  gone: () => boolean;
  grant(t: Turn): void;
}

interface Client {
  /** Failures by login name: count, and the times of the latest (for the ban window). */
  names: Map<string, { n: number; times: number[] }>;
  /** Time of the last failure. */
  last: number;
  queue: Waiter[];
  busy: boolean;
}

const FREE: Turn = { kind: 'go', release: () => undefined };
const GONE: Turn = { kind: 'gone' };

/** Sleeps `ms`, looking every GONE_CHECK_MS whether the client has gone; false when it has. */
export async function pauseUnlessGone(ms: number, gone: () => boolean): Promise<boolean> {
  const end = Date.now() + ms;
  for (let left = ms; left > 0; left = end - Date.now()) {
    if (gone()) return false;
    await sleep(Math.min(left, GONE_CHECK_MS));
  }
  return !gone();
}

export class LoginThrottle {
  private readonly clients = new Map<string, Client>();
  private readonly exemptMatch = cachedNetworkMatcher();

  /** `auth` is the live config section (replaced in place on reload). */
  constructor(
    private readonly auth: Config['auth'],
    readonly bans: BanList,
    private readonly log: Logger,
  ) {}

  /** The ban in force for a client address, if any (connect time and login). */
  banOf(remoteAddress: string): Ban | undefined {
    return this.bans.find(clientKey(remoteAddress));
  }

  /** Waits for this client's turn to check credentials (see the module comment). */
  turn(remoteAddress: string, gone: () => boolean = () => false): Promise<Turn> {
    const key = clientKey(remoteAddress);
    const ban = this.bans.find(key);
    if (ban) return Promise.resolve({ kind: 'banned', ban });
    if ((this.auth.penaltyMaxMs <= 0 && this.auth.banFailures <= 0) || this.exemptMatch(this.auth.penaltyExempt, remoteAddress)) return Promise.resolve(FREE);
    let c = this.clients.get(key);
    if (!c) {
      c = { names: new Map(), last: 0, queue: [], busy: false };
      this.clients.set(key, c);
      this.evict();
    }
    const client = c;
    return new Promise((grant) => {
      client.queue.push({ gone, grant });
      void this.pump(key, client);
    });
  }

  /** The wait before the next attempt of a client with this many failures. */
  delayMs(failures: number): number {
    if (failures <= 0 || this.auth.penaltyMaxMs <= 0) return 0;
    return Math.min(this.auth.penaltyMaxMs, this.auth.penaltyBaseMs * 2 ** Math.min(failures - 1, 30));
  }

  /** Failures on record for a client address, over all login names (tests, logs). */
  failuresOf(remoteAddress: string): number {
    const c = this.clients.get(clientKey(remoteAddress));
    return c ? this.failures(c) : 0;
  }

  /** Serves a client's queue one attempt at a time. */
  private async pump(key: string, c: Client): Promise<void> {
    if (c.busy) return;
    c.busy = true;
    try {
      while (c.queue.length > 0) {
        const w = c.queue.shift()!;
        const refused = await this.waitTurn(key, c, w);
        if (refused) w.grant(refused);
        else await this.run(key, c, w);
      }
    } finally {
      c.busy = false;
      if (c.queue.length === 0 && this.failures(c) === 0) this.clients.delete(key);
    }
  }

  /** Waits the penalty for the attempt at the head of the queue; undefined when it may go, else why not. */
  private async waitTurn(key: string, c: Client, w: Waiter): Promise<Turn | undefined> {
    const banned = (): Turn | undefined => {
      const ban = this.bans.find(key);
      return ban ? { kind: 'banned', ban } : undefined;
    };
    const early = banned() ?? (w.gone() ? GONE : undefined);
    if (early) return early;
    if (!(await pauseUnlessGone(this.delayMs(this.failures(c)), w.gone))) return GONE;
    return banned();
  }

  /** Gives the attempt its turn and waits for its outcome (the next attempt waits meanwhile). */
  private run(key: string, c: Client, w: Waiter): Promise<void> {
    return new Promise<void>((done) => {
      let released = false;
      const release = (o: Outcome): void => {
        if (released) return;
        released = true;
        clearTimeout(stuck);
        try {
          this.record(key, c, o);
        } catch (err) {
          this.log.error({ err, client: key }, 'recording a login outcome failed');
        }
        done();
      };
      // A credential check never takes this long; if one does, the queue goes on without it.
      const stuck = setTimeout(() => release({ kind: 'neutral' }), STUCK_MS);
      w.grant({ kind: 'go', release });
    });
  }

  private failures(c: Client): number {
    if (c.names.size > 0 && Date.now() - c.last > FORGET_MS) c.names.clear();
    let n = 0;
    for (const f of c.names.values()) n += f.n;
    return n;
  }

  private record(key: string, c: Client, o: Outcome): void {
    if (o.kind === 'success') {
      c.names.delete(o.account);
      return;
    }
    if (o.kind !== 'failure') return;
    const now = Date.now();
    this.failures(c); // forgets counts older than FORGET_MS
    const name = c.names.has(o.name) || c.names.size < MAX_NAMES ? o.name : '*';
    const f = c.names.get(name) ?? { n: 0, times: [] };
    f.n++;
    f.times.push(now);
    if (f.times.length > Math.max(1, this.auth.banFailures)) f.times.shift();
    c.names.set(name, f);
    c.last = now;
    // Most recently failing last: the map's order is the eviction order.
    this.clients.delete(key);
    this.clients.set(key, c);
    this.maybeBan(key, c, now);
  }

  /** Bans the client when its failures within the window reach auth.ban_failures. */
  private maybeBan(key: string, c: Client, now: number): void {
    const { banFailures, banWindowSeconds, banSeconds } = this.auth;
    if (banFailures <= 0) return;
    const since = now - banWindowSeconds * 1000;
    let recent = 0;
    for (const f of c.names.values()) for (const t of f.times) if (t > since) recent++;
    if (recent < banFailures) return;
    // The window starts afresh after a ban; the penalty count stays.
    for (const f of c.names.values()) f.times.length = 0;
    const until = new Date(now + banSeconds * 1000).toISOString();
    this.log.warn({ client: key, failures: recent, until }, 'client banned after failed logins');
    try {
      this.bans.add(key, { seconds: banSeconds, failures: recent, reason: `${recent} failed logins within ${banWindowSeconds} s` });
    } catch (err) {
      this.log.error({ err, client: key }, 'the ban could not be stored; it holds until a restart');
    }
  }

  private evict(): void {
    if (this.clients.size <= MAX_CLIENTS) return;
    for (const [k, c] of this.clients) {
      if (!c.busy && c.queue.length === 0) {
        this.clients.delete(k);
        return;
      }
    }
  }
}
