/**
 * The retry schedule: exponential backoff from `retryBaseSeconds`, doubling per attempt,
 * capped at `retryMaxSeconds` (defaults 5 min → 10 → 20 → 40 … → 4 h, as Postfix's
 * minimal/maximal_backoff_time), and a lifetime after which a message bounces
 * (default 5 days, Postfix's maximal_queue_lifetime). The last try is placed at the
 * expiry time itself, so a destination that comes back late still gets its chance.
 */

export interface ScheduleConfig {
  retryBaseSeconds: number;
  retryMaxSeconds: number;
  lifetimeSeconds: number;
}

/** Delay before the next try after `attempts` failed attempts (attempts >= 1), in ms. */
export function retryDelayMs(cfg: ScheduleConfig, attempts: number): number {
  const exp = Math.min(Math.max(attempts - 1, 0), 30);
  return Math.min(cfg.retryBaseSeconds * 2 ** exp, cfg.retryMaxSeconds) * 1000;
}

/**
 * After a temporary failure at `now`: the time of the next try, or `expired` when the
 * message has been queued for its whole lifetime.
 */
export function nextAttempt(cfg: ScheduleConfig, createdAt: number, attempts: number, now: number): { expired: true } | { expired: false; at: number } {
  const expiry = createdAt + cfg.lifetimeSeconds * 1000;
  if (now >= expiry) return { expired: true };
  return { expired: false, at: Math.min(now + retryDelayMs(cfg, attempts), expiry) };
}
