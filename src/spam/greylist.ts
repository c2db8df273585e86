/**
 * Greylisting (RFC 6647), off by default: the first message of an unknown (client
 * network, envelope sender, recipient) triplet gets 451 4.7.1; a retry after
 * `greylist_delay_seconds` passes, and the triplet is then remembered for
 * `greylist_expire_days` after its last message (postgrey's defaults: /24, 5 min, 35 days).
 *
 * It is decided at end of DATA, not at RCPT TO, so that the checks that let a sender
 * skip it can look at the message: known senders and DKIM-passing mail from a domain with
 * a good reputation are never greylisted (RFC 6647 §4.2: reduce the delay for senders
 * known to retry). Triplets not retried within a day are forgotten.
 */
import type { Db } from '../db/index.js';

const UNPASSED_TTL_MS = 24 * 3600_000;

export interface GreylistOutcome {
  pass: boolean;
  /** Seconds left before a retry passes (when not passing). */
  wait?: number;
}

export function greylistCheck(db: Db, triplets: Array<{ ip: string; sender: string; rcpt: string }>, delayS: number, now = Date.now()): GreylistOutcome {
  let wait = 0;
  const get = db.prepare('SELECT first_seen, passed FROM spam_greylist WHERE ip = ? AND sender = ? AND rcpt = ?');
  const insert = db.prepare('INSERT INTO spam_greylist (ip, sender, rcpt, first_seen, last_seen, passed) VALUES (?, ?, ?, ?, ?, 0)');
  const pass = db.prepare('UPDATE spam_greylist SET passed = 1, last_seen = ? WHERE ip = ? AND sender = ? AND rcpt = ?');
  db.transaction(() => {
    for (const t of triplets) {
      const row = get.get(t.ip, t.sender, t.rcpt) as { first_seen: number; passed: number } | undefined;
      if (!row) {
        insert.run(t.ip, t.sender, t.rcpt, now, now);
        wait = Math.max(wait, delayS);
        continue;
      }
      const left = Math.ceil((row.first_seen + delayS * 1000 - now) / 1000);
      if (!row.passed && left > 0) {
        wait = Math.max(wait, left);
        continue;
      }
      pass.run(now, t.ip, t.sender, t.rcpt);
    }
  })();
  return wait > 0 ? { pass: false, wait } : { pass: true };
}

/** Forgets passed triplets unused for `expireDays` and unretried ones after a day. */
export function greylistExpire(db: Db, expireDays: number, now = Date.now()): number {
  const r = db
    .prepare('DELETE FROM spam_greylist WHERE (passed = 1 AND last_seen < ?) OR (passed = 0 AND first_seen < ?)')
    .run(now - expireDays * 86_400_000, now - UNPASSED_TTL_MS);
  return r.changes;
}
