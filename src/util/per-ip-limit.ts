/**
 * Connections per client, for every listener (SMTP 25/587/465, IMAP, POP3, ManageSieve):
 * a connection is counted in at accept and out at close; one over
 * `limits.max_connections_per_ip` is refused before the greeting. A client is an IPv4
 * address or the /64 of an IPv6 address (util/net.ts `clientKey`): one host usually holds
 * a whole /64, and counting single IPv6 addresses would let it open 2^64 times the limit.
 */
import { clientKey } from './net.js';

export class PerIpLimit {
  private readonly perClient = new Map<string, number>();
  /** Counted connections and the client each was counted for. */
  private readonly counted = new Map<string, string>();

  constructor(private readonly max: () => number) {}

  /** Counts the connection in; false (not counted) when its client is at the limit. */
  enter(connId: string, ip: string): boolean {
    const key = clientKey(ip);
    const n = this.perClient.get(key) ?? 0;
    if (n >= this.max()) return false;
    this.perClient.set(key, n + 1);
    this.counted.set(connId, key);
    return true;
  }

  /** Counts the connection out (no-op for one that was refused). */
  leave(connId: string): void {
    const key = this.counted.get(connId);
    if (key === undefined) return;
    this.counted.delete(connId);
    const n = (this.perClient.get(key) ?? 1) - 1;
    if (n <= 0) this.perClient.delete(key);
    else this.perClient.set(key, n);
  }

  /** Connections counted for the client of `ip` (its /64 for IPv6). */
  count(ip: string): number {
    return this.perClient.get(clientKey(ip)) ?? 0;
  }
}
