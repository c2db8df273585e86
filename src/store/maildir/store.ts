/**
 * MaildirStore: the MailStore interface over Maildir++ directories with a per-account
 * SQLite index. The on-disk format is described in ./index.ts (the tree), ./filename.ts
 * (message file names) and ./uidlist.ts (UIDs and UIDVALIDITY); the index schema and its
 * durability argument in ./index-db.ts. This class only wires the parts together:
 *
 *   cache.ts      open accounts (LRU), the per-account lock, first open
 *   queries.ts    every SQL statement of the index (typed, prepared once)
 *   save.ts       APPEND and delivery: durable write, group commit of index rows
 *   sync.ts       the index against the files: new/ pick-up, rescans, reindex, recovery
 *   flags.ts      flags in file names, keywords in the index, STORE
 *   mailboxes.ts  the mailbox tree: list, create, rename, delete, subscribe
 *   mail.ts       open/select, cached metadata, message bytes
 *   copy.ts       COPY, MOVE, EXPUNGE
 *   uidlist.ts    UID reservation, UIDVALIDITY, mailserver-uidvalidity
 *   ../names.ts   mailbox name validation and the Maildir++ folder mapping
 *
 * Implementation notes (the invariants every part keeps)
 * - Order of every write: files first (written, fsynced, linked/renamed, directory
 *   fsynced), then the index transaction, then `changes.publish`. Removals are the
 *   other way round for files (unlink first, then delete the row) so a crash never
 *   resurrects an expunged message.
 * - UIDs are chosen before a file gets its final name, because the name carries the
 *   UID (`,U=<uid>`): the UID is reserved (deliveries: in memory; other paths: in the
 *   index), then the file is linked or renamed in, then the row is inserted together
 *   with the new UIDNEXT (deliveries: in a group commit). A crash in between leaves a
 *   file with a reserved UID that the next scan indexes under that same UID.
 * - Concurrency: one async mutex per account serialises everything that renames or
 *   removes files or chooses UIDs from file names (flags, expunge, copy, move, append,
 *   open/rescan, mailbox create/rename/delete). Deliveries do not take it (they only add
 *   fresh names under freshly reserved UIDs); the paths they are linking are kept in
 *   `inflight` so a concurrent scan does not index them twice.
 * - Cheap open: new/ is always listed, cur/ only when its mtime changed (sync.ts).
 * - Every public call runs through an OpGate (../gate.ts): close() lets the calls under
 *   way finish (bounded) before the indexes are closed; later calls get
 *   StoreError('closed').
 */
import path from 'node:path';
import { InProcessChangeBus } from '../changes.js';
import type {
  MetadataEntry,
  AccountId,
  AppendOptions,
  ByteRange,
  DeliveryOptions,
  DeliveryResult,
  DeliveryTarget,
  FetchMetaOptions,
  FlagUpdate,
  FlagUpdateOptions,
  FlagOp,
  ImportAppendOptions,
  MailboxId,
  MailboxInfo,
  MailboxSnapshot,
  MailboxView,
  MailStore,
  MessageAnalyzer,
  MessageMeta,
  MessageSource,
  NumbersRange,
  Quota,
  ReindexReport,
  SpecialUse,
  SupportsImport,
  SupportsRangeRead,
  SearchQuery,
  SupportsSearch,
  SupportsSort,
  SupportsSnapshot,
  SupportsTextSearch,
  TextAnswer,
  TextIndexer,
  TextTerm,
  Uid,
  UidMapping,
  Vanished,
  Usage,
} from '../types.js';
import { EXPUNGED_KEPT } from '../types.js';
import { OpGate } from '../gate.js';
import type { Readable } from 'node:stream';
import type { Logger } from '../../log.js';
import { AccountCache } from './cache.js';
import { beginWork, busy, mustMailbox, mustMailboxId, newActivity, whenQuiet, type StoreCtx } from './context.js';
import { expunge, transfer } from './copy.js';
import { updateFlags } from './flags.js';
import { DirSyncer } from './fsio.js';
import * as sortkeys from './sortkeys.js';
import type { SortCriterion, StoredSortKeys, ThreadKeys } from '../sortkeys.js';
import * as mail from './mail.js';
import * as metadata from './metadata.js';
import * as mailboxes from './mailboxes.js';
import { append, deliver } from './save.js';
import { recoverAccount, reindexReported } from './sync.js';
import { Backfill } from './backfill.js';
import { searchText as ftsSearch } from './fts.js';
import { FtsFill } from './fts-fill.js';
import { vanished } from './vanished.js';

export { SPECIAL_FOLDERS } from './mailboxes.js';
export { UIDVALIDITY_FILE } from './uidlist.js';

export interface MaildirStoreOptions {
  dataRoot: string;
  log?: Logger;
  /** Parses each delivered/appended message once (envelope, body structure). */
  analyzer?: MessageAnalyzer;
  /** Makes the full-text index's text of a message (fts.ts); without it SEARCH reads the files. */
  textIndexer?: TextIndexer;
  /** The account's quota; undefined = unlimited. Called on every append/copy/deliver. */
  quotaOf?: (account: AccountId) => Quota | undefined;
  /** fsync files and directories (default true; only tests of unrelated parts may turn it off). */
  fsync?: boolean;
  /** Expunged UIDs remembered per mailbox for QRESYNC (default EXPUNGED_KEPT). */
  expungedKept?: number;
  /** Open account indexes kept in the cache (default 64). */
  maxOpenAccounts?: number;
  /**
   * The full-text fill's worker thread (fts-fill.ts): how long it stays without work (ms,
   * default fts-thread.ts WORKER_IDLE_MS), and from how many messages missing from a
   * mailbox's index it is used (default fts-fill.ts WORKER_MIN).
   */
  ftsWorker?: { idleMs?: number; min?: number; batchMs?: number };
}

export class MaildirStore implements MailStore, SupportsImport, SupportsRangeRead, SupportsSearch, SupportsSnapshot, SupportsSort, SupportsTextSearch {
  readonly changes: InProcessChangeBus;
  private readonly ctx: StoreCtx;
  private readonly accounts: AccountCache;
  private readonly gate = new OpGate((running) => {
    this.ctx.activity.last = performance.now();
    this.ctx.activity.running = running;
  });
  private readonly fts?: FtsFill;
  private readonly keysFill: sortkeys.KeysFill;

  constructor(opts: MaildirStoreOptions) {
    const doFsync = opts.fsync ?? true;
    // The caller binds the component (server.ts: log.child({ component: 'store' })).
    this.changes = new InProcessChangeBus(opts.log);
    const ctx: Omit<StoreCtx, 'accounts'> & { accounts?: AccountCache } = {
      log: opts.log,
      analyzer: opts.analyzer,
      quotaOf: opts.quotaOf,
      doFsync,
      syncer: new DirSyncer(doFsync),
      changes: this.changes,
      indexCommits: 0,
      activity: newActivity(),
      expungedKept: opts.expungedKept ?? EXPUNGED_KEPT,
    };
    this.ctx = ctx as StoreCtx;
    ctx.accounts = new AccountCache(ctx, path.resolve(opts.dataRoot), Math.max(1, opts.maxOpenAccounts ?? 64), {
      init: (a) => mailboxes.initAccount(this.ctx, a),
      recover: (a) => recoverAccount(this.ctx, a),
      closed: (a) => this.fts?.forget(a),
    });
    this.accounts = ctx.accounts;
    (ctx as { backfill?: Backfill }).backfill = new Backfill(this.ctx);
    this.keysFill = new sortkeys.KeysFill(this.ctx);
    const activity = { quiet: () => whenQuiet(ctx), busy: () => busy(ctx.activity) };
    if (opts.textIndexer) this.fts = new FtsFill(ctx.accounts, opts.textIndexer, this.changes, activity, opts.log, opts.ftsWorker);
  }

  /** A session at work for its client: the background passes wait for it as for a store call (context.ts whenQuiet). */
  beginWork(): () => void {
    return beginWork(this.ctx.activity);
  }

  /** Resolves when the full-text index has nothing queued (tests, reindex, the bench). */
  async ftsIdle(): Promise<void> {
    await this.fts?.idle();
  }

  /** The full-text fill's worker threads not yet exited (tests: none once idle long enough, none after close). */
  get ftsThreads(): number {
    return this.fts?.threads ?? 0;
  }

  /** Sessions at work now, as beginWork counts them (tests, the bench). */
  get sessionsAtWork(): number {
    return this.ctx.activity.sessions.size;
  }

  /** Messages the background analysis has done so far (tests, the bench). */
  get backfillDone(): number {
    return this.ctx.backfill!.done;
  }

  /** Resolves when the background analysis of messages indexed by name has nothing left (tests, the bench). */
  backfillIdle(): Promise<void> {
    return this.ctx.backfill!.idle();
  }

  /** Resolves when the background pass has written the sort keys of every delivered and appended message (tests). */
  keysIdle(): Promise<void> {
    return this.keysFill.idle();
  }

  /** `<data>/maildir/<domain>/<local>` of an account (validated). */
  accountRoot(account: AccountId): string {
    return this.accounts.accountRoot(account);
  }

  /** Index transactions that committed delivery rows (group commit; for tests and the bench). */
  get indexCommits(): number {
    return this.ctx.indexCommits;
  }

  /** Directory fsyncs done so far (bench: shows how well group commit batches). */
  get dirFsyncs(): number {
    return this.ctx.syncer.fsyncs;
  }

  // ---------------------------------------------------------------- accounts

  ensureAccount(account: AccountId): Promise<void> {
    return this.gate.run(() => this.accounts.use(account, async () => undefined));
  }

  removeAccount(account: AccountId): Promise<void> {
    return this.gate.run(() => this.accounts.removeAccount(account));
  }

  async close(graceMs?: number): Promise<void> {
    await this.ctx.backfill!.stop();
    await this.keysFill.stop();
    await this.fts?.stop();
    await this.gate.close(graceMs);
    await this.accounts.close();
  }

  usage(account: AccountId): Promise<Usage> {
    return this.gate.run(() => this.accounts.use(account, async (a) => a.ix.usage()));
  }

  /** The index from the files; the full-text index is emptied and filled again in the background (ftsIdle). */
  reindex(account: AccountId): Promise<ReindexReport> {
    return this.gate.run(() =>
      this.accounts.locked(account, async (a) => {
        const r = await reindexReported(this.ctx, a);
        a.ix.tx(() => a.ix.db.exec("DELETE FROM fts_docs; INSERT INTO fts (fts) VALUES ('delete-all');"));
        for (const mb of a.ix.db.prepare('SELECT id FROM mailboxes').pluck().all() as number[]) this.fts?.schedule(account, mb);
        return r;
      }),
    );
  }

  // ---------------------------------------------------------------- mailboxes

  listMailboxes(account: AccountId): Promise<MailboxInfo[]> {
    return this.gate.run(() => mailboxes.listMailboxes(this.ctx, account));
  }

  getMailbox(account: AccountId, name: string): Promise<MailboxInfo> {
    return this.gate.run(() => this.accounts.use(account, async (a) => mailboxes.mailboxInfo(mustMailbox(a, name))));
  }

  createMailbox(account: AccountId, name: string, opts: { specialUse?: SpecialUse } = {}): Promise<MailboxInfo> {
    return this.gate.run(() => mailboxes.createMailbox(this.ctx, account, name, { specialUse: opts.specialUse }));
  }

  setUidState(account: AccountId, name: string, state: { uidValidity?: number; uidNext?: number }): Promise<MailboxInfo> {
    return this.gate.run(() => mailboxes.setUidState(this.ctx, account, name, state));
  }

  deleteMailbox(account: AccountId, name: string): Promise<void> {
    return this.gate.run(() => mailboxes.deleteMailbox(this.ctx, account, name));
  }

  renameMailbox(account: AccountId, from: string, to: string): Promise<void> {
    return this.gate.run(() => mailboxes.renameMailbox(this.ctx, account, from, to));
  }

  setSubscribed(account: AccountId, name: string, subscribed: boolean): Promise<void> {
    return this.gate.run(() => mailboxes.setSubscribed(this.ctx, account, name, subscribed));
  }

  listSubscriptions(account: AccountId): Promise<string[]> {
    return mailboxes.listSubscriptions(this.ctx, account);
  }

  // ---------------------------------------------------------------- reading

  openMailbox(account: AccountId, name: string): Promise<MailboxSnapshot> {
    return this.gate.run(() => mail.openMailbox(this.ctx, account, name)).then((r) => this.ftsOpened(account, r));
  }

  selectMailbox(account: AccountId, name: string): Promise<MailboxView> {
    return this.gate.run(() => mail.selectMailbox(this.ctx, account, name)).then((r) => this.ftsOpened(account, r));
  }

  /** A mailbox opened: the full-text fill looks for messages without their text (an index made before it had none). */
  private ftsOpened<T extends { mailbox: { id: MailboxId } }>(account: AccountId, r: T): T {
    this.fts?.schedule(account, r.mailbox.id, 0, true);
    return r;
  }

  fetchMeta(account: AccountId, mailboxId: MailboxId, opts: FetchMetaOptions = {}): Promise<MessageMeta[]> {
    return this.gate.run(() => mail.fetchMeta(this.ctx, account, mailboxId, opts));
  }

  getMetadata(account: AccountId, mailboxId: MailboxId | null): Promise<MetadataEntry[]> {
    return this.gate.run(() => metadata.getMetadata(this.ctx, account, mailboxId));
  }

  setMetadata(account: AccountId, mailboxId: MailboxId | null, changes: ReadonlyArray<{ entry: string; value: Buffer | null }>): Promise<void> {
    return this.gate.run(() => metadata.setMetadata(this.ctx, account, mailboxId, changes));
  }

  cachePreview(account: AccountId, mailboxId: MailboxId, uid: Uid, text: string): Promise<void> {
    return this.gate.run(() => mail.cachePreview(this.ctx, account, mailboxId, uid, text));
  }

  /** SupportsSearch: SQL over the index (queries-search.ts). */
  searchUids(account: AccountId, mailboxId: MailboxId, q: SearchQuery): Promise<Uid[]> {
    return this.gate.run(() => mail.searchUids(this.ctx, account, mailboxId, q));
  }

  /** SupportsSearch: the answer as text, from SQLite (queries.ts). */
  searchNumbers(account: AccountId, mailboxId: MailboxId, q: SearchQuery, range: NumbersRange): Promise<{ count: number; text: string }> {
    return this.gate.run(() => mail.searchNumbers(this.ctx, account, mailboxId, q, range));
  }

  /** SupportsSort: the sortkeys table (sortkeys.ts). */
  sortUids(account: AccountId, mailboxId: MailboxId, by: readonly SortCriterion[], uids?: readonly Uid[]): Promise<Uid[]> {
    return this.gate.run(() => sortkeys.sortUids(this.ctx, account, mailboxId, by, uids));
  }

  sortKeys(account: AccountId, mailboxId: MailboxId, uids?: readonly Uid[]): Promise<StoredSortKeys[]> {
    return this.gate.run(() => sortkeys.sortKeys(this.ctx, account, mailboxId, uids));
  }

  threadKeys(account: AccountId, mailboxId: MailboxId, uids?: readonly Uid[]): Promise<ThreadKeys[]> {
    return this.gate.run(() => sortkeys.threadKeys(this.ctx, account, mailboxId, uids));
  }

  /** SupportsTextSearch from the full-text index (fts.ts): messages not indexed yet are indexed first; those it cannot index come back unsure. */
  searchText(account: AccountId, mailboxId: MailboxId, term: TextTerm): Promise<TextAnswer> {
    return this.gate.run(() =>
      this.accounts.use(account, async (a) => {
        const mb = mustMailboxId(a, mailboxId);
        if (!this.fts) return { hits: [], unsure: a.ix.search(mailboxId, { k: 'all' }) as Uid[] };
        await this.fts.indexNow(a, mb);
        return ftsSearch(a.ix.db, mailboxId, term, () => !a.closed);
      }),
    );
  }

  readMessage(account: AccountId, mailboxId: MailboxId, uid: Uid): Promise<{ stream: Readable; size: number }> {
    return this.gate.run(() => mail.readMessage(this.ctx, account, mailboxId, uid));
  }

  async readMessageRange(account: AccountId, mailboxId: MailboxId, uid: Uid, range: ByteRange): Promise<Readable> {
    return (await mail.readMessage(this.ctx, account, mailboxId, uid, range)).stream;
  }

  // ---------------------------------------------------------------- writing

  append(account: AccountId, mailbox: string, source: MessageSource, opts: AppendOptions = {}): Promise<{ uid: Uid; uidValidity: number; mailboxId: MailboxId }> {
    return this.gate.run(() => append(this.ctx, account, mailbox, source, { flags: opts.flags, internalDate: opts.internalDate }));
  }

  importMessage(account: AccountId, mailbox: string, source: MessageSource, opts: ImportAppendOptions): Promise<{ uid: Uid; uidValidity: number; mailboxId: MailboxId }> {
    return this.gate.run(() => append(this.ctx, account, mailbox, source, opts));
  }

  deliver(targets: DeliveryTarget[], source: MessageSource, opts: DeliveryOptions = {}): Promise<DeliveryResult[]> {
    return this.gate.run(() => deliver(this.ctx, targets, source, opts));
  }

  updateFlags(account: AccountId, mailboxId: MailboxId, uids: Uid[], op: FlagOp, flags: string[], opts: FlagUpdateOptions = {}): Promise<FlagUpdate> {
    return this.gate.run(() => updateFlags(this.ctx, account, mailboxId, uids, op, flags, opts));
  }

  expunge(account: AccountId, mailboxId: MailboxId, uids?: Uid[]): Promise<Uid[]> {
    return this.gate.run(() => expunge(this.ctx, account, mailboxId, uids));
  }

  copy(account: AccountId, from: MailboxId, uids: Uid[], to: string): Promise<UidMapping> {
    return this.gate.run(() => transfer(this.ctx, account, from, uids, to, false));
  }

  move(account: AccountId, from: MailboxId, uids: Uid[], to: string): Promise<UidMapping> {
    return this.gate.run(() => transfer(this.ctx, account, from, uids, to, true));
  }

  vanished(account: AccountId, mailboxId: MailboxId, since: number): Promise<Vanished> {
    return this.gate.run(() => vanished(this.ctx, account, mailboxId, since));
  }
}
