/**
 * What the parts of the Maildir store share: the store-wide context (options, the
 * directory syncer, the change bus), one open account (its index, lock, UIDs reserved
 * in memory, paths being linked), and the small lookups every part needs (a mailbox
 * row or StoreError 'nonexistent', the directory of a folder, the quota check, the
 * one-time message analysis).
 */
import { createReadStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { InProcessChangeBus } from '../changes.js';
import { isEnoent } from '../../util/fs.js';
import { StoreError, type AccountId, type MessageAnalyzer, type MessageSource, type Quota } from '../types.js';
import type { Logger } from '../../log.js';
import type { Backfill } from './backfill.js';
import type { AccountCache } from './cache.js';
import type { DirSyncer, Mutex } from './fsio.js';
import type { MailboxRow, MessageRow } from './index-db.js';
import { canonicalName } from '../names.js';
import type { IndexQueries } from './queries.js';

/** Renames, unlinks or links run at most this many at a time per operation. */
export const FS_PARALLEL = 16;

export interface StoreCtx {
  readonly log?: Logger;
  readonly analyzer?: MessageAnalyzer;
  readonly quotaOf?: (account: AccountId) => Quota | undefined;
  /** fsync files (directories: `syncer`, which is off too when this is false). */
  readonly doFsync: boolean;
  readonly syncer: DirSyncer;
  readonly changes: InProcessChangeBus;
  /** Open accounts: `use` (open) and `locked` (open, lock held). */
  readonly accounts: AccountCache;
  /** Index transactions that committed delivery rows (group commit; tests and the bench). */
  indexCommits: number;
  /** Expunged UIDs remembered per mailbox (vanished.ts). */
  readonly expungedKept: number;
  /** Caches the analysis of messages indexed by name only (backfill.ts). */
  readonly backfill?: Backfill;
  /** Store calls and protocol sessions at work, for the background passes (whenQuiet). */
  readonly activity: Activity;
}

/**
 * What the background passes wait for: public store calls running (the OpGate), sessions
 * at work for their clients (MailStore.beginWork: a command running, its response being
 * written), and when the last of either ended (performance.now()).
 */
export interface Activity {
  last: number;
  running: number;
  /** Sessions at work: hold id → since when. */
  readonly sessions: Map<number, number>;
}

export function newActivity(): Activity {
  return { last: 0, running: 0, sessions: new Map() };
}

/** A background pass runs only after this long without a store call or a session at work. */
const QUIET_MS = 30;
/**
 * A session at work for longer than this no longer holds the passes back: a client that
 * does not read its FETCH 1:* (the response waits for 'drain'), a command that runs for
 * minutes; the passes then go on beside it, a batch at a time, as they do beside a
 * stream of store calls. Well above what a command takes on a loaded machine (the first
 * SELECT of 100 000 new files took 3.3 s at load 8; with 2 s its hold went stale before
 * its response was built, and a batch ran into the next command).
 */
export const HOLD_MAX_MS = 30_000;

let holds = 0;

/** A session starts working for its client (MailStore.beginWork); returns the end of it (idempotent). */
export function beginWork(activity: Activity): () => void {
  const id = ++holds;
  activity.sessions.set(id, performance.now());
  return () => {
    if (activity.sessions.delete(id)) activity.last = performance.now();
  };
}

/** Whether a store call runs or a session is at work now (a batch under way stops early). */
export function busy(activity: Activity, now = performance.now()): boolean {
  if (activity.running > 0) return true;
  for (const since of activity.sessions.values()) if (now - since < HOLD_MAX_MS) return true;
  return false;
}

/**
 * Resolves once no store call runs, no session is at work, and none has started or ended
 * for QUIET_MS: the background passes (dates.ts, backfill.ts, fts-fill.ts) leave the
 * event loop to sessions at work, so a command is never queued behind a batch of theirs.
 * A server that is never quiet leaves the work to first need.
 */
export async function whenQuiet(ctx: Pick<StoreCtx, 'activity'>): Promise<void> {
  for (;;) {
    const now = performance.now();
    const wait = busy(ctx.activity, now) ? QUIET_MS : ctx.activity.last + QUIET_MS - now;
    if (wait <= 0) return;
    await sleep(Math.ceil(wait));
  }
}

/** One open account. */
export interface Acct {
  id: AccountId;
  root: string;
  ix: IndexQueries;
  lock: Mutex;
  /** Paths being linked by deliveries and not yet indexed → [mailbox id, uid]. */
  inflight: Map<string, [number, number]>;
  refs: number;
  closed: boolean;
  /** UIDNEXT per mailbox id including UIDs reserved by deliveries not yet indexed. */
  uidNext: Map<number, number>;
  /** N of each mailbox's mailserver-uidvalidity as last written or read (uidlist.ts coverUids). */
  uidFileNext: Map<number, number>;
  /** The write of a mailbox's mailserver-uidvalidity under way, if any (they run one at a time). */
  uidFileWrite?: Map<number, Promise<void>>;
  /** st_dev of the account root (deliver: link or copy). */
  dev?: number;
  /** Index writes of deliveries waiting for the next group commit (save.ts indexWrite). */
  pendingWrites?: PendingWrite[];
  /** What the recovery at open took in, not yet reported by a reindex (sync.ts recoverAccount). */
  recovered?: { added: number; removed: number };
}

export interface PendingWrite {
  run: () => void;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** Mode of the directories the store makes: the server's user and group only. */
export const DIR_MODE = 0o750;

/** Makes (or remakes) the cur/ new/ tmp/ of a Maildir folder, mode DIR_MODE. */
export async function makeMaildirDirs(dir: string): Promise<void> {
  for (const d of ['cur', 'new', 'tmp']) await mkdir(path.join(dir, d), { recursive: true, mode: DIR_MODE });
}

/** The directory of a Maildir++ folder ('' is INBOX, the account root). */
export function dirOf(a: Acct, folder: string): string {
  return folder === '' ? a.root : path.join(a.root, folder);
}

export function msgPath(a: Acct, mb: MailboxRow, r: Pick<MessageRow, 'filename' | 'in_new'>): string {
  return path.join(dirOf(a, mb.folder), r.in_new ? 'new' : 'cur', r.filename);
}

/** The row of a mailbox name (validated and made canonical first). */
export function mustMailbox(a: Acct, name: string): MailboxRow {
  const row = a.ix.mailboxByName(canonicalName(name));
  if (!row) throw new StoreError('nonexistent', 'no such mailbox');
  return row;
}

export function mustMailboxId(a: Acct, id: number): MailboxRow {
  const row = a.ix.mailboxById(id);
  if (!row) throw new StoreError('nonexistent', 'no such mailbox');
  return row;
}

/** Throws StoreError 'overQuota' when adding `count` messages of `bytes` would exceed the account's quota. */
export function checkQuota(ctx: StoreCtx, a: Acct, bytes: number, count: number): void {
  const q = ctx.quotaOf?.(a.id);
  if (!q) return;
  const u = a.ix.usage();
  if (q.bytes != null && u.bytes + bytes > q.bytes) throw new StoreError('overQuota', `quota exceeded (storage) for ${a.id}`, a.id);
  if (q.messages != null && u.messages + count > q.messages) throw new StoreError('overQuota', `quota exceeded (messages) for ${a.id}`, a.id);
}

/** Envelope and body structure of a message, as the JSON cached in its row; {} without an analyzer or when it fails. */
export async function analyze(ctx: StoreCtx, src: MessageSource): Promise<{ envelope?: string; bodyStructure?: string }> {
  if (!ctx.analyzer) return {};
  const stream = 'data' in src ? undefined : createReadStream(src.path);
  try {
    const r = await ctx.analyzer(stream ?? (src as { data: Buffer }).data);
    return {
      envelope: r.envelope === undefined ? undefined : JSON.stringify(r.envelope),
      bodyStructure: r.bodyStructure === undefined ? undefined : JSON.stringify(r.bodyStructure),
    };
  } catch (err) {
    // A file gone meanwhile (expunged, or renamed by a flag change) is not a fault: the
    // structure is computed on first need from the file's new name, or never.
    if (isEnoent(err)) ctx.log?.debug({ err }, 'message file gone before its analysis');
    else ctx.log?.warn({ err }, 'message analysis failed; stored without cached structure');
    return {};
  } finally {
    stream?.destroy();
  }
}
