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
import type { Logger } from '../log.js';
import { MaildirStore } from './maildir/index.js';
import { MemoryStore } from './memory/index.js';
import type { AccountId, MailStore, MessageAnalyzer, Quota, TextIndexer } from './types.js';

export * from './types.js';
export { InProcessChangeBus } from './changes.js';

export type StoreBackend = 'maildir' | 'memory';

export interface CreateStoreOptions {
  dataRoot: string;
  /** 'maildir' by default. */
  backend?: StoreBackend;
  log?: Logger;
  /** Parses each delivered/appended message once (envelope, body structure). */
  analyzer?: MessageAnalyzer;
  /** The text SEARCH BODY/TEXT/HEADER look at (the full-text index, issue 16 item 3). */
  textIndexer?: TextIndexer;
  /** The account's quota; undefined = unlimited. Called on every append/copy/deliver. */
  quotaOf?: (account: AccountId) => Quota | undefined;
  /** fsync files and directories (default true; Maildir only). */
  fsync?: boolean;
  /** Expunged UIDs remembered per mailbox for QRESYNC (default EXPUNGED_KEPT; Vanished). */
  expungedKept?: number;
}

export function createStore(opts: CreateStoreOptions): MailStore {
  if (opts.backend === 'memory') return new MemoryStore({ analyzer: opts.analyzer, textIndexer: opts.textIndexer, quotaOf: opts.quotaOf, expungedKept: opts.expungedKept });
  return new MaildirStore(opts);
}
