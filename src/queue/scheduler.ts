/**
 * The queue's scheduling (mox queue.go): wakes when a recipient is due (or on `kick()`,
 * or every poll interval so CLI changes are noticed), takes the due recipients grouped
 * per message and destination domain, and hands them to direct delivery
 * (src/queue/direct.ts) in batches, at most `queue.concurrency` at a time. A batch that
 * throws is deferred by `queue.retry_base_seconds`: never a hot loop.
 */
import type { QueueEnv } from './attempt.js';
import { deliverBatch } from './direct.js';
import { deferRecipients, dueGroups, nextDue, type DueGroup } from './repo.js';

/** Up to this many messages of one destination go over one connection, one after another. */
const BATCH = 20;

export class Scheduler {
  private readonly running = new Set<string>();
  private readonly inflight = new Set<Promise<void>>();
  private timer?: NodeJS.Timeout;
  stopped = false;

  constructor(
    private readonly env: QueueEnv,
    private readonly pollMs: number,
  ) {}

  /** Looks for due work in `ms`. */
  arm(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.tick(), Math.max(0, ms));
    this.timer.unref();
  }

  /** Stops taking work and waits (at most graceMs) for attempts in flight. */
  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.inflight.size === 0) return;
    let t: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.inflight]), new Promise<void>((r) => (t = setTimeout(r, graceMs)))]);
    if (t) clearTimeout(t);
  }

  private tick(): void {
    this.timer = undefined;
    if (this.stopped) return;
    const { ctx, log } = this.env;
    const q = ctx.config.queue;
    try {
      const now = Date.now();
      // Due work per destination (the relay host is one destination for everything).
      const buckets = new Map<string, DueGroup[]>();
      for (const g of dueGroups(ctx.db, now)) {
        if (this.running.has(`${g.messageId}\0${g.domain}`)) continue;
        const key = q.relayHost ? '' : g.domain;
        const l = buckets.get(key) ?? [];
        l.push(g);
        buckets.set(key, l);
      }
      for (const [dest, groups] of buckets) {
        const free = q.concurrency - this.inflight.size;
        if (free <= 0) break;
        // As many connections as slots allow, each taking its share of the messages.
        const jobs = Math.min(free, groups.length);
        const per = Math.min(BATCH, Math.ceil(groups.length / jobs));
        for (let j = 0; j < jobs; j++) {
          const batch = groups.slice(j * per, (j + 1) * per);
          if (batch.length > 0) this.run(dest || batch[0]!.domain, batch);
        }
      }
      const next = nextDue(ctx.db);
      this.arm(next !== undefined && next > now ? Math.min(next - now, this.pollMs) : this.pollMs);
    } catch (err) {
      if (!this.stopped) log.error({ err }, 'queue scan failed');
      this.arm(this.pollMs);
    }
  }

  private run(domain: string, batch: DueGroup[]): void {
    const { ctx, log } = this.env;
    const keys = batch.map((g) => `${g.messageId}\0${g.domain}`);
    for (const k of keys) this.running.add(k);
    const p: Promise<void> = deliverBatch(this.env, domain, batch)
      .catch((err: unknown) => {
        log.error({ err, domain, qids: batch.map((g) => g.messageId) }, 'queue attempt failed');
        // Never a hot loop: whatever broke, these recipients wait for the next slot.
        try {
          deferRecipients(ctx.db, batch.flatMap((g) => g.recipients.map((r) => r.id)), Date.now() + ctx.config.queue.retryBaseSeconds * 1000);
        } catch {
          // the database is gone (shutting down)
        }
      })
      .finally(() => {
        for (const k of keys) this.running.delete(k);
        this.inflight.delete(p);
        this.arm(0);
      });
    this.inflight.add(p);
  }
}
