/**
 * Open accounts of the Maildir store: an LRU cache of account indexes (at most
 * `maxOpen` kept open when idle), the per-account lock, and the first open of an
 * account (directories made, the index opened or rebuilt, the account initialised,
 * leftovers of interrupted writes removed).
 *
 * Implementation notes
 * - Concurrency: one async mutex per account (`locked`) serialises everything that
 *   renames or removes files or chooses UIDs from file names (flags, expunge, copy,
 *   move, append, open/rescan, mailbox create/rename/delete). Deliveries only `use` the
 *   account (they add fresh names under freshly reserved UIDs, see uidlist.ts).
 * - An account in use (refs > 0) or with deliveries linking (inflight) is never evicted.
 * - Concurrent first opens of one account share one promise.
 */
import { mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { StoreError, type AccountId } from '../types.js';
import type { Acct, StoreCtx } from './context.js';
import { Mutex } from './fsio.js';
import { accountSegments } from '../names.js';
import { IndexQueries } from './queries.js';
import { rollbackCopies } from './copy.js';
import { cleanTmp, openIndexOrRebuild } from './sync.js';

export class AccountCache {
  private readonly cache = new Map<AccountId, Acct>();
  private readonly opening = new Map<AccountId, Promise<Acct>>();

  /** `init` runs under the lock at the first open of an account whose index was never initialised. */
  constructor(
    private readonly ctx: Pick<StoreCtx, 'log' | 'doFsync'>,
    private readonly dataRoot: string,
    private readonly maxOpen: number,
    private readonly init: (a: Acct) => Promise<void>,
  ) {}

  /** `<data>/maildir/<domain>/<local>` of an account (validated). */
  accountRoot(account: AccountId): string {
    const { local, domain } = accountSegments(account);
    return path.join(this.dataRoot, 'maildir', domain, local);
  }

  /** Runs fn with the account open (not locked). */
  async use<T>(account: AccountId, fn: (a: Acct) => Promise<T>): Promise<T> {
    const a = await this.acquire(account);
    try {
      return await fn(a);
    } finally {
      this.release(a);
    }
  }

  /** Runs fn with the account open and its lock held; StoreError 'nonexistent' if it was removed meanwhile. */
  async locked<T>(account: AccountId, fn: (a: Acct) => Promise<T>): Promise<T> {
    return this.use(account, (a) =>
      a.lock.run(async () => {
        if (a.closed) throw new StoreError('nonexistent', 'account removed');
        return fn(a);
      }),
    );
  }

  /** Opens (or takes from the cache) an account and counts a reference; pair with release. */
  async acquire(account: AccountId): Promise<Acct> {
    for (;;) {
      const cached = this.cache.get(account);
      if (cached && !cached.closed) {
        this.cache.delete(account);
        this.cache.set(account, cached);
        cached.refs++;
        return cached;
      }
      let p = this.opening.get(account);
      if (!p) {
        p = this.openAccount(account).finally(() => this.opening.delete(account));
        this.opening.set(account, p);
      }
      const a = await p;
      if (!a.closed) {
        a.refs++;
        return a;
      }
    }
  }

  release(a: Acct): void {
    a.refs--;
  }

  /** st_dev of the account root (deliver: link or copy). */
  async devOf(a: Acct): Promise<number> {
    a.dev ??= (await stat(a.root)).dev;
    return a.dev;
  }

  /** Closes the account's index (after the operations holding its lock) and removes its directory. */
  async removeAccount(account: AccountId): Promise<void> {
    const root = this.accountRoot(account);
    const cached = this.cache.get(account);
    if (cached) {
      await cached.lock.run(async () => {
        this.cache.delete(account);
        this.closeAcct(cached);
      });
    }
    await rm(root, { recursive: true, force: true });
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.opening.values()]);
    for (const a of this.cache.values()) this.closeAcct(a);
    this.cache.clear();
  }

  private closeAcct(a: Acct): void {
    if (a.closed) return;
    a.closed = true;
    try {
      a.ix.close();
    } catch (err) {
      this.ctx.log?.warn({ err, account: a.id }, 'closing index failed');
    }
  }

  private async openAccount(account: AccountId): Promise<Acct> {
    const root = this.accountRoot(account);
    for (const d of ['cur', 'new', 'tmp']) await mkdir(path.join(root, d), { recursive: true, mode: 0o750 });
    const db = await openIndexOrRebuild(this.ctx.log, account, root);
    const a: Acct = { id: account, root, ix: new IndexQueries(db), lock: new Mutex(), inflight: new Map(), uidNext: new Map(), refs: 1, closed: false };
    try {
      // A COPY cut off by a crash is undone before anything scans the folders (copy.ts).
      const undone = await rollbackCopies(a, this.ctx.doFsync);
      if (undone > 0) this.ctx.log?.warn({ account, files: undone }, 'removed the files of a COPY that did not complete');
      if (a.ix.meta('initialized') === undefined) await a.lock.run(() => this.init(a));
    } catch (e) {
      this.closeAcct(a);
      throw e;
    }
    a.refs--;
    this.cache.set(account, a);
    this.evict();
    await cleanTmp(a).catch((err: unknown) => this.ctx.log?.warn({ err, account }, 'cleaning tmp/ failed'));
    return a;
  }

  private evict(): void {
    if (this.cache.size <= this.maxOpen) return;
    for (const [id, a] of this.cache) {
      if (this.cache.size <= this.maxOpen) break;
      if (a.refs > 0 || a.inflight.size > 0) continue;
      this.cache.delete(id);
      this.closeAcct(a);
    }
  }
}
