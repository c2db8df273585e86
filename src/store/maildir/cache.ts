/**
 * Open accounts of the Maildir store: an LRU cache of account indexes (at most
 * `maxOpen` kept open when idle), the per-account lock, and the first open of an
 * account (directories made, the index opened or rebuilt, the account initialised,
 * files without index rows taken in, leftovers of interrupted writes removed).
 *
 * Implementation notes
 * - Concurrency: one async mutex per account (`locked`) serialises everything that
 *   renames or removes files or chooses UIDs from file names (flags, expunge, copy,
 *   move, append, open/rescan, mailbox create/rename/delete). Deliveries only `use` the
 *   account (they add fresh names under freshly reserved UIDs, see uidlist.ts).
 * - An account in use (refs > 0) or with deliveries linking (inflight) is never evicted.
 * - Concurrent first opens of one account share one promise; every caller waiting for
 *   it holds a reference from the moment the account is cached, so a small cache cannot
 *   evict an account under the callers that opened it.
 * - removeAccount waits for a first open under way and for the lock holders, and opens
 *   asked for during a removal wait until it is done (then start afresh).
 */
import { rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { closedError } from '../gate.js';
import { StoreError, type AccountId } from '../types.js';
import { makeMaildirDirs, type Acct, type StoreCtx } from './context.js';
import { Mutex } from './fsio.js';
import { accountSegments } from '../names.js';
import { IndexQueries } from './queries.js';
import { rollbackCopies } from './copy.js';
import { cleanTmp, openIndexOrRebuild } from './sync.js';

/** What the first open of an account runs, under the account lock. */
export interface OpenHooks {
  /** An index that was never initialised (new account, or an index rebuilt): index what is on disk, add the standard mailboxes. */
  init: (a: Acct) => Promise<void>;
  /** Every open: take in what a crash or another tool left (files without rows), so counters are right before anyone reads them. */
  recover: (a: Acct) => Promise<void>;
  /** The account's index was closed (removed, evicted, store closed). */
  closed?: (a: Acct) => void;
}

interface Opening {
  p: Promise<Acct>;
  /** Callers waiting for this open; they hold a reference from the moment it is cached. */
  waiters: number;
}

export class AccountCache {
  private readonly cache = new Map<AccountId, Acct>();
  private readonly opening = new Map<AccountId, Opening>();
  private readonly removing = new Map<AccountId, Promise<void>>();
  private closed = false;

  constructor(
    private readonly ctx: Pick<StoreCtx, 'log' | 'doFsync'>,
    private readonly dataRoot: string,
    private readonly maxOpen: number,
    private readonly hooks: OpenHooks,
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
        if (a.closed) throw this.closed ? closedError() : new StoreError('nonexistent', 'account removed');
        return fn(a);
      }),
    );
  }

  /** Opens (or takes from the cache) an account and counts a reference; pair with release. */
  async acquire(account: AccountId): Promise<Acct> {
    for (;;) {
      if (this.closed) throw closedError();
      // An account being removed is opened again (fresh) only once the removal is done.
      const removal = this.removing.get(account);
      if (removal) {
        await removal.catch(() => undefined);
        continue;
      }
      const cached = this.cache.get(account);
      if (cached && !cached.closed) {
        this.cache.delete(account);
        this.cache.set(account, cached);
        cached.refs++;
        return cached;
      }
      let o = this.opening.get(account);
      if (!o) {
        const opening: Opening = { p: Promise.resolve() as unknown as Promise<Acct>, waiters: 0 };
        opening.p = this.openAccount(account, opening).finally(() => {
          if (this.opening.get(account) === opening) this.opening.delete(account);
        });
        this.opening.set(account, opening);
        o = opening;
      }
      // Counted before the open finishes: the open gives the account one reference per
      // waiter before it can be evicted, so a tiny cache cannot close it under them.
      o.waiters++;
      const a = await o.p;
      if (!a.closed) return a;
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

  /**
   * Closes the account's index (after a first open under way and the operations holding
   * its lock) and removes its directory; opens asked for meanwhile wait for the removal.
   */
  removeAccount(account: AccountId): Promise<void> {
    const root = this.accountRoot(account);
    const prev = this.removing.get(account) ?? Promise.resolve();
    const removal = prev
      .catch(() => undefined)
      .then(async () => {
        await this.opening.get(account)?.p.catch(() => undefined);
        const cached = this.cache.get(account);
        if (cached) {
          await cached.lock.run(async () => {
            this.cache.delete(account);
            this.closeAcct(cached);
          });
        }
        await rm(root, { recursive: true, force: true });
      })
      .finally(() => {
        if (this.removing.get(account) === removal) this.removing.delete(account);
      });
    this.removing.set(account, removal);
    return removal;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.opening.values()].map((o) => o.p));
    await Promise.allSettled([...this.removing.values()]);
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
    this.hooks.closed?.(a);
  }

  private async openAccount(account: AccountId, o: Opening): Promise<Acct> {
    const root = this.accountRoot(account);
    await makeMaildirDirs(root);
    const db = await openIndexOrRebuild(this.ctx.log, account, root);
    const a: Acct = { id: account, root, ix: new IndexQueries(db), lock: new Mutex(), inflight: new Map(), uidNext: new Map(), uidFileNext: new Map(), refs: 0, closed: false };
    try {
      await a.lock.run(async () => {
        // A COPY cut off by a crash is undone before anything scans the folders (copy.ts).
        const undone = await rollbackCopies(a, this.ctx.doFsync);
        if (undone > 0) this.ctx.log?.warn({ account, files: undone }, 'removed the files of a COPY that did not complete');
        if (a.ix.meta('initialized') === undefined) await this.hooks.init(a);
        await this.hooks.recover(a);
      });
      if (this.closed) throw closedError();
    } catch (e) {
      this.closeAcct(a);
      throw e;
    }
    // From here on synchronously: every waiter holds a reference before eviction runs,
    // and later callers find the account in the cache.
    a.refs += o.waiters;
    this.opening.delete(account);
    this.cache.set(account, a);
    this.evict();
    await cleanTmp(a, this.ctx.log).catch((err: unknown) => this.ctx.log?.warn({ err, account }, 'cleaning tmp/ failed'));
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
