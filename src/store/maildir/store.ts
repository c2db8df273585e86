/**
 * MaildirStore: the MailStore interface over Maildir++ directories with a per-account
 * SQLite index. The on-disk format is described in ./index.ts; the index schema and
 * its durability argument in ./index-db.ts.
 *
 * Implementation notes
 * - Order of every write: files first (written, fsynced, linked/renamed, directory
 *   fsynced), then the index transaction, then `changes.publish`. Removals are the
 *   other way round for files (unlink first, then delete the row) so a crash never
 *   resurrects an expunged message.
 * - UIDs are chosen before a file gets its final name, because the name carries the
 *   UID (`,U=<uid>`): the UID is reserved (deliveries: in memory, see
 *   reserveUidInMemory; other paths: in the index), then the file is linked or renamed
 *   in, then the row is inserted together with the new UIDNEXT (deliveries: in a group
 *   commit, indexWrite). A crash in between leaves a file with a reserved UID that the
 *   next scan indexes under that same UID.
 * - Concurrency: one async mutex per account serialises everything that renames or
 *   removes files or chooses UIDs from file names (flags, expunge, copy, move, append,
 *   open/rescan, mailbox create/rename/delete). Deliveries do not take it (they only add
 *   fresh names under freshly reserved UIDs); the paths they are linking are kept in
 *   `inflight` so a concurrent scan does not index them twice.
 * - Cheap open (Dovecot maildir-sync.c idea): new/ is always listed (it is emptied into
 *   cur/ at every open, so it stays small); cur/ is listed only when its mtime differs
 *   from the one stored after the last full scan. Our own changes to cur/ update the
 *   stored mtime only if it was current before the change, so earlier changes by other
 *   tools are not masked. On file systems with whole-second timestamps an mtime less
 *   than a second old is not trusted (Dovecot's MAILDIR_SYNC_SECS); with sub-second
 *   timestamps a change by another tool within the same clock tick as one of ours can
 *   go unnoticed until the next change or `reindex` (a missing file is still found:
 *   readMessage rescans on ENOENT).
 */
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import type Database from 'better-sqlite3';
import { InProcessChangeBus } from '../changes.js';
import {
  StoreError,
  type AccountId,
  type AppendOptions,
  type DeliveryResult,
  type DeliveryTarget,
  type FlagChange,
  type FetchMetaOptions,
  type FlagOp,
  type MailboxId,
  type MailboxInfo,
  type MailboxSnapshot,
  type MailboxView,
  type MailStore,
  type MessageAnalyzer,
  type MessageMeta,
  type MessageSource,
  type Quota,
  type ReindexReport,
  type SpecialUse,
  type Uid,
  type UidMapping,
  type Usage,
} from '../types.js';
import type { Logger } from '../../log.js';
import { baseOf, bitsOfLetters, curName, FLAG_DELETED, fieldsOf, flagList, infoOf, parseFlags, uniqueBase, withUid } from './filename.js';
import { isEnoent, linkOrCopy, writeFileSynced } from '../../util/fs.js';
import { DirSyncer, Mutex, settleLimit } from './fsio.js';
import { openIndex, type IndexDb, type MailboxRow, type MessageRow } from './index-db.js';
import { accountSegments, canonicalName, folderOf, nameOfFolder, parentsOf } from './names.js';

export interface MaildirStoreOptions {
  dataRoot: string;
  log?: Logger;
  analyzer?: MessageAnalyzer;
  quotaOf?: (account: AccountId) => Quota | undefined;
  /** fsync files and directories (default true; only tests of unrelated parts may turn it off). */
  fsync?: boolean;
  /** Open account indexes kept in the cache (default 64). */
  maxOpenAccounts?: number;
}

/** The special-use folders every account gets (RFC 6154). */
export const SPECIAL_FOLDERS: ReadonlyArray<readonly [string, SpecialUse]> = [
  ['Drafts', '\\Drafts'],
  ['Sent', '\\Sent'],
  ['Junk', '\\Junk'],
  ['Trash', '\\Trash'],
  ['Archive', '\\Archive'],
];

export const UIDVALIDITY_FILE = 'mailserver-uidvalidity';
const INDEX_FILE = 'index.sqlite';
const MAX_UID = 0xffffffff;
/** Directory mtimes younger than this are not trusted (coarse timestamps). */
const MTIME_TRUST_MS = 1000;
const FS_PARALLEL = 16;

interface Acct {
  id: AccountId;
  root: string;
  db: IndexDb;
  lock: Mutex;
  /** Paths being linked by deliveries and not yet indexed → [mailbox id, uid]. */
  inflight: Map<string, [number, number]>;
  refs: number;
  closed: boolean;
  stmts: Map<string, Database.Statement>;
  /** UIDNEXT per mailbox id including UIDs reserved by deliveries not yet indexed. */
  uidNext: Map<number, number>;
  /** st_dev of the account root (deliver: link or copy). */
  dev?: number;
  /** Index writes of deliveries waiting for the next group commit (indexWrite). */
  pendingWrites?: PendingWrite[];
}

interface PendingWrite {
  run: () => void;
  resolve: () => void;
  reject: (e: unknown) => void;
}

type MsgKey = Pick<MessageRow, 'uid' | 'filename' | 'in_new' | 'flags'>;

export class MaildirStore implements MailStore {
  readonly changes: InProcessChangeBus;
  private readonly dataRoot: string;
  private readonly log?: Logger;
  private readonly analyzer?: MessageAnalyzer;
  private readonly quotaOf?: (account: AccountId) => Quota | undefined;
  private readonly doFsync: boolean;
  private readonly maxOpen: number;
  private readonly syncer: DirSyncer;
  private readonly cache = new Map<AccountId, Acct>();
  private readonly opening = new Map<AccountId, Promise<Acct>>();

  constructor(opts: MaildirStoreOptions) {
    this.dataRoot = path.resolve(opts.dataRoot);
    // The caller binds the component (server.ts: log.child({ component: 'store' })).
    this.log = opts.log;
    this.analyzer = opts.analyzer;
    this.quotaOf = opts.quotaOf;
    this.doFsync = opts.fsync ?? true;
    this.maxOpen = Math.max(1, opts.maxOpenAccounts ?? 64);
    this.syncer = new DirSyncer(this.doFsync);
    this.changes = new InProcessChangeBus(this.log);
  }

  /** `<data>/maildir/<domain>/<local>` of an account (validated). */
  accountRoot(account: AccountId): string {
    const { local, domain } = accountSegments(account);
    return path.join(this.dataRoot, 'maildir', domain, local);
  }

  /** Index transactions that committed delivery rows (group commit; for tests and the bench). */
  indexCommits = 0;

  /** Directory fsyncs done so far (bench: shows how well group commit batches). */
  get dirFsyncs(): number {
    return this.syncer.fsyncs;
  }

  // ---------------------------------------------------------------- accounts

  async ensureAccount(account: AccountId): Promise<void> {
    await this.use(account, async () => undefined);
  }

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
      a.db.close();
    } catch (err) {
      this.log?.warn({ err, account: a.id }, 'closing index failed');
    }
  }

  private async acquire(account: AccountId): Promise<Acct> {
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

  private async devOf(a: Acct): Promise<number> {
    a.dev ??= (await stat(a.root)).dev;
    return a.dev;
  }

  private release(a: Acct): void {
    a.refs--;
  }

  private async use<T>(account: AccountId, fn: (a: Acct) => Promise<T>): Promise<T> {
    const a = await this.acquire(account);
    try {
      return await fn(a);
    } finally {
      this.release(a);
    }
  }

  private async locked<T>(account: AccountId, fn: (a: Acct) => Promise<T>): Promise<T> {
    return this.use(account, (a) =>
      a.lock.run(async () => {
        if (a.closed) throw new StoreError('nonexistent', 'account removed');
        return fn(a);
      }),
    );
  }

  private async openAccount(account: AccountId): Promise<Acct> {
    const root = this.accountRoot(account);
    for (const d of ['cur', 'new', 'tmp']) await mkdir(path.join(root, d), { recursive: true, mode: 0o750 });
    const a: Acct = { id: account, root, db: await this.openIndexOrRebuild(account, root), lock: new Mutex(), inflight: new Map(), uidNext: new Map(), refs: 1, closed: false, stmts: new Map() };
    try {
      if (this.meta(a, 'initialized') === undefined) await a.lock.run(() => this.initAccount(a));
    } catch (e) {
      this.closeAcct(a);
      throw e;
    }
    a.refs--;
    this.cache.set(account, a);
    this.evict();
    await this.cleanTmp(a).catch((err: unknown) => this.log?.warn({ err, account }, 'cleaning tmp/ failed'));
    return a;
  }

  /**
   * Opens the account's index; an index SQLite cannot read (corrupt, not a database) is
   * moved aside and a fresh one is built from the files by initAccount's reindex (UIDs
   * and UIDVALIDITY come back from the names and mailserver-uidvalidity files).
   */
  private async openIndexOrRebuild(account: AccountId, root: string): Promise<IndexDb> {
    const file = path.join(root, INDEX_FILE);
    try {
      return openIndex(file);
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      if (!/^SQLITE_(CORRUPT|NOTADB)/.test(code)) throw err;
      const aside = `${file}.corrupt-${Date.now()}`;
      this.log?.error({ err, account, aside }, 'index unreadable; moved aside, rebuilding from the Maildir');
      await rename(file, aside);
      for (const x of ['-wal', '-shm']) await rm(file + x, { force: true });
      return openIndex(file);
    }
  }

  /**
   * Maildir: files in tmp/ untouched for 36 hours are leftovers of interrupted writes
   * (a crash before the link); `.deleted-*` are mailboxes whose removal was interrupted.
   */
  private async cleanTmp(a: Acct): Promise<void> {
    const tmp = path.join(a.root, 'tmp');
    const cutoff = Date.now() - 36 * 3600_000;
    for (const e of await readdir(tmp, { withFileTypes: true })) {
      const p = path.join(tmp, e.name);
      if (e.isDirectory() && e.name.startsWith('.deleted-')) await rm(p, { recursive: true, force: true });
      else if (e.isFile() && (await stat(p)).mtimeMs < cutoff) await unlink(p).catch(() => undefined);
    }
  }

  /** First open of an account index: index what is on disk (an imported or orphaned Maildir), then add the special-use folders. */
  private async initAccount(a: Acct): Promise<void> {
    await this.reindexLocked(a);
    if (!this.mailboxByName(a, 'INBOX')) await this.createMailboxLocked(a, 'INBOX', { subscribed: true });
    this.q(a, 'UPDATE mailboxes SET subscribed = 1 WHERE name = ?').run('INBOX');
    for (const [name, use] of SPECIAL_FOLDERS) {
      const row = this.mailboxByName(a, name);
      if (row) {
        if (!row.special_use) this.q(a, 'UPDATE mailboxes SET special_use = ?, subscribed = 1 WHERE id = ?').run(use, row.id);
      } else {
        await this.createMailboxLocked(a, name, { specialUse: use, subscribed: true });
      }
    }
    this.setMeta(a, 'initialized', String(Date.now()));
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

  // ---------------------------------------------------------------- index helpers

  private q(a: Acct, sql: string): Database.Statement {
    let s = a.stmts.get(sql);
    if (!s) {
      s = a.db.prepare(sql);
      a.stmts.set(sql, s);
    }
    return s;
  }

  private meta(a: Acct, key: string): string | undefined {
    return (this.q(a, 'SELECT value FROM meta WHERE key = ?').pluck().get(key) as string | undefined) ?? undefined;
  }

  private setMeta(a: Acct, key: string, value: string): void {
    this.q(a, 'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  private mailboxByName(a: Acct, name: string): MailboxRow | undefined {
    return this.q(a, 'SELECT * FROM mailboxes WHERE name = ?').get(name) as MailboxRow | undefined;
  }

  private mailboxById(a: Acct, id: number): MailboxRow | undefined {
    return this.q(a, 'SELECT * FROM mailboxes WHERE id = ?').get(id) as MailboxRow | undefined;
  }

  private mustMailbox(a: Acct, name: string): MailboxRow {
    const row = this.mailboxByName(a, canonicalName(name));
    if (!row) throw new StoreError('nonexistent', 'no such mailbox');
    return row;
  }

  private mustMailboxId(a: Acct, id: number): MailboxRow {
    const row = this.mailboxById(a, id);
    if (!row) throw new StoreError('nonexistent', 'no such mailbox');
    return row;
  }

  private dirOf(a: Acct, folder: string): string {
    return folder === '' ? a.root : path.join(a.root, folder);
  }

  private msgPath(a: Acct, mb: MailboxRow, r: Pick<MessageRow, 'filename' | 'in_new'>): string {
    return path.join(this.dirOf(a, mb.folder), r.in_new ? 'new' : 'cur', r.filename);
  }

  /** Reserves n consecutive UIDs and stores the new UIDNEXT (call inside the transaction that uses them). */
  private reserveUids(a: Acct, mailboxId: number, n: number): number {
    const next = this.q(a, 'UPDATE mailboxes SET uidnext = max(uidnext, ?) + ? WHERE id = ? RETURNING uidnext').pluck().get(a.uidNext.get(mailboxId) ?? 0, n, mailboxId) as number;
    if (next - 1 > MAX_UID) throw new StoreError('overQuota', 'UID space of the mailbox exhausted');
    a.uidNext.set(mailboxId, next);
    return next - n;
  }

  /**
   * Reserves one UID for a delivery without a commit: the in-memory counter runs ahead
   * of the stored UIDNEXT until the delivery's row is inserted (which stores it). After
   * a crash in between, the file's `,U=` is above the stored UIDNEXT and the next scan
   * indexes it under that UID and raises UIDNEXT, so nothing is handed out twice.
   */
  private reserveUidInMemory(a: Acct, mb: MailboxRow): number {
    // mb was read by this delivery moments ago; UIDs reserved since by this process are
    // in a.uidNext (every reserving path updates it).
    const uid = Math.max(mb.uidnext, a.uidNext.get(mb.id) ?? 0);
    if (uid > MAX_UID) throw new StoreError('overQuota', 'UID space of the mailbox exhausted');
    a.uidNext.set(mb.id, uid + 1);
    return uid;
  }

  /**
   * Group commit of delivery index rows: the writes queued in one turn of the event loop
   * (deliveries whose directory fsync finished together) share one transaction, so one
   * WAL append and one round of locks instead of one each. A batch that fails is retried
   * write by write, so a bad row fails only its own delivery. Durability is unchanged:
   * the files were fsynced before their rows are queued (see index-db.ts).
   */
  private indexWrite(a: Acct, run: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!a.pendingWrites) {
        a.pendingWrites = [];
        setImmediate(() => this.flushWrites(a));
      }
      a.pendingWrites.push({ run, resolve, reject });
    });
  }

  private flushWrites(a: Acct): void {
    const batch = a.pendingWrites ?? [];
    a.pendingWrites = undefined;
    if (a.closed) {
      for (const w of batch) w.reject(new StoreError('nonexistent', 'account removed'));
      return;
    }
    if (batch.length > 1) {
      try {
        a.db.transaction(() => {
          for (const w of batch) w.run();
        })();
        this.indexCommits++;
        for (const w of batch) w.resolve();
        return;
      } catch {
        // rolled back as a whole; each write gets its own answer below
      }
    }
    for (const w of batch) {
      try {
        a.db.transaction(w.run)();
        this.indexCommits++;
        w.resolve();
      } catch (e) {
        w.reject(e);
      }
    }
  }

  /**
   * Raises the stored UIDNEXT (UIDs found in file names) and the in-memory one with it:
   * deliveries reserve from the mailbox row they read before their file write plus
   * a.uidNext, so every path that raises UIDNEXT must raise a.uidNext too.
   */
  private raiseUidNext(a: Acct, mailboxId: number, next: number): void {
    this.q(a, 'UPDATE mailboxes SET uidnext = max(uidnext, ?) WHERE id = ?').run(next, mailboxId);
    a.uidNext.set(mailboxId, Math.max(a.uidNext.get(mailboxId) ?? 0, next));
  }

  /** UIDNEXT including UIDs reserved by deliveries in flight. */
  private uidNextOf(a: Acct, mb: MailboxRow): number {
    return Math.max(mb.uidnext, a.uidNext.get(mb.id) ?? 0);
  }

  private bumpModseq(a: Acct, mailboxId: number): number {
    return this.q(a, 'UPDATE mailboxes SET highest_modseq = highest_modseq + 1 WHERE id = ? RETURNING highest_modseq').pluck().get(mailboxId) as number;
  }

  private nextUidValidity(a: Acct, given?: number): number {
    const last = Number(this.meta(a, 'last_uidvalidity') ?? 0);
    const v = given ?? Math.max(Math.floor(Date.now() / 1000), last + 1);
    if (v > last) this.setMeta(a, 'last_uidvalidity', String(v));
    return v;
  }

  private info(r: MailboxRow): MailboxInfo {
    return {
      id: r.id as MailboxId,
      name: r.name,
      specialUse: (r.special_use ?? undefined) as SpecialUse | undefined,
      subscribed: r.subscribed === 1,
      uidValidity: r.uidvalidity,
      uidNext: r.uidnext,
      messages: r.messages,
      unseen: r.unseen,
      size: r.size,
      highestModseq: r.highest_modseq,
      recent: r.recent,
    };
  }

  private checkQuota(a: Acct, bytes: number, count: number): void {
    const q = this.quotaOf?.(a.id);
    if (!q) return;
    const u = this.q(a, 'SELECT bytes, messages FROM usage WHERE id = 1').get() as Usage;
    if (q.bytes != null && u.bytes + bytes > q.bytes) throw new StoreError('overQuota', `quota exceeded (storage) for ${a.id}`, a.id);
    if (q.messages != null && u.messages + count > q.messages) throw new StoreError('overQuota', `quota exceeded (messages) for ${a.id}`, a.id);
  }

  private async writeUidFile(dir: string, uidvalidity: number, uidnext: number): Promise<void> {
    const tmp = path.join(dir, `.${UIDVALIDITY_FILE}.tmp`);
    await writeFile(tmp, `V${uidvalidity} N${uidnext}\n`);
    await rename(tmp, path.join(dir, UIDVALIDITY_FILE));
  }

  private async readUidFile(dir: string): Promise<{ uidvalidity?: number; uidnext?: number }> {
    try {
      const s = await readFile(path.join(dir, UIDVALIDITY_FILE), 'utf8');
      const v = /V(\d+)/.exec(s);
      const n = /N(\d+)/.exec(s);
      return { uidvalidity: v ? Number(v[1]) : undefined, uidnext: n ? Number(n[1]) : undefined };
    } catch {
      return {};
    }
  }

  private async analyze(src: { path: string } | { data: Buffer }): Promise<{ envelope?: string; bodyStructure?: string }> {
    if (!this.analyzer) return {};
    const stream = 'data' in src ? undefined : createReadStream(src.path);
    try {
      const r = await this.analyzer(stream ?? (src as { data: Buffer }).data);
      return {
        envelope: r.envelope === undefined ? undefined : JSON.stringify(r.envelope),
        bodyStructure: r.bodyStructure === undefined ? undefined : JSON.stringify(r.bodyStructure),
      };
    } catch (err) {
      this.log?.warn({ err }, 'message analysis failed; stored without cached structure');
      return {};
    } finally {
      stream?.destroy();
    }
  }

  private insertMessage(a: Acct, m: Omit<MessageRow, 'envelope' | 'body_structure'> & { envelope?: string | null; body_structure?: string | null }): void {
    this.q(
      a,
      `INSERT INTO messages (mailbox_id, uid, filename, in_new, flags, keywords, modseq, size, internal_date, envelope, body_structure)
       VALUES (@mailbox_id, @uid, @filename, @in_new, @flags, @keywords, @modseq, @size, @internal_date, @envelope, @body_structure)`,
    ).run({ ...m, envelope: m.envelope ?? null, body_structure: m.body_structure ?? null });
  }

  /** Runs fn (which changes cur/ of mb) and keeps the stored cur/ mtime current if it was current before. */
  private async trackCur<T>(a: Acct, mb: MailboxRow, fn: () => Promise<T>): Promise<T> {
    const cur = path.join(this.dirOf(a, mb.folder), 'cur');
    const before = await stat(cur, { bigint: true }).then(
      (s) => String(s.mtimeNs),
      () => null,
    );
    const r = await fn();
    const stored = this.q(a, 'SELECT cur_mtime FROM mailboxes WHERE id = ?').pluck().get(mb.id) as string | null | undefined;
    if (before !== null && stored === before) await this.storeCurMtime(a, mb.id, cur);
    return r;
  }

  private async storeCurMtime(a: Acct, mailboxId: number, cur: string, known?: bigint): Promise<void> {
    const m = known ?? (await stat(cur, { bigint: true })).mtimeNs;
    // On a file system with whole-second timestamps a later change in the same second
    // would keep this mtime: do not trust it yet (rescan once more). With sub-second
    // timestamps (ext4, xfs, btrfs, tmpfs) only a change within the same clock tick
    // (a few ms) as ours could hide; that window is accepted.
    const secondsOnly = m % 1_000_000_000n === 0n;
    const fresh = secondsOnly && Date.now() - Number(m / 1_000_000n) < MTIME_TRUST_MS;
    this.q(a, 'UPDATE mailboxes SET cur_mtime = ? WHERE id = ?').run(fresh ? null : String(m), mailboxId);
  }

  // ---------------------------------------------------------------- mailboxes

  async listMailboxes(account: AccountId): Promise<MailboxInfo[]> {
    return this.locked(account, async (a) => {
      // Folders created or removed by other tools (mbsync, mutt) show up on the next LIST.
      const m = (await stat(a.root, { bigint: true })).mtimeNs;
      if (this.meta(a, 'root_mtime') !== String(m)) await this.syncFolders(a);
      const rows = this.q(a, "SELECT * FROM mailboxes ORDER BY name <> 'INBOX', name").all() as MailboxRow[];
      return rows.map((r) => this.info(r));
    });
  }

  async getMailbox(account: AccountId, name: string): Promise<MailboxInfo> {
    return this.use(account, async (a) => this.info(this.mustMailbox(a, name)));
  }

  async createMailbox(account: AccountId, name: string, opts: { specialUse?: SpecialUse; uidValidity?: number } = {}): Promise<MailboxInfo> {
    const canon = canonicalName(name);
    if (opts.uidValidity !== undefined && !(Number.isInteger(opts.uidValidity) && opts.uidValidity >= 1 && opts.uidValidity <= MAX_UID)) {
      throw new StoreError('invalidName', 'UIDVALIDITY out of range');
    }
    return this.locked(account, async (a) => {
      if (this.mailboxByName(a, canon)) throw new StoreError('exists', 'mailbox exists');
      // RFC 9051 §6.3.4: create the superior hierarchical names that are needed.
      for (const p of parentsOf(canon)) if (!this.mailboxByName(a, p)) await this.createMailboxLocked(a, p, {});
      const row = await this.createMailboxLocked(a, canon, { specialUse: opts.specialUse, uidValidity: opts.uidValidity });
      return this.info(row);
    });
  }

  private async createMailboxLocked(a: Acct, canon: string, opts: { specialUse?: SpecialUse; uidValidity?: number; uidNext?: number; subscribed?: boolean }): Promise<MailboxRow> {
    const folder = folderOf(canon);
    const dir = this.dirOf(a, folder);
    for (const d of ['cur', 'new', 'tmp']) await mkdir(path.join(dir, d), { recursive: true, mode: 0o750 });
    // Maildir++: subfolders carry an empty `maildirfolder` file.
    if (folder !== '') await writeFile(path.join(dir, 'maildirfolder'), '', { flag: 'a' });
    const uidvalidity = this.nextUidValidity(a, opts.uidValidity);
    const uidnext = opts.uidNext ?? 1;
    await this.writeUidFile(dir, uidvalidity, uidnext);
    if (this.doFsync && folder !== '') await this.syncer.sync(a.root);
    this.q(a, 'INSERT INTO mailboxes (name, folder, uidvalidity, uidnext, subscribed, special_use) VALUES (?, ?, ?, ?, ?, ?)').run(
      canon,
      folder,
      uidvalidity,
      uidnext,
      opts.subscribed ? 1 : 0,
      opts.specialUse ?? null,
    );
    const row = this.mailboxByName(a, canon)!;
    this.changes.publish({ kind: 'mailboxAdded', account: a.id, name: canon });
    return row;
  }

  async setUidState(account: AccountId, name: string, state: { uidValidity?: number; uidNext?: number }): Promise<MailboxInfo> {
    const canon = canonicalName(name);
    for (const v of [state.uidValidity, state.uidNext]) {
      if (v !== undefined && !(Number.isInteger(v) && v >= 1 && v <= MAX_UID + 1)) throw new StoreError('invalidName', 'UIDVALIDITY or UIDNEXT out of range');
    }
    return this.locked(account, async (a) => {
      const mb = this.mustMailbox(a, canon);
      if (state.uidValidity !== undefined && state.uidValidity !== mb.uidvalidity) {
        // RFC 9051 §2.3.1.1: a UIDVALIDITY may change only with every UID; here no UID was ever given.
        if (mb.messages > 0 || this.uidNextOf(a, mb) > 1) throw new StoreError('exists', `mailbox ${canon} has held messages; its UIDVALIDITY stays`);
        this.nextUidValidity(a, state.uidValidity);
        this.q(a, 'UPDATE mailboxes SET uidvalidity = ? WHERE id = ?').run(state.uidValidity, mb.id);
      }
      if (state.uidNext !== undefined) this.raiseUidNext(a, mb.id, state.uidNext);
      const row = this.mustMailboxId(a, mb.id);
      await this.writeUidFile(this.dirOf(a, row.folder), row.uidvalidity, Math.max(row.uidnext, this.uidNextOf(a, row)));
      return this.info(row);
    });
  }

  async deleteMailbox(account: AccountId, name: string): Promise<void> {
    const canon = canonicalName(name);
    // RFC 9051 §6.3.5: it is an error to delete INBOX.
    if (canon === 'INBOX') throw new StoreError('noPermission', 'INBOX cannot be deleted');
    await this.locked(account, async (a) => {
      const mb = this.mustMailbox(a, canon);
      // Like Dovecot: a mailbox with inferior names is refused, the user deletes the children first.
      const child = this.q(a, 'SELECT 1 FROM mailboxes WHERE substr(name, 1, ?) = ? LIMIT 1').get(canon.length + 1, canon + '/');
      if (child) throw new StoreError('hasChildren', 'mailbox has children');
      const dir = this.dirOf(a, mb.folder);
      const trash = path.join(a.root, 'tmp', `.deleted-${mb.id}-${Date.now()}`);
      let moved = true;
      try {
        await rename(dir, trash);
      } catch (e) {
        if (!isEnoent(e)) throw e;
        moved = false;
      }
      await this.syncer.sync(a.root);
      a.db.transaction(() => {
        this.q(a, 'DELETE FROM messages WHERE mailbox_id = ?').run(mb.id);
        this.q(a, 'DELETE FROM mailboxes WHERE id = ?').run(mb.id);
      })();
      if (moved) await rm(trash, { recursive: true, force: true });
      this.changes.publish({ kind: 'mailboxRemoved', account: a.id, name: canon });
    });
  }

  async renameMailbox(account: AccountId, from: string, to: string): Promise<void> {
    const src = canonicalName(from);
    const dst = canonicalName(to);
    await this.locked(account, async (a) => {
      const mb = this.mustMailbox(a, src);
      if (src === dst || this.mailboxByName(a, dst)) throw new StoreError('exists', 'target mailbox exists');
      if (dst.startsWith(src + '/')) throw new StoreError('invalidName', 'cannot rename a mailbox into itself');
      if (src === 'INBOX') return this.renameInbox(a, mb, dst);

      const children = this.q(a, 'SELECT * FROM mailboxes WHERE substr(name, 1, ?) = ? ORDER BY name').all(src.length + 1, src + '/') as MailboxRow[];
      const plan = [mb, ...children].map((r) => {
        const name = canonicalName(dst + r.name.slice(src.length));
        if (this.mailboxByName(a, name)) throw new StoreError('exists', 'target mailbox exists');
        return { row: r, name, folder: folderOf(name) };
      });
      const done: typeof plan = [];
      try {
        for (const p of plan) {
          const target = this.dirOf(a, p.folder);
          if (await stat(target).then(() => true, () => false)) throw new StoreError('exists', 'target folder exists on disk');
          await rename(this.dirOf(a, p.row.folder), target);
          done.push(p);
        }
      } catch (e) {
        for (const p of done.reverse()) await rename(this.dirOf(a, p.folder), this.dirOf(a, p.row.folder)).catch(() => undefined);
        throw e;
      }
      await this.syncer.sync(a.root);
      a.db.transaction(() => {
        for (const p of plan) this.q(a, 'UPDATE mailboxes SET name = ?, folder = ? WHERE id = ?').run(p.name, p.folder, p.row.id);
      })();
      for (const p of plan) this.changes.publish({ kind: 'mailboxRenamed', account: a.id, from: p.row.name, to: p.name });
      // RFC 9051 §6.3.6: superior hierarchical names of the new name are created.
      for (const p of parentsOf(dst)) if (!this.mailboxByName(a, p)) await this.createMailboxLocked(a, p, {});
    });
  }

  /** RFC 9051 §6.3.6: renaming INBOX moves all its messages to a new mailbox and leaves INBOX empty; INBOX's children stay. */
  private async renameInbox(a: Acct, inbox: MailboxRow, dst: string): Promise<void> {
    for (const p of parentsOf(dst)) if (!this.mailboxByName(a, p)) await this.createMailboxLocked(a, p, {});
    const target = await this.createMailboxLocked(a, dst, { uidNext: this.uidNextOf(a, inbox) });
    const rows = this.q(a, 'SELECT uid, filename, in_new FROM messages WHERE mailbox_id = ? ORDER BY uid').all(inbox.id) as MsgKey[];
    const moved: MsgKey[] = [];
    await this.trackCur(a, inbox, () =>
      this.trackCur(a, target, async () => {
        const res = await settleLimit(rows, FS_PARALLEL, async (r) => {
          await rename(this.msgPath(a, inbox, r), this.msgPath(a, target, r));
          return r;
        });
        for (const x of res) if (x.ok) moved.push(x.value);
        const tdir = this.dirOf(a, target.folder);
        await Promise.all([this.syncer.sync(path.join(tdir, 'cur')), this.syncer.sync(path.join(tdir, 'new')), this.syncer.sync(path.join(a.root, 'cur')), this.syncer.sync(path.join(a.root, 'new'))]);
        a.db.transaction(() => {
          const modseq = this.bumpModseq(a, target.id);
          this.bumpModseq(a, inbox.id);
          const upd = this.q(a, 'UPDATE messages SET mailbox_id = ?, modseq = ? WHERE mailbox_id = ? AND uid = ?');
          for (const r of moved) upd.run(target.id, modseq, inbox.id, r.uid);
        })();
      }),
    );
    await this.writeUidFile(a.root, inbox.uidvalidity, inbox.uidnext);
    if (moved.length > 0) {
      this.changes.publish({ kind: 'expunged', account: a.id, mailboxId: inbox.id as MailboxId, uids: moved.map((r) => r.uid as Uid) });
      this.changes.publish({ kind: 'added', account: a.id, mailboxId: target.id as MailboxId, uids: moved.map((r) => r.uid as Uid) });
    }
  }

  async setSubscribed(account: AccountId, name: string, subscribed: boolean): Promise<void> {
    await this.use(account, async (a) => {
      const mb = this.mustMailbox(a, name);
      this.q(a, 'UPDATE mailboxes SET subscribed = ? WHERE id = ?').run(subscribed ? 1 : 0, mb.id);
    });
  }

  // ---------------------------------------------------------------- open / scan

  async openMailbox(account: AccountId, name: string): Promise<MailboxSnapshot> {
    const canon = canonicalName(name);
    return this.locked(account, async (a) => {
      const info = await this.openLocked(a, canon);
      // 100 000 messages: raw rows, and one frozen flags array per flag combination
      // for messages without keywords (the common case), shared between messages.
      const rows = this.q(a, 'SELECT uid, flags, keywords, modseq, size, internal_date FROM messages WHERE mailbox_id = ? ORDER BY uid').raw().all(info.id) as Array<
        [number, number, string | null, number, number, number]
      >;
      const shared = new Map<number, string[]>();
      const messages = rows.map(([uid, bits, kw, modseq, size, date]): MessageMeta => ({ uid: uid as Uid, flags: sharedFlags(shared, bits, kw), modseq, size, internalDate: new Date(date) }));
      return { mailbox: info, messages };
    });
  }

  async selectMailbox(account: AccountId, name: string): Promise<MailboxView> {
    const canon = canonicalName(name);
    return this.locked(account, async (a) => {
      const info = await this.openLocked(a, canon);
      // From the (mailbox_id, uid) index alone: no row is read for the UID list.
      const uids = this.q(a, 'SELECT uid FROM messages WHERE mailbox_id = ? ORDER BY uid').pluck().all(info.id) as Uid[];
      const kwSets = this.q(a, 'SELECT DISTINCT keywords FROM messages WHERE mailbox_id = ? AND keywords IS NOT NULL').pluck().all(info.id) as string[];
      const keywords = new Set<string>();
      for (const k of kwSets) for (const w of JSON.parse(k) as string[]) keywords.add(w);
      // (flags & 1) is \Seen (FLAG_SEEN), spelled as in the messages_unseen partial index.
      const firstUnseen = this.q(a, 'SELECT min(uid) FROM messages WHERE mailbox_id = ? AND (flags & 1) = 0').pluck().get(info.id) as number | null;
      return { mailbox: info, uids, keywords: [...keywords], ...(firstUnseen !== null ? { firstUnseen: firstUnseen as Uid } : {}) };
    });
  }

  /** The pick-up part of an open (under the lock); the mailbox info with this open's \Recent. */
  private async openLocked(a: Acct, canon: string): Promise<MailboxInfo> {
    const mb = this.mustMailbox(a, canon);
    const { recent } = await this.syncMailbox(a, mb.id, false);
    const info = this.info(this.mustMailboxId(a, mb.id));
    // \Recent (RFC 3501 §2.3.2): the messages this open moved out of new/.
    info.recent = recent;
    return info;
  }

  /**
   * Brings the index of one mailbox in line with its directories: indexed files in new/
   * move to cur/; files nobody indexed (dropped by another tool, or left by a crash after
   * the link) are indexed, keeping a valid `,U=` UID; with a full scan, flag changes made
   * by renames of other tools are taken over and rows of vanished files are removed.
   */
  private async syncMailbox(a: Acct, mailboxId: number, force: boolean): Promise<{ recent: number; added: number; removed: number }> {
    const mb = this.mustMailboxId(a, mailboxId);
    const dir = this.dirOf(a, mb.folder);
    const newDir = path.join(dir, 'new');
    const curDir = path.join(dir, 'cur');
    for (const d of ['cur', 'new', 'tmp']) await mkdir(path.join(dir, d), { recursive: true });
    const newNames = (await readdir(newDir)).filter((n) => !n.startsWith('.'));
    // Synchronous from here to the classification, so a delivery cannot commit in between.
    const newRows = this.q(a, 'SELECT uid, filename, in_new, flags FROM messages WHERE mailbox_id = ? AND in_new = 1').all(mailboxId) as MsgKey[];
    const byNewName = new Map(newRows.map((r) => [r.filename, r]));
    const toMove: MsgKey[] = [];
    const unknown: Array<{ name: string; inNew: boolean }> = [];
    for (const n of newNames) {
      const r = byNewName.get(n);
      if (r) toMove.push(r);
      else if (!a.inflight.has(path.join(newDir, n))) unknown.push({ name: n, inNew: true });
    }
    const listed = new Set(newNames);
    let needCur = force || newRows.some((r) => !listed.has(r.filename));
    if (!needCur) {
      const m = await stat(curDir, { bigint: true });
      const stored = this.mustMailboxId(a, mailboxId).cur_mtime;
      needCur = stored === null || stored !== String(m.mtimeNs);
    }

    let recent = 0;
    let added = 0;
    await this.trackCur(a, mb, async () => {
      // Dovecot semantics: a message leaves new/ the first time a mailbox is opened.
      const res = await settleLimit(toMove, FS_PARALLEL, async (r) => {
        const target = curName(baseOf(r.filename), r.flags);
        await rename(path.join(newDir, r.filename), path.join(curDir, target));
        return [r, target] as const;
      });
      const ok = res.flatMap((x) => (x.ok ? [x.value] : []));
      a.db.transaction(() => {
        const upd = this.q(a, 'UPDATE messages SET in_new = 0, filename = ? WHERE mailbox_id = ? AND uid = ?');
        for (const [r, target] of ok) upd.run(target, mailboxId, r.uid);
      })();
      recent += ok.length;
      const picked = await this.pickup(a, mb, unknown);
      recent += picked;
      added += picked;
    });
    let removed = 0;
    if (needCur) {
      const r = await this.rescanCur(a, mb);
      added += r.added;
      removed += r.removed;
    }
    return { recent, added, removed };
  }

  /** Full scan of cur/ (and the rows still in new/). */
  private async rescanCur(a: Acct, mb: MailboxRow): Promise<{ added: number; removed: number }> {
    const dir = this.dirOf(a, mb.folder);
    const curDir = path.join(dir, 'cur');
    const m0 = (await stat(curDir, { bigint: true })).mtimeNs;
    const names = (await readdir(curDir)).filter((n) => !n.startsWith('.'));
    const rows = this.q(a, 'SELECT uid, filename, in_new, flags FROM messages WHERE mailbox_id = ?').all(mb.id) as MsgKey[];
    const byName = new Map<string, MsgKey>();
    const byBase = new Map<string, MsgKey>();
    for (const r of rows) {
      if (!r.in_new) byName.set(r.filename, r);
      byBase.set(baseOf(r.filename), r);
    }
    const matched = new Set<number>();
    const renamed: Array<{ r: MsgKey; name: string; bits: number }> = [];
    const unknown: Array<{ name: string; inNew: boolean }> = [];
    for (const n of names) {
      const exact = byName.get(n);
      if (exact && !matched.has(exact.uid)) {
        matched.add(exact.uid);
        continue;
      }
      const r = byBase.get(baseOf(n));
      if (r && !matched.has(r.uid)) {
        matched.add(r.uid);
        renamed.push({ r, name: n, bits: bitsOfLetters(infoOf(n)) });
      } else if (!a.inflight.has(path.join(curDir, n))) {
        unknown.push({ name: n, inNew: false });
      }
    }
    const gone: number[] = [];
    for (const r of rows) {
      if (matched.has(r.uid)) continue;
      if (r.in_new && (await stat(path.join(dir, 'new', r.filename)).then(() => true, () => false))) continue;
      gone.push(r.uid);
    }
    const flagChanges: FlagChange[] = [];
    if (renamed.length > 0 || gone.length > 0) {
      a.db.transaction(() => {
        const modseq = this.bumpModseq(a, mb.id);
        const upd = this.q(a, 'UPDATE messages SET filename = ?, in_new = 0, flags = ?, modseq = CASE WHEN flags <> ? THEN ? ELSE modseq END WHERE mailbox_id = ? AND uid = ?');
        for (const x of renamed) {
          upd.run(x.name, x.bits, x.bits, modseq, mb.id, x.r.uid);
          if (x.bits !== x.r.flags) {
            const kw = this.q(a, 'SELECT keywords FROM messages WHERE mailbox_id = ? AND uid = ?').pluck().get(mb.id, x.r.uid) as string | null;
            flagChanges.push({ uid: x.r.uid as Uid, flags: flagList(x.bits, kw ? (JSON.parse(kw) as string[]) : []), modseq });
          }
        }
        const del = this.q(a, 'DELETE FROM messages WHERE mailbox_id = ? AND uid = ?');
        for (const uid of gone) del.run(mb.id, uid);
      })();
    }
    const added = await this.pickup(a, mb, unknown);
    await this.storeCurMtime(a, mb.id, curDir, added > 0 ? undefined : m0);
    if (gone.length > 0) {
      const cur = this.mustMailboxId(a, mb.id);
      await this.writeUidFile(dir, cur.uidvalidity, cur.uidnext);
      this.changes.publish({ kind: 'expunged', account: a.id, mailboxId: mb.id as MailboxId, uids: gone as Uid[] });
    }
    if (flagChanges.length > 0) this.changes.publish({ kind: 'flags', account: a.id, mailboxId: mb.id as MailboxId, changes: flagChanges });
    return { added, removed: gone.length };
  }

  /** Indexes files nobody indexed; keeps their `,U=` UID when it is free, else gives a new one. Moves them to cur/. */
  private async pickup(a: Acct, mb: MailboxRow, found: Array<{ name: string; inNew: boolean }>): Promise<number> {
    if (found.length === 0) return 0;
    const dir = this.dirOf(a, mb.folder);
    // Choose UIDs synchronously (we hold the account lock; deliveries only take fresh reserved UIDs).
    const used = new Set(this.q(a, 'SELECT uid FROM messages WHERE mailbox_id = ?').pluck().all(mb.id) as number[]);
    for (const [, [mid, uid]] of a.inflight) if (mid === mb.id) used.add(uid);
    const plan = found
      .map((f) => {
        const base = baseOf(f.name);
        const fields = fieldsOf(base);
        return { ...f, base, fields, bits: f.inNew ? 0 : bitsOfLetters(infoOf(f.name)), uid: 0 };
      })
      .sort((x, y) => (x.fields.uid ?? MAX_UID) - (y.fields.uid ?? MAX_UID) || (x.name < y.name ? -1 : 1));
    let maxKept = 0;
    for (const p of plan) {
      const u = p.fields.uid;
      if (u !== undefined && !used.has(u)) {
        p.uid = u;
        used.add(u);
        maxKept = Math.max(maxKept, u);
      }
    }
    a.db.transaction(() => {
      if (maxKept > 0) this.raiseUidNext(a, mb.id, maxKept + 1);
      const fresh = plan.filter((p) => p.uid === 0);
      if (fresh.length > 0) {
        let u = this.reserveUids(a, mb.id, fresh.length);
        for (const p of fresh) p.uid = u++;
      }
    })();
    const res = await settleLimit(plan, FS_PARALLEL, async (p) => {
      const from = path.join(dir, p.inNew ? 'new' : 'cur', p.name);
      const st = await stat(from);
      if (!st.isFile()) return undefined;
      const target = curName(withUid(p.base, p.uid), p.bits);
      if (target !== p.name || p.inNew) await rename(from, path.join(dir, 'cur', target));
      const size = p.fields.size ?? st.size;
      const meta = await this.analyze({ path: path.join(dir, 'cur', target) });
      return { p, target, size, date: st.mtimeMs, meta };
    });
    const ok = res.flatMap((x) => (x.ok && x.value ? [x.value] : []));
    for (const x of res) if (!x.ok && !isEnoent(x.error)) this.log?.warn({ err: x.error, account: a.id }, 'indexing a foreign file failed');
    if (ok.length === 0) return 0;
    await this.syncer.sync(path.join(dir, 'cur'));
    a.db.transaction(() => {
      const modseq = this.bumpModseq(a, mb.id);
      for (const x of ok) {
        this.insertMessage(a, {
          mailbox_id: mb.id,
          uid: x.p.uid,
          filename: x.target,
          in_new: 0,
          flags: x.p.bits,
          keywords: null,
          modseq,
          size: x.size,
          internal_date: Math.round(x.date),
          envelope: x.meta.envelope,
          body_structure: x.meta.bodyStructure,
        });
      }
    })();
    this.log?.info({ account: a.id, mailbox: mb.name, count: ok.length }, 'indexed files added by another tool');
    this.changes.publish({ kind: 'added', account: a.id, mailboxId: mb.id as MailboxId, uids: ok.map((x) => x.p.uid as Uid).sort((x, y) => x - y) });
    return ok.length;
  }

  async reindex(account: AccountId): Promise<ReindexReport> {
    return this.locked(account, (a) => this.reindexLocked(a));
  }

  private async reindexLocked(a: Acct): Promise<ReindexReport> {
    const report: ReindexReport = { mailboxes: 0, messages: 0, added: 0, removed: 0 };
    for (const row of await this.syncFolders(a)) {
      const uf = await this.readUidFile(this.dirOf(a, row.folder));
      if (uf.uidnext !== undefined && uf.uidnext > row.uidnext) this.raiseUidNext(a, row.id, uf.uidnext);
      const r = await this.syncMailbox(a, row.id, true);
      report.mailboxes++;
      report.added += r.added;
      report.removed += r.removed;
    }
    report.messages = (this.q(a, 'SELECT messages FROM usage WHERE id = 1').pluck().get() as number) ?? 0;
    return report;
  }

  /**
   * Brings the mailbox list in line with the folders on disk: folders made by other
   * tools (mbsync, Dovecot) are added, keeping the UIDVALIDITY of their
   * mailserver-uidvalidity file when there is one; rows of vanished folders are removed.
   * Returns the rows of all folders on disk.
   */
  private async syncFolders(a: Acct): Promise<MailboxRow[]> {
    const m0 = (await stat(a.root, { bigint: true })).mtimeNs;
    const entries = await readdir(a.root, { withFileTypes: true });
    const folders = [''];
    for (const e of entries) {
      if (!e.isDirectory() || !e.name.startsWith('.') || e.name === '.' || e.name === '..') continue;
      if (await stat(path.join(a.root, e.name, 'cur')).then((st) => st.isDirectory(), () => false)) folders.push(e.name);
    }
    const onDisk = new Set(folders);
    for (const row of this.q(a, 'SELECT * FROM mailboxes').all() as MailboxRow[]) {
      if (onDisk.has(row.folder)) continue;
      a.db.transaction(() => {
        this.q(a, 'DELETE FROM messages WHERE mailbox_id = ?').run(row.id);
        this.q(a, 'DELETE FROM mailboxes WHERE id = ?').run(row.id);
      })();
      this.changes.publish({ kind: 'mailboxRemoved', account: a.id, name: row.name });
    }
    const rows: MailboxRow[] = [];
    for (const folder of folders) {
      let row = this.q(a, 'SELECT * FROM mailboxes WHERE folder = ?').get(folder) as MailboxRow | undefined;
      if (!row) {
        const name = nameOfFolder(folder);
        if (name === undefined || this.mailboxByName(a, name)) {
          this.log?.warn({ account: a.id, folder }, 'skipping a folder whose name cannot be decoded or collides');
          continue;
        }
        const dir = this.dirOf(a, folder);
        const uf = await this.readUidFile(dir);
        const uidvalidity = this.nextUidValidity(a, uf.uidvalidity);
        this.q(a, 'INSERT INTO mailboxes (name, folder, uidvalidity, uidnext, subscribed) VALUES (?, ?, ?, ?, 0)').run(name, folder, uidvalidity, uf.uidnext ?? 1);
        row = this.mailboxByName(a, name)!;
        if (uf.uidvalidity === undefined) await this.writeUidFile(dir, uidvalidity, row.uidnext);
        this.changes.publish({ kind: 'mailboxAdded', account: a.id, name });
      }
      rows.push(row);
    }
    this.setMeta(a, 'root_mtime', String(m0));
    return rows;
  }

  // ---------------------------------------------------------------- reading

  async fetchMeta(account: AccountId, mailboxId: MailboxId, opts: FetchMetaOptions = {}): Promise<MessageMeta[]> {
    return this.use(account, async (a) => {
      this.mustMailboxId(a, mailboxId);
      const light = opts.fields === 'flags';
      // The light form reads no cached envelope/body structure (their JSON is most of a
      // row); RFC822.SIZE comes from two fields of the cached structure, read in SQLite.
      const sizeCol = opts.rfc822Size ? `json_extract(body_structure, '$.headerSize') + json_extract(body_structure, '$.bodySize')` : 'NULL';
      const cols = light ? `uid, flags, keywords, modseq, size, internal_date, ${sizeCol}` : 'uid, flags, keywords, modseq, size, internal_date, envelope, body_structure';
      const where = opts.uids ? 'mailbox_id = ? AND uid IN (SELECT value FROM json_each(?)) AND modseq > ?' : 'mailbox_id = ? AND modseq > ?';
      const args = opts.uids ? [mailboxId, JSON.stringify(opts.uids), opts.changedSince ?? 0] : [mailboxId, opts.changedSince ?? 0];
      // The planner prefers the (mailbox_id, uid) key and reads every row: name the covering index.
      const stmt = this.q(a, `SELECT ${cols} FROM messages ${light ? 'INDEXED BY messages_light ' : ''}WHERE ${where} ORDER BY uid`);
      if (!light) return (stmt.all(...args) as MessageRow[]).map((r) => metaOf(r, true));
      const rows = stmt.raw().all(...args) as Array<[number, number, string | null, number, number, number, number | null]>;
      const shared = new Map<number, string[]>();
      return rows.map(([uid, bits, kw, modseq, size, date, rfc822]): MessageMeta => {
        const m: MessageMeta = { uid: uid as Uid, flags: sharedFlags(shared, bits, kw), modseq, size, internalDate: new Date(date) };
        if (opts.rfc822Size) m.rfc822Size = typeof rfc822 === 'number' ? rfc822 : size;
        return m;
      });
    });
  }

  async readMessage(account: AccountId, mailboxId: MailboxId, uid: Uid): Promise<{ stream: Readable; size: number }> {
    return this.use(account, async (a) => {
      const lookup = (): { file: string; size: number } => {
        const mb = this.mustMailboxId(a, mailboxId);
        const r = this.q(a, 'SELECT filename, in_new, size FROM messages WHERE mailbox_id = ? AND uid = ?').get(mailboxId, uid) as MessageRow | undefined;
        if (!r) throw new StoreError('nonexistent', 'no such message');
        return { file: this.msgPath(a, mb, r), size: r.size };
      };
      const tryOpen = async (): Promise<{ stream: Readable; size: number } | undefined> => {
        const { file, size } = lookup();
        try {
          const fh = await open(file, 'r');
          return { stream: fh.createReadStream(), size };
        } catch (e) {
          if (isEnoent(e)) return undefined;
          throw e;
        }
      };
      let r = await tryOpen();
      if (r) return r;
      // Renamed by a concurrent flag change or open: wait for it to commit, look again.
      await a.lock.run(async () => undefined);
      r = await tryOpen();
      if (r) return r;
      // Renamed or removed by another tool: rescan, then one last look.
      await a.lock.run(() => this.syncMailbox(a, mailboxId, true));
      r = await tryOpen();
      if (r) return r;
      throw new StoreError('nonexistent', 'message file missing');
    });
  }

  // ---------------------------------------------------------------- writing

  async append(account: AccountId, mailbox: string, source: MessageSource, opts: AppendOptions = {}): Promise<{ uid: Uid; uidValidity: number; mailboxId: MailboxId }> {
    const canon = canonicalName(mailbox);
    if (opts.uid !== undefined && !(Number.isInteger(opts.uid) && opts.uid >= 1 && opts.uid <= MAX_UID)) throw new StoreError('invalidName', 'UID out of range');
    const { bits, keywords } = parseFlags(opts.flags ?? []);
    const out = await this.locked(account, async (a) => {
      const mb = this.mustMailbox(a, canon);
      const size = 'data' in source ? source.data.length : (await stat(source.path)).size;
      this.checkQuota(a, size, 1);
      const analysis = this.analyze(source);
      let uid: number;
      if (opts.uid !== undefined) {
        // Import (e.g. from a dovecot-uidlist): the UID must not go backwards.
        if (opts.uid < this.uidNextOf(a, mb)) throw new StoreError('exists', 'UID already used in this mailbox');
        uid = opts.uid;
        this.q(a, 'UPDATE mailboxes SET uidnext = ? WHERE id = ?').run(uid + 1, mb.id);
        a.uidNext.set(mb.id, uid + 1);
      } else {
        uid = this.reserveUids(a, mb.id, 1);
      }
      const dir = this.dirOf(a, mb.folder);
      const base = withUid(uniqueBase(size), uid);
      const inNew = bits === 0;
      const filename = inNew ? base : curName(base, bits);
      const dest = path.join(dir, inNew ? 'new' : 'cur', filename);
      const place = async (): Promise<void> => {
        a.inflight.set(dest, [mb.id, uid]);
        try {
          if ('data' in source) {
            const tmp = path.join(dir, 'tmp', base);
            await writeFileSynced(tmp, source.data, this.doFsync);
            if (opts.internalDate) await utimes(tmp, opts.internalDate, opts.internalDate);
            await rename(tmp, dest).catch(async (e: unknown) => {
              await unlink(tmp).catch(() => undefined);
              throw e;
            });
          } else {
            await linkOrCopy(source.path, dest, path.join(dir, 'tmp'), this.doFsync);
            if (opts.internalDate) await utimes(dest, opts.internalDate, opts.internalDate);
          }
          try {
            await this.syncer.sync(path.dirname(dest));
            const meta = await analysis;
            a.db.transaction(() => {
              const modseq = this.bumpModseq(a, mb.id);
              this.insertMessage(a, {
                mailbox_id: mb.id,
                uid,
                filename,
                in_new: inNew ? 1 : 0,
                flags: bits,
                keywords: keywords.length ? JSON.stringify(keywords) : null,
                modseq,
                size,
                internal_date: (opts.internalDate ?? new Date()).getTime(),
                envelope: meta.envelope,
                body_structure: meta.bodyStructure,
              });
            })();
          } catch (e) {
            await unlink(dest).catch(() => undefined);
            throw e;
          }
        } finally {
          a.inflight.delete(dest);
        }
      };
      if (inNew) await place();
      else await this.trackCur(a, mb, place);
      return { uid: uid as Uid, uidValidity: mb.uidvalidity, mailboxId: mb.id as MailboxId };
    });
    this.changes.publish({ kind: 'added', account, mailboxId: out.mailboxId, uids: [out.uid] });
    return out;
  }

  async deliver(targets: DeliveryTarget[], source: MessageSource, opts: { flags?: string[]; internalDate?: Date } = {}): Promise<DeliveryResult[]> {
    if (targets.length === 0) return [];
    const wanted = targets.map((t) => ({ account: t.account, name: canonicalName(t.mailbox ?? 'INBOX') }));
    const accounts = [...new Set(wanted.map((w) => w.account))];
    const acquired: Acct[] = [];
    try {
      for (const id of accounts) acquired.push(await this.acquire(id));
      const byId = new Map(acquired.map((a) => [a.id, a]));
      const srcStat = 'data' in source ? undefined : await stat(source.path);
      const size = srcStat ? srcStat.size : (source as { data: Buffer }).data.length;
      const { bits, keywords } = parseFlags(opts.flags ?? []);
      interface Plan {
        a: Acct;
        mb: MailboxRow;
        uid: number;
        filename: string;
        dest: string;
      }
      const plans: Plan[] = [];
      const seen = new Set<string>();
      for (const w of wanted) {
        const a = byId.get(w.account)!;
        let mb = this.mailboxByName(a, w.name);
        if (!mb) {
          // A filing target the user deleted (e.g. Junk): deliver to INBOX rather than bounce.
          this.log?.info({ account: a.id, mailbox: w.name }, 'delivery target mailbox missing; using INBOX');
          mb = this.mailboxByName(a, 'INBOX');
          if (!mb) throw new StoreError('nonexistent', 'INBOX missing');
        }
        const key = `${a.id}\0${mb.id}`;
        if (seen.has(key)) continue;
        seen.add(key);
        plans.push({ a, mb, uid: 0, filename: '', dest: '' });
      }
      for (const a of acquired) {
        const n = plans.filter((p) => p.a === a).length;
        this.checkQuota(a, n * size, n);
      }
      const analysis = this.analyze(source);
      const base = uniqueBase(size);
      let src: string;
      let ownTmp: string | undefined;
      if ('data' in source) {
        ownTmp = path.join(plans[0].a.root, 'tmp', base);
        await writeFileSynced(ownTmp, source.data, this.doFsync);
        src = ownTmp;
      } else if (srcStat && srcStat.dev !== (await this.devOf(plans[0].a))) {
        // Another file system: one fsynced copy, then hard links from it.
        ownTmp = path.join(plans[0].a.root, 'tmp', base);
        await linkOrCopy(source.path, ownTmp, path.join(plans[0].a.root, 'tmp'), this.doFsync);
        src = ownTmp;
      } else {
        src = source.path;
      }
      const linked: Plan[] = [];
      try {
        for (const p of plans) p.uid = this.reserveUidInMemory(p.a, p.mb);
        const inNew = bits === 0;
        const results = await Promise.allSettled(
          plans.map(async (p) => {
            const dir = this.dirOf(p.a, p.mb.folder);
            const b = withUid(base, p.uid);
            p.filename = inNew ? b : curName(b, bits);
            p.dest = path.join(dir, inNew ? 'new' : 'cur', p.filename);
            p.a.inflight.set(p.dest, [p.mb.id, p.uid]);
            if (ownTmp && plans.length === 1) {
              // Our own fsynced file for one mailbox: rename it in (Maildir's tmp/ → new/).
              await rename(ownTmp, p.dest);
              ownTmp = undefined;
            } else {
              await linkOrCopy(src, p.dest, path.join(dir, 'tmp'), this.doFsync);
            }
            linked.push(p);
          }),
        );
        const failed = results.find((r) => r.status === 'rejected');
        if (failed) throw (failed as PromiseRejectedResult).reason;
        if (opts.internalDate) await utimes(plans[0].dest, opts.internalDate, opts.internalDate);
        await Promise.all([...new Set(plans.map((p) => path.dirname(p.dest)))].map((d) => this.syncer.sync(d)));
        const meta = await analysis;
        const date = (opts.internalDate ?? new Date()).getTime();
        const outcomes = await Promise.allSettled(
          acquired.map((a) =>
            this.indexWrite(a, () => {
              for (const p of plans) {
                if (p.a !== a) continue;
                // Another process (CLI reindex) may have indexed our file already.
                const have = this.q(a, 'SELECT filename FROM messages WHERE mailbox_id = ? AND uid = ?').pluck().get(p.mb.id, p.uid);
                if (have === p.filename) continue;
                this.insertMessage(a, {
                  mailbox_id: p.mb.id,
                  uid: p.uid,
                  filename: p.filename,
                  in_new: inNew ? 1 : 0,
                  flags: bits,
                  keywords: keywords.length ? JSON.stringify(keywords) : null,
                  modseq: this.q(a, 'UPDATE mailboxes SET highest_modseq = highest_modseq + 1, uidnext = max(uidnext, ?) WHERE id = ? RETURNING highest_modseq')
                    .pluck()
                    .get(p.uid + 1, p.mb.id) as number,
                  size,
                  internal_date: date,
                  envelope: meta.envelope,
                  body_structure: meta.bodyStructure,
                });
              }
            }),
          ),
        );
        const refused = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
        if (refused) {
          // Another account's index refused: take back what was committed so no copy survives alone.
          acquired.forEach((a, i) => {
            if (outcomes[i].status !== 'fulfilled') return;
            a.db.transaction(() => {
              for (const p of plans) if (p.a === a) this.q(a, 'DELETE FROM messages WHERE mailbox_id = ? AND uid = ?').run(p.mb.id, p.uid);
            })();
          });
          throw refused.reason;
        }
      } catch (e) {
        await Promise.all(linked.map((p) => unlink(p.dest).catch(() => undefined)));
        await Promise.all([...new Set(linked.map((p) => path.dirname(p.dest)))].map((d) => this.syncer.sync(d).catch(() => undefined)));
        throw e;
      } finally {
        for (const p of plans) if (p.dest) p.a.inflight.delete(p.dest);
        if (ownTmp) await unlink(ownTmp).catch(() => undefined);
      }
      for (const p of plans) this.changes.publish({ kind: 'added', account: p.a.id, mailboxId: p.mb.id as MailboxId, uids: [p.uid as Uid] });
      return plans.map((p) => ({ account: p.a.id, mailbox: p.mb.name, uid: p.uid as Uid }));
    } finally {
      for (const a of acquired) this.release(a);
    }
  }

  async updateFlags(
    account: AccountId,
    mailboxId: MailboxId,
    uids: Uid[],
    op: FlagOp,
    flags: string[],
    opts: { unchangedSince?: number } = {},
  ): Promise<{ changed: FlagChange[]; failed: Uid[] }> {
    const { bits, keywords } = parseFlags(flags);
    const result = await this.locked(account, async (a) => {
      const mb = this.mustMailboxId(a, mailboxId);
      const rows = this.q(
        a,
        'SELECT uid, filename, in_new, flags, keywords, modseq FROM messages WHERE mailbox_id = ? AND uid IN (SELECT value FROM json_each(?)) ORDER BY uid',
      ).all(mailboxId, JSON.stringify(uids)) as MessageRow[];
      const failed: Uid[] = [];
      const work: Array<{ r: MessageRow; bits: number; kw: string[]; filename: string; inNew: number }> = [];
      for (const r of rows) {
        // RFC 7162 §3.1.3: UNCHANGEDSINCE fails messages modified after the given modseq.
        if (opts.unchangedSince !== undefined && r.modseq > opts.unchangedSince) {
          failed.push(r.uid as Uid);
          continue;
        }
        const oldKw: string[] = r.keywords ? JSON.parse(r.keywords) : [];
        let nb: number;
        let nk: string[];
        if (op === 'set') {
          nb = bits;
          nk = keywords;
        } else if (op === 'add') {
          nb = r.flags | bits;
          const have = new Set(oldKw.map((k) => k.toLowerCase()));
          nk = oldKw.concat(keywords.filter((k) => !have.has(k.toLowerCase())));
        } else {
          nb = r.flags & ~bits;
          const drop = new Set(keywords.map((k) => k.toLowerCase()));
          nk = oldKw.filter((k) => !drop.has(k.toLowerCase()));
        }
        const sameKw = nk.length === oldKw.length && nk.every((k, i) => k === oldKw[i]);
        if (nb === r.flags && sameKw) continue;
        // System flags live in the name (a message in new/ moves to cur/ to carry them);
        // keyword-only changes touch the index only.
        if (nb !== r.flags) work.push({ r, bits: nb, kw: nk, filename: curName(baseOf(r.filename), nb), inNew: 0 });
        else work.push({ r, bits: nb, kw: nk, filename: r.filename, inNew: r.in_new });
      }
      const dir = this.dirOf(a, mb.folder);
      const done = await this.trackCur(a, mb, async () => {
        const res = await settleLimit(work, FS_PARALLEL, async (w) => {
          if (w.filename !== w.r.filename || w.inNew !== w.r.in_new) {
            await rename(path.join(dir, w.r.in_new ? 'new' : 'cur', w.r.filename), path.join(dir, w.inNew ? 'new' : 'cur', w.filename));
          }
          return w;
        });
        return res.flatMap((x) => (x.ok ? [x.value] : []));
      });
      const changed: FlagChange[] = [];
      if (done.length > 0) {
        a.db.transaction(() => {
          const modseq = this.bumpModseq(a, mailboxId);
          const upd = this.q(a, 'UPDATE messages SET flags = ?, keywords = ?, filename = ?, in_new = ?, modseq = ? WHERE mailbox_id = ? AND uid = ?');
          for (const w of done) {
            upd.run(w.bits, w.kw.length ? JSON.stringify(w.kw) : null, w.filename, w.inNew, modseq, mailboxId, w.r.uid);
            changed.push({ uid: w.r.uid as Uid, flags: flagList(w.bits, w.kw), modseq });
          }
        })();
      }
      return { changed, failed };
    });
    if (result.changed.length > 0) this.changes.publish({ kind: 'flags', account, mailboxId, changes: result.changed });
    return result;
  }

  async expunge(account: AccountId, mailboxId: MailboxId, uids?: Uid[]): Promise<Uid[]> {
    const removed = await this.locked(account, async (a) => {
      const mb = this.mustMailboxId(a, mailboxId);
      const rows = (
        uids
          ? this.q(a, 'SELECT uid, filename, in_new, flags FROM messages WHERE mailbox_id = ? AND uid IN (SELECT value FROM json_each(?)) ORDER BY uid').all(mailboxId, JSON.stringify(uids))
          : this.q(a, `SELECT uid, filename, in_new, flags FROM messages WHERE mailbox_id = ? AND (flags & ${FLAG_DELETED}) <> 0 ORDER BY uid`).all(mailboxId)
      ) as MsgKey[];
      if (rows.length === 0) return [];
      // Files first: a crash after the unlink leaves a row the next scan drops; the
      // other order could bring an expunged message back.
      const res = await this.trackCur(a, mb, () =>
        settleLimit(rows, FS_PARALLEL, async (r) => {
          try {
            await unlink(this.msgPath(a, mb, r));
          } catch (e) {
            if (!isEnoent(e)) throw e;
          }
          return r;
        }),
      );
      const ok = res.flatMap((x) => (x.ok ? [x.value] : []));
      for (const x of res) if (!x.ok) this.log?.warn({ err: x.error, account: a.id }, 'expunge: unlink failed');
      a.db.transaction(() => {
        this.bumpModseq(a, mailboxId);
        const del = this.q(a, 'DELETE FROM messages WHERE mailbox_id = ? AND uid = ?');
        for (const r of ok) del.run(mailboxId, r.uid);
      })();
      await this.writeUidFile(this.dirOf(a, mb.folder), mb.uidvalidity, mb.uidnext);
      return ok.map((r) => r.uid as Uid);
    });
    if (removed.length > 0) this.changes.publish({ kind: 'expunged', account, mailboxId, uids: removed });
    return removed;
  }

  async copy(account: AccountId, from: MailboxId, uids: Uid[], to: string): Promise<UidMapping> {
    return this.transfer(account, from, uids, to, false);
  }

  async move(account: AccountId, from: MailboxId, uids: Uid[], to: string): Promise<UidMapping> {
    return this.transfer(account, from, uids, to, true);
  }

  /**
   * COPY (RFC 9051 §6.4.7: hard links, new UIDs, flags kept) and MOVE (RFC 6851: rename,
   * new UIDs in the destination, expunged in the source). Quota: a copy adds usage and is
   * checked; a move within the account does not change usage and is always allowed (so an
   * over-quota user can still move mail to Trash).
   */
  private async transfer(account: AccountId, from: MailboxId, uids: Uid[], to: string, isMove: boolean): Promise<UidMapping> {
    const canon = canonicalName(to);
    const events: Array<() => void> = [];
    const mapping = await this.locked(account, async (a) => {
      const src = this.mustMailboxId(a, from);
      const dst = this.mustMailbox(a, canon);
      const rows = this.q(
        a,
        'SELECT * FROM messages WHERE mailbox_id = ? AND uid IN (SELECT value FROM json_each(?)) ORDER BY uid',
      ).all(from, JSON.stringify(uids)) as MessageRow[];
      const mapping: UidMapping = { uidValidity: dst.uidvalidity, from: [], to: [] };
      if (rows.length === 0) return mapping;
      if (!isMove) this.checkQuota(a, rows.reduce((s, r) => s + r.size, 0), rows.length);
      const first = this.reserveUids(a, dst.id, rows.length);
      const sdir = this.dirOf(a, src.folder);
      const ddir = this.dirOf(a, dst.folder);
      const plan = rows.map((r, i) => {
        const uid = first + i;
        const filename = curName(withUid(baseOf(r.filename), uid), r.flags);
        return { r, uid, filename, from: this.msgPath(a, src, r), dest: path.join(ddir, 'cur', filename) };
      });
      const work = async (): Promise<void> => {
        for (const p of plan) a.inflight.set(p.dest, [dst.id, p.uid]);
        try {
          const res = await settleLimit(plan, FS_PARALLEL, async (p) => {
            if (isMove) await rename(p.from, p.dest);
            else await linkOrCopy(p.from, p.dest, path.join(ddir, 'tmp'), this.doFsync);
            return p;
          });
          const ok = res.flatMap((x) => (x.ok ? [x.value] : []));
          const bad = res.find((x) => !x.ok);
          if (bad && !bad.ok && !(isMove && isEnoent(bad.error))) {
            // Undo: nothing of a failed copy/move may stay half done.
            await Promise.all(ok.map((p) => (isMove ? rename(p.dest, p.from) : unlink(p.dest)).catch(() => undefined)));
            throw bad.error;
          }
          await Promise.all([this.syncer.sync(path.join(ddir, 'cur')), isMove ? this.syncer.sync(path.join(sdir, 'cur')) : Promise.resolve()]);
          a.db.transaction(() => {
            const modseq = this.bumpModseq(a, dst.id);
            if (isMove) this.bumpModseq(a, src.id);
            const del = this.q(a, 'DELETE FROM messages WHERE mailbox_id = ? AND uid = ?');
            for (const p of ok) {
              if (isMove) del.run(src.id, p.r.uid);
              this.insertMessage(a, { ...p.r, mailbox_id: dst.id, uid: p.uid, filename: p.filename, in_new: 0, modseq });
              mapping.from.push(p.r.uid as Uid);
              mapping.to.push(p.uid as Uid);
            }
          })();
        } finally {
          for (const p of plan) a.inflight.delete(p.dest);
        }
      };
      await this.trackCur(a, dst, () => (isMove && src.id !== dst.id ? this.trackCur(a, src, work) : work()));
      if (isMove) await this.writeUidFile(sdir, src.uidvalidity, this.mustMailboxId(a, src.id).uidnext);
      if (mapping.to.length > 0) {
        if (isMove) events.push(() => this.changes.publish({ kind: 'expunged', account, mailboxId: from, uids: [...mapping.from] }));
        events.push(() => this.changes.publish({ kind: 'added', account, mailboxId: dst.id as MailboxId, uids: [...mapping.to] }));
      }
      return mapping;
    });
    for (const e of events) e();
    return mapping;
  }

  async usage(account: AccountId): Promise<Usage> {
    return this.use(account, async (a) => {
      const u = this.q(a, 'SELECT bytes, messages FROM usage WHERE id = 1').get() as Usage;
      return { bytes: u.bytes, messages: u.messages };
    });
  }
}

/** Flags of a row; rows without keywords share one frozen array per flag combination. */
function sharedFlags(shared: Map<number, string[]>, bits: number, kw: string | null): string[] {
  if (kw) return flagList(bits, JSON.parse(kw) as string[]);
  let flags = shared.get(bits);
  if (!flags) {
    flags = Object.freeze(flagList(bits, [])) as string[];
    shared.set(bits, flags);
  }
  return flags;
}

function metaOf(r: Pick<MessageRow, 'uid' | 'flags' | 'keywords' | 'modseq' | 'size' | 'internal_date'> & Partial<MessageRow>, withStructure = false): MessageMeta {
  const m: MessageMeta = {
    uid: r.uid as Uid,
    flags: flagList(r.flags, r.keywords ? (JSON.parse(r.keywords) as string[]) : []),
    modseq: r.modseq,
    size: r.size,
    internalDate: new Date(r.internal_date),
  };
  // Parsed on first use: FETCH FLAGS or SEARCH on flags over 100 000 messages should
  // not pay for JSON.parse of every cached envelope.
  if (withStructure) {
    if (r.envelope) lazyJson(m, 'envelope', r.envelope);
    if (r.body_structure) lazyJson(m, 'bodyStructure', r.body_structure);
  }
  return m;
}

function lazyJson(m: MessageMeta, key: 'envelope' | 'bodyStructure', json: string): void {
  let value: unknown;
  let parsed = false;
  Object.defineProperty(m, key, {
    enumerable: true,
    configurable: true,
    get() {
      if (!parsed) {
        value = JSON.parse(json);
        parsed = true;
      }
      return value;
    },
    set(v: unknown) {
      value = v;
      parsed = true;
    },
  });
}
