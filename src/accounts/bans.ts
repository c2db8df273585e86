/**
 * The ban list: client addresses refused on every listener (IMAP, POP3, submission)
 * until a time, kept in SQLite (table auth_bans, migration 50) so a restart does not
 * lift them, as fail2ban's database does.
 *
 * - A client is an IPv4 address or an IPv6 /64 (util/net.ts clientKey), the unit the
 *   login throttle counts by.
 * - The server keeps the active bans in memory and reloads them when another process
 *   commits to the database (`PRAGMA data_version`, read at most every
 *   VERSION_CHECK_MS), so `mailserver ban remove` lifts a ban within that time without
 *   a restart.
 * - Expired rows are removed when a new ban is written.
 */
import { isIP } from 'node:net';
import type { Db } from '../db/index.js';
import { clientKey } from '../util/net.js';

export interface Ban {
  /** IPv4 address or IPv6 /64 ("2001:db8:1:2::/64"). */
  client: string;
  /** Refused until this time (ms). */
  until: number;
  /** Failed logins that led to it; 0 for a ban added by hand. */
  failures: number;
  reason: string;
  createdAt: number;
}

interface BanRow {
  client: string;
  until: number;
  failures: number;
  reason: string;
  created_at: number;
}

const VERSION_CHECK_MS = 250;

/**
 * The client key of an address as a user types it: an IPv4 address, an IPv6 address
 * (its /64), or an IPv6 /64 network. Undefined for anything else.
 */
export function banTarget(input: string): string | undefined {
  const s = input.trim();
  const m = /^(.*)\/(\d+)$/.exec(s);
  if (m && (m[2] !== '64' || isIP(m[1]!) !== 6)) return undefined;
  const ip = m ? m[1]! : s;
  return isIP(ip) ? clientKey(ip) : undefined;
}

export class BanList {
  private readonly active = new Map<string, Ban>();
  private readonly q;
  private version = -1;
  private checkedAt = 0;

  constructor(private readonly db: Db) {
    this.q = {
      all: db.prepare('SELECT client, until, failures, reason, created_at FROM auth_bans WHERE until > ? ORDER BY until'),
      upsert: db.prepare(
        `INSERT INTO auth_bans (client, until, failures, reason, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (client) DO UPDATE SET until = excluded.until, failures = excluded.failures, reason = excluded.reason, created_at = excluded.created_at`,
      ),
      remove: db.prepare('DELETE FROM auth_bans WHERE client = ?'),
      purge: db.prepare('DELETE FROM auth_bans WHERE until <= ?'),
      dataVersion: db.prepare('PRAGMA data_version').pluck(),
    };
    this.reload();
  }

  /** The ban in force for a client key, if any. */
  find(client: string): Ban | undefined {
    this.refresh();
    const b = this.active.get(client);
    if (b && b.until <= Date.now()) {
      this.active.delete(client);
      return undefined;
    }
    return b;
  }

  /** Bans `client` for `seconds` from now (replacing a ban it has). */
  /**
   * Bans `client` for `seconds` from now (replacing a ban it has). The ban applies in
   * this process at once; when the database refuses the write, this throws after that,
   * and the ban holds until a restart.
   */
  add(client: string, opts: { seconds: number; failures: number; reason: string }): Ban {
    const now = Date.now();
    const ban: Ban = { client, until: now + opts.seconds * 1000, failures: opts.failures, reason: opts.reason, createdAt: now };
    this.active.set(client, ban);
    this.db.transaction(() => {
      this.q.purge.run(now);
      this.q.upsert.run(ban.client, ban.until, ban.failures, ban.reason, ban.createdAt);
    })();
    return ban;
  }

  /** Lifts the ban of `client`; false when it had none. */
  remove(client: string): boolean {
    this.active.delete(client);
    return this.q.remove.run(client).changes > 0;
  }

  /** Active bans, soonest to end first. */
  list(): Ban[] {
    return (this.q.all.all(Date.now()) as BanRow[]).map(toBan);
  }

  private refresh(): void {
    const now = Date.now();
    if (now - this.checkedAt < VERSION_CHECK_MS) return;
    this.checkedAt = now;
    try {
      if ((this.q.dataVersion.get() as number) !== this.version) this.reload();
    } catch {
      // The database cannot be read now: the bans known in memory stay in force, and
      // the next refresh tries again. Connections are never refused for a read error.
    }
  }

  private reload(): void {
    this.version = this.q.dataVersion.get() as number;
    this.active.clear();
    for (const b of this.list()) this.active.set(b.client, b);
  }
}

function toBan(r: BanRow): Ban {
  return { client: r.client, until: r.until, failures: r.failures, reason: r.reason, createdAt: r.created_at };
}
