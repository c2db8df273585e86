/**
 * The store entry point: `createStore` builds the MailStore the server uses and
 * re-exports the protocol-neutral types. Front ends import types from ./types.js and
 * never reach into an implementation.
 *
 * Backends:
 * - 'maildir' (the default, the only one for real mail): Maildir++ with a SQLite index
 *   per account under `<dataRoot>/maildir/` (./maildir/);
 * - 'memory': everything in memory, gone when the process ends (./memory/), for fast
 *   protocol tests. It passes the same contract suite (test/store/contract.ts).
 */
import { MaildirStore, type MaildirStoreOptions } from './maildir/index.js';
import { MemoryStore } from './memory/index.js';
import type { MailStore } from './types.js';

export * from './types.js';
export { InProcessChangeBus } from './changes.js';

export type StoreBackend = 'maildir' | 'memory';

/** The Maildir store's options (its docs there); the memory store takes the ones it has use for. */
export interface CreateStoreOptions extends MaildirStoreOptions {
  /** 'maildir' by default. */
  backend?: StoreBackend;
}

export function createStore(opts: CreateStoreOptions): MailStore {
  if (opts.backend === 'memory') return new MemoryStore({ analyzer: opts.analyzer, textIndexer: opts.textIndexer, quotaOf: opts.quotaOf, expungedKept: opts.expungedKept });
  return new MaildirStore(opts);
}
