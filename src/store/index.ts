/**
 * The store entry point: `createStore` builds the one MailStore the server uses (the
 * Maildir++ store with its SQLite index) and re-exports the protocol-neutral types.
 * Front ends import types from ./types.js and never reach into ./maildir.
 */
import type { Logger } from '../log.js';
import { MaildirStore } from './maildir/index.js';
import type { AccountId, MailStore, MessageAnalyzer, Quota } from './types.js';

export * from './types.js';
export { InProcessChangeBus } from './changes.js';

export interface CreateStoreOptions {
  dataRoot: string;
  log?: Logger;
  /** Parses each delivered/appended message once (envelope, body structure). */
  analyzer?: MessageAnalyzer;
  /** The account's quota; undefined = unlimited. Called on every append/copy/deliver. */
  quotaOf?: (account: AccountId) => Quota | undefined;
  /** fsync files and directories (default true). */
  fsync?: boolean;
}

export function createStore(opts: CreateStoreOptions): MailStore {
  return new MaildirStore(opts);
}
