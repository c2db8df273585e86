/**
 * The operations of a store under way, so that close() can let them finish before it
 * releases what they use (open indexes, files), and so that calls made after close()
 * fail with a typed error instead of on a closed database.
 *
 * - `run(fn)` counts an operation while fn's promise is pending; after close() has
 *   started it rejects at once with StoreError('closed').
 * - `close(graceMs)` refuses new operations, then waits until none is running or the
 *   grace is over, whichever comes first. The caller then releases its resources; an
 *   operation still running after that which fails with anything but a StoreError is
 *   reported as StoreError('closed') (what it failed on was the store going away).
 */
import { StoreError } from './types.js';

export const DEFAULT_CLOSE_GRACE_MS = 10_000;

export function closedError(): StoreError {
  return new StoreError('closed', 'the message store is shutting down, try again later');
}

export class OpGate {
  /** onActivity: told how many operations run when one starts or ends (the Maildir store's background passes wait for a quiet moment). */
  constructor(private readonly onActivity?: (running: number) => void) {}

  private running = 0;
  private closing = false;
  private released = false;
  private idle: Array<() => void> = [];

  get closed(): boolean {
    return this.closing;
  }

  run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closing) return Promise.reject(closedError());
    this.running++;
    this.onActivity?.(this.running);
    let p: Promise<T>;
    try {
      p = fn();
    } catch (e) {
      p = Promise.reject(e);
    }
    return p.then(
      (v) => {
        this.done();
        return v;
      },
      (e: unknown) => {
        this.done();
        throw this.released && !(e instanceof StoreError) ? closedError() : e;
      },
    );
  }

  /** Refuses new operations and waits (at most graceMs) for those under way. */
  async close(graceMs = DEFAULT_CLOSE_GRACE_MS): Promise<void> {
    this.closing = true;
    if (this.running > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((r) => this.idle.push(r)),
        new Promise<void>((r) => {
          timer = setTimeout(r, Math.max(0, graceMs));
        }),
      ]);
      clearTimeout(timer);
    }
    this.released = true;
  }

  private done(): void {
    this.running--;
    this.onActivity?.(this.running);
    if (this.running === 0) for (const r of this.idle.splice(0)) r();
  }
}
