/**
 * The login throttle and the one login flow over real sockets, the same tests on IMAP,
 * POP3, submission and ManageSieve (src/accounts/throttle.ts, login.ts); throttle.<protocol>.test.ts
 * run them, one file per protocol so they run side by side. Each test logs in from its
 * own loopback source address (127.0.x.y), so each is a fresh client. Timings are lower
 * bounds only (a penalty was waited); a wait that must be gone is shown by what was counted.
 */
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/index.js';
import { dbPath } from '../../src/db/index.js';
import { startTestServer, type TestServer } from '../helpers/servers.js';
import { loginOnce, PROTOCOLS, type Proto } from './login-clients.js';

const BASE = 250;
const MAX = 500;
export const VICTIM = 'victim@example.test';
const OWN = 'attacker@example.test';
export const RIGHT = 'right password';

/** A source address per (test, protocol): 127.0.<test>.<protocol>. */
export const from = (test: number, p: Proto) => `127.0.${test}.${PROTOCOLS.indexOf(p) + 10}`;
const port = (t: { port(name: string): number }, p: Proto) => t.port(p.name);

/**
 * Counts credential checks under way at once on the server's account database (a probe
 * around the real method, which still does the work).
 */
function inFlight(t: TestServer): { max: number; stop(): void } {
  const accounts = t.ctx.accounts as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  const name = 'checkCredentials' in accounts ? 'checkCredentials' : 'verifyCredentials';
  const real = accounts[name]!;
  const probe = { max: 0, stop: () => delete accounts[name] };
  let now = 0;
  accounts[name] = async (...args) => {
    probe.max = Math.max(probe.max, ++now);
    try {
      return await real.apply(t.ctx.accounts, args);
    } finally {
      now--;
    }
  };
  return probe;
}

/** Loopback clients throttled like remote ones; bans off (bans.test.ts turns them on). */
export function throttled(c: Config): void {
  c.auth.allowPlaintextOnLoopback = true;
  c.auth.penaltyExempt = []; // the tests' clients are on loopback, exempt by default
  c.auth.penaltyBaseMs = BASE;
  c.auth.penaltyMaxMs = MAX;
  c.auth.banFailures = 0;
}


/** The throttle's gap tests for one protocol (one test file each, so they run side by side). */
export function throttleSuite(p: Proto): void {
  describe(`login throttle on ${p.name}`, () => {
    let t: TestServer;
    beforeAll(async () => {
      t = await startTestServer({ configure: throttled });
      await t.addAccount(VICTIM, RIGHT);
      await t.addAccount(OWN, RIGHT);
    });
    afterAll(async () => {
      await t?.close();
    });
    const failures = (addr: string) => t.ctx.loginThrottle!.failuresOf(addr);

    it('serialises a burst of parallel attempts from a fresh address', async () => {
      const a = from(11, p);
      const probe = inFlight(t);
      try {
        // Three connections ready, then three guesses sent in the same moment.
        const sessions = await Promise.all([1, 2, 3].map(() => p.open(port(t, p), a)));
        const started = Date.now();
        const answered: number[] = [];
        const replies = await Promise.all(sessions.map((s, i) => s.login(VICTIM, `wrong ${i}`).then((r) => (answered.push(Date.now() - started), r))));
        for (const s of sessions) s.destroy();
        expect(replies).toEqual(['failed', 'failed', 'failed']);
        // One credential check at a time from the first attempt on; the second waited BASE
        // after the first failure, the third min(2·BASE, MAX) after the second.
        expect(probe.max).toBe(1);
        answered.sort((x, y) => x - y);
        expect(answered[1]! - answered[0]!).toBeGreaterThanOrEqual(BASE - 5);
        expect(answered[2]! - answered[1]!).toBeGreaterThanOrEqual(Math.min(2 * BASE, MAX) - 5);
        expect(failures(a)).toBe(3);
      } finally {
        probe.stop();
      }
    }, 30_000);

    it('drops waiting attempts whose client has gone; a live login does not wait for them', async () => {
      const a = from(12, p);
      expect(await loginOnce(p, port(t, p), a, VICTIM, 'wrong 1')).toBe('failed');
      expect(await loginOnce(p, port(t, p), a, VICTIM, 'wrong 2')).toBe('failed');
      // The next attempt waits MAX. Six clients queue a guess each, then hang up.
      const quitters = await Promise.all([1, 2, 3, 4, 5, 6].map(() => p.open(port(t, p), a)));
      quitters.forEach((s, i) => s.send(VICTIM, `gone ${i}`));
      await new Promise((r) => setTimeout(r, 200));
      for (const s of quitters) s.destroy();
      expect(await loginOnce(p, port(t, p), a, OWN, RIGHT)).toBe('ok');
      // Nothing was checked for the clients that left: still the two failures on VICTIM
      // (had their six guesses been checked, 8, and the login would have waited behind
      // them, about 7 · MAX). Counted, not timed: a loaded machine stretches any wait.
      expect(failures(a)).toBe(2);
    }, 30_000);

    it("counts failures per address across accounts: a success clears only that account's", async () => {
      const a = from(13, p);
      expect(await loginOnce(p, port(t, p), a, VICTIM, 'guess 1')).toBe('failed');
      expect(await loginOnce(p, port(t, p), a, VICTIM, 'guess 2')).toBe('failed');
      // Logging in to an account of one's own proves nothing about VICTIM's password.
      expect(await loginOnce(p, port(t, p), a, OWN, RIGHT)).toBe('ok');
      expect(failures(a)).toBe(2);
      // A typo on the own account, then the right password: the typo is forgiven.
      expect(await loginOnce(p, port(t, p), a, OWN, 'typo')).toBe('failed');
      expect(failures(a)).toBe(3);
      expect(await loginOnce(p, port(t, p), a, OWN, RIGHT)).toBe('ok');
      expect(failures(a)).toBe(2);
      // The next guess on VICTIM still waits for the failures on record.
      const started = Date.now();
      expect(await loginOnce(p, port(t, p), a, VICTIM, 'guess 3')).toBe('failed');
      expect(Date.now() - started).toBeGreaterThanOrEqual(Math.min(2 * BASE, MAX));
    }, 30_000);

    it('answers a failing credential store as a temporary failure, not counted', async () => {
      const a = from(14, p);
      // Another connection to the database breaks the accounts table, as a damaged or
      // half-migrated database would.
      const other = new Database(dbPath(t.dataRoot));
      other.exec('ALTER TABLE accounts RENAME TO accounts_away');
      try {
        expect(await loginOnce(p, port(t, p), a, VICTIM, RIGHT)).toBe('unavailable');
        expect(await loginOnce(p, port(t, p), a, VICTIM, RIGHT)).toBe('unavailable');
      } finally {
        other.exec('ALTER TABLE accounts_away RENAME TO accounts');
        other.close();
      }
      expect(failures(a)).toBe(0); // no penalty earned, nothing towards a ban
      expect(await loginOnce(p, port(t, p), a, VICTIM, RIGHT)).toBe('ok');
    }, 30_000);
  });
}
