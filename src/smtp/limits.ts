/**
 * Connections per client address, for the SMTP listeners (port 25, 587, 465): a
 * session is counted in at connect and out at close; one over the limit is refused
 * with 421 before the greeting.
 */
export class PerIpLimit {
  private readonly perIp = new Map<string, number>();
  private readonly counted = new Set<string>();

  constructor(private readonly max: () => number) {}

  /** Counts the session in; false (not counted) when its address is at the limit. */
  enter(sessionId: string, ip: string): boolean {
    const n = this.perIp.get(ip) ?? 0;
    if (n >= this.max()) return false;
    this.perIp.set(ip, n + 1);
    this.counted.add(sessionId);
    return true;
  }

  /** Counts the session out (no-op for one that was refused). */
  leave(sessionId: string, ip: string): void {
    if (!this.counted.delete(sessionId)) return;
    const n = (this.perIp.get(ip) ?? 1) - 1;
    if (n <= 0) this.perIp.delete(ip);
    else this.perIp.set(ip, n);
  }
}
