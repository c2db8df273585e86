// What the Maildir store's background passes wait for (context.ts): store calls and
// sessions at work (MailStore.beginWork), a quiet moment after the last one, and a cap
// on how long one session can hold them back (a client that never reads its response).
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { beginWork, busy, HOLD_MAX_MS, newActivity, whenQuiet } from '../../src/store/maildir/context.js';

describe('background passes wait for sessions at work', () => {
  it('a hold counts until its end (called once or twice); the pass starts after a quiet moment', async () => {
    const activity = newActivity();
    const end = beginWork(activity);
    const other = beginWork(activity);
    expect(activity.sessions.size).toBe(2);
    expect(busy(activity)).toBe(true);
    let quiet = false;
    const waiting = whenQuiet({ activity }).then(() => (quiet = true));
    end();
    end();
    expect(activity.sessions.size).toBe(1);
    await sleep(100);
    expect(quiet, 'one session still at work').toBe(false);
    other();
    const ended = performance.now();
    await waiting;
    expect(performance.now() - ended).toBeGreaterThanOrEqual(25); // QUIET_MS after the last end, whatever the timer rounding
    expect(busy(activity)).toBe(false);
  });

  it('a store call running counts as work; a session at work for longer than the cap does not', () => {
    const activity = newActivity();
    activity.running = 1;
    expect(busy(activity)).toBe(true);
    activity.running = 0;
    beginWork(activity);
    const since = [...activity.sessions.values()][0]!;
    expect(busy(activity, since + HOLD_MAX_MS - 1)).toBe(true);
    expect(busy(activity, since + HOLD_MAX_MS + 1), 'a client that does not read keeps the passes back no longer').toBe(false);
  });
});
