/**
 * MemoryStore: the MailStore interface over plain objects in memory, for fast protocol
 * tests (go-imap's imapmemserver). It passes the same contract suite as the Maildir
 * store (test/store/contract.ts), so a protocol test that runs against it tests the
 * protocol, not a shortcut; what it does not have is durability: everything is gone
 * when the process ends. Never use it for real mail.
 *
 * Implementation notes
 * - Every operation does its checks, then changes the state synchronously, then
 *   publishes on the change bus, then resolves: the order of the Maildir store (commit,
 *   publish, reply) with no await between the change and the publish.
 * - A {path} source is read into memory once (the caller's file is left alone).
 * - Names, flags, UIDVALIDITY, quota and the mailbox tree follow the Maildir store's
 *   rules through the shared modules (../names.ts, ../flags.ts).
 */
import { newEmailId } from '../emailid.js';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { InProcessChangeBus } from '../changes.js';
import { FLAG_DELETED, FLAG_SEEN, applyFlagOp, flagList, parseFlags } from '../flags.js';
import { OpGate } from '../gate.js';
import { docMatches, foldNeedle, matchesQuery } from '../search.js';
import type { SortCriterion, StoredSortKeys, ThreadKeys } from '../sortkeys.js';
import { mailboxKeys, sortedUids } from './sort.js';
import { accountSegments, canonicalName } from '../names.js';
import {
  StoreError,
  type AccountId,
  type AppendOptions,
  type ByteRange,
  type DeliveryOptions,
  type DeliveryResult,
  type DeliveryTarget,
  type FetchMetaOptions,
  type FlagChange,
  type FlagUpdate,
  type NumbersRange,
  type FlagUpdateOptions,
  type FlagOp,
  type ImportAppendOptions,
  type MailboxId,
  type MailboxInfo,
  type MailboxView,
  type MailStore,
  type MessageAnalyzer,
  type MessageMeta,
  type MessageSource,
  type Quota,
  type ReindexReport,
  type SpecialUse,
  type SupportsImport,
  type SearchQuery,
  type SupportsRangeRead,
  type SupportsSearch,
  type SupportsSort,
  type SupportsTextSearch,
  type SearchDoc,
  type TextAnswer,
  type TextIndexer,
  type TextTerm,
  type Uid,
  type UidMapping,
  type Vanished,
  EXPUNGED_KEPT,
  type Usage,
  type MetadataEntry,
} from '../types.js';
import { renameMailbox } from './rename.js';
import {
  MAX_UID,
  addMailbox,
  addParents,
  bumpModseq,
  checkUidsLeft,
  listOrder,
  mailboxInfo,
  metaOf,
  mustMailbox,
  mustMailboxId,
  newAccount,
  nextUidValidity,
  reserveUids,
  type MemAccount,
  type MemMailbox,
  type MemMessage,
  type Tree,
  recordExpunged,
  vanishedOf,
} from './state.js';

export interface MemoryStoreOptions {
  /** Parses each stored message once (envelope, body structure), as the Maildir store does. */
  analyzer?: MessageAnalyzer;
  /** The text SEARCH BODY/TEXT/HEADER compare (searchText scans it); without it searchText leaves every message unsure. */
  textIndexer?: TextIndexer;
  /** The account's quota; undefined = unlimited. */
  quotaOf?: (account: AccountId) => Quota | undefined;
  /** Expunged UIDs remembered per mailbox for QRESYNC (default EXPUNGED_KEPT). */
  expungedKept?: number;
}

type Analysis = { envelope?: string; bodyStructure?: string };

export class MemoryStore implements MailStore, SupportsImport, SupportsRangeRead, SupportsSearch, SupportsSort, SupportsTextSearch {
  readonly changes = new InProcessChangeBus();
  private readonly accounts = new Map<AccountId, MemAccount>();
  private readonly gate = new OpGate();
  /** Each message's SearchDoc, made on the first content search (null: not indexable). */
  private readonly docs = new WeakMap<MemMessage, SearchDoc | null>();
  private mailboxSeq = 0;
  private readonly tree: Tree = {
    nextMailboxId: () => ++this.mailboxSeq,
    publishAdded: (acct, name) => this.changes.publish({ kind: 'mailboxAdded', account: acct.id, name }),
    expungedKept: EXPUNGED_KEPT,
  };

  constructor(private readonly opts: MemoryStoreOptions = {}) {
    if (opts.expungedKept !== undefined) this.tree.expungedKept = opts.expungedKept;
  }

  // ---------------------------------------------------------------- accounts

  ensureAccount(account: AccountId): Promise<void> {
    return this.op(async () => void this.acct(account));
  }

  removeAccount(account: AccountId): Promise<void> {
    return this.op(async () => {
      accountSegments(account);
      this.accounts.delete(account);
    });
  }

  usage(account: AccountId): Promise<Usage> {
    return this.op(async () => this.usageOf(this.acct(account)));
  }

  reindex(account: AccountId): Promise<ReindexReport> {
    // Nothing to rebuild from: the messages are the index.
    return this.op(async () => {
      const a = this.acct(account);
      return { mailboxes: a.byId.size, messages: this.usageOf(a).messages, added: 0, removed: 0 };
    });
  }

  /** Nothing runs in the background here: a session at work changes nothing. */
  beginWork(): () => void {
    return () => undefined;
  }

  async close(graceMs?: number): Promise<void> {
    await this.gate.close(graceMs);
    this.accounts.clear();
  }

  // ---------------------------------------------------------------- mailboxes

  listMailboxes(account: AccountId): Promise<MailboxInfo[]> {
    return this.op(async () => [...this.acct(account).byId.values()].sort(listOrder).map((mb) => mailboxInfo(this.acct(account), mb)));
  }

  getMailbox(account: AccountId, name: string): Promise<MailboxInfo> {
    return this.op(async () => {
      const a = this.acct(account);
      return mailboxInfo(a, mustMailbox(a, name));
    });
  }

  createMailbox(account: AccountId, name: string, opts: { specialUse?: SpecialUse } = {}): Promise<MailboxInfo> {
    return this.op(async () => {
      const canon = canonicalName(name);
      const a = this.acct(account);
      if (a.byName.has(canon)) throw new StoreError('exists', 'mailbox exists');
      addParents(a, this.tree, canon);
      return mailboxInfo(a, addMailbox(a, this.tree, canon, { specialUse: opts.specialUse }));
    });
  }

  deleteMailbox(account: AccountId, name: string): Promise<void> {
    return this.op(async () => {
      const canon = canonicalName(name);
      // RFC 9051 §6.3.5: it is an error to delete INBOX.
      if (canon === 'INBOX') throw new StoreError('noPermission', 'INBOX cannot be deleted');
      const a = this.acct(account);
      const mb = mustMailbox(a, canon);
      // As the Maildir store (and Dovecot): a mailbox with inferior names is refused.
      for (const n of a.byName.keys()) if (n.startsWith(canon + '/')) throw new StoreError('hasChildren', 'mailbox has children');
      a.byName.delete(canon);
      a.byId.delete(mb.id);
      this.changes.publish({ kind: 'mailboxRemoved', account: a.id, name: canon });
    });
  }

  renameMailbox(account: AccountId, from: string, to: string): Promise<void> {
    return this.op(async () => renameMailbox(this.acct(account), this.tree, this.changes, from, to));
  }

  setSubscribed(account: AccountId, name: string, subscribed: boolean): Promise<void> {
    return this.op(async () => {
      const a = this.acct(account);
      // SUBSCRIBE needs the mailbox; UNSUBSCRIBE takes any valid name (it may be gone).
      if (subscribed) a.subscriptions.add(mustMailbox(a, name).name);
      else a.subscriptions.delete(canonicalName(name));
    });
  }

  listSubscriptions(account: AccountId): Promise<string[]> {
    // By the UTF-8 bytes of the name, as the Maildir index orders them.
    return this.op(async () => [...this.acct(account).subscriptions].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
  }

  setUidState(account: AccountId, name: string, state: { uidValidity?: number; uidNext?: number }): Promise<MailboxInfo> {
    return this.op(async () => {
      for (const v of [state.uidValidity, state.uidNext]) {
        if (v !== undefined && !(Number.isInteger(v) && v >= 1 && v <= MAX_UID + 1)) throw new StoreError('invalidName', 'UIDVALIDITY or UIDNEXT out of range');
      }
      const a = this.acct(account);
      const mb = mustMailbox(a, name);
      if (state.uidValidity !== undefined && state.uidValidity !== mb.uidValidity) {
        // RFC 9051 §2.3.1.1: a UIDVALIDITY may change only with every UID; here no UID was ever given.
        if (mb.messages.size > 0 || mb.uidNext > 1) throw new StoreError('exists', `mailbox ${mb.name} has held messages; its UIDVALIDITY stays`);
        mb.uidValidity = nextUidValidity(a, state.uidValidity);
      }
      if (state.uidNext !== undefined) mb.uidNext = Math.max(mb.uidNext, state.uidNext);
      return mailboxInfo(a, mb);
    });
  }

  // ---------------------------------------------------------------- reading

  selectMailbox(account: AccountId, name: string): Promise<MailboxView> {
    return this.op(async () => {
      const a = this.acct(account);
      const mb = mustMailbox(a, name);
      // \Recent (RFC 3501 §2.3.2): the messages this open is the first to see.
      const recentUids: Uid[] = [];
      const keywords = new Map<string, string>();
      let firstUnseen: number | undefined;
      for (const m of mb.messages.values()) {
        if (m.inNew) {
          m.inNew = false;
          recentUids.push(m.uid as Uid);
        }
        for (const k of m.keywords) if (!keywords.has(k)) keywords.set(k, k);
        if (firstUnseen === undefined && !(m.bits & FLAG_SEEN)) firstUnseen = m.uid;
      }
      const info = { ...mailboxInfo(a, mb), recent: recentUids.length };
      return { mailbox: info, uids: [...mb.messages.keys()] as Uid[], recentUids, keywords: [...keywords.keys()], ...(firstUnseen !== undefined ? { firstUnseen: firstUnseen as Uid } : {}) };
    });
  }

  fetchMeta(account: AccountId, mailboxId: MailboxId, opts: FetchMetaOptions = {}): Promise<MessageMeta[]> {
    return this.op(async () => {
      const mb = mustMailboxId(this.acct(account), mailboxId);
      const since = opts.changedSince ?? 0;
      const wanted = opts.uids ? new Set<number>(opts.uids) : undefined;
      const out: MessageMeta[] = [];
      for (const m of mb.messages.values()) {
        if ((wanted && !wanted.has(m.uid)) || m.modseq <= since) continue;
        const meta = metaOf(m, opts.fields !== 'flags');
        if (opts.fields === 'flags' && opts.rfc822Size) meta.rfc822Size = rfc822Size(m);
        out.push(meta);
      }
      return out;
    });
  }

  getMetadata(account: AccountId, mailboxId: MailboxId | null): Promise<MetadataEntry[]> {
    return this.op(async () => {
      const a = this.acct(account);
      const map = mailboxId === null ? a.metadata : mustMailboxId(a, mailboxId).metadata;
      return [...(map ?? new Map<string, Buffer>())].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)).map(([entry, value]) => ({ entry, value: Buffer.from(value) }));
    });
  }

  setMetadata(account: AccountId, mailboxId: MailboxId | null, changes: ReadonlyArray<{ entry: string; value: Buffer | null }>): Promise<void> {
    return this.op(async () => {
      const a = this.acct(account);
      const mb = mailboxId === null ? undefined : mustMailboxId(a, mailboxId);
      const holder: { metadata?: Map<string, Buffer> } = mb ?? a;
      const map = (holder.metadata ??= new Map());
      for (const c of changes) {
        if (c.value === null) map.delete(c.entry);
        else map.set(c.entry, Buffer.from(c.value));
      }
      if (mb) bumpModseq(mb); // RFC 7162 §3.2
    });
  }

  cachePreview(account: AccountId, mailboxId: MailboxId, uid: Uid, text: string): Promise<void> {
    return this.op(async () => {
      const m = mustMailboxId(this.acct(account), mailboxId).messages.get(uid);
      if (m) m.preview = text;
    });
  }

  /** SupportsSearch.searchNumbers, from searchUids. */
  async searchNumbers(account: AccountId, mailboxId: MailboxId, q: SearchQuery, range: NumbersRange): Promise<{ count: number; text: string }> {
    const uids = (await this.searchUids(account, mailboxId, q)).filter((u) => u >= range.lo && u <= range.hi);
    return { count: uids.length, text: uids.map((u) => ` ${u - range.less}`).join('') };
  }

  /** SupportsSearch, by a walk over the mailbox's messages (it is all in memory anyway). */
  searchUids(account: AccountId, mailboxId: MailboxId, q: SearchQuery): Promise<Uid[]> {
    return this.op(async () => {
      const mb = mustMailboxId(this.acct(account), mailboxId);
      const out: Uid[] = [];
      for (const m of mb.messages.values()) if (matchesQuery(q, metaOf(m, false))) out.push(m.uid as Uid);
      return out.sort((a, b) => a - b);
    });
  }

  /** SupportsSort (./sort.ts). */
  sortUids(account: AccountId, mailboxId: MailboxId, by: readonly SortCriterion[], uids?: readonly Uid[]): Promise<Uid[]> {
    return this.op(async () => sortedUids(mailboxKeys(mustMailboxId(this.acct(account), mailboxId), rfc822Size, uids), by));
  }

  sortKeys(account: AccountId, mailboxId: MailboxId, uids?: readonly Uid[]): Promise<StoredSortKeys[]> {
    return this.op(async () => mailboxKeys(mustMailboxId(this.acct(account), mailboxId), rfc822Size, uids));
  }

  threadKeys(account: AccountId, mailboxId: MailboxId, uids?: readonly Uid[]): Promise<ThreadKeys[]> {
    return this.sortKeys(account, mailboxId, uids);
  }

  /** SupportsTextSearch by a scan of every message's SearchDoc (the Maildir store's answers, without an index). */
  searchText(account: AccountId, mailboxId: MailboxId, term: TextTerm): Promise<TextAnswer> {
    return this.op(async () => {
      const mb = mustMailboxId(this.acct(account), mailboxId);
      const needle = foldNeedle(term.value);
      const out: TextAnswer = { hits: [], unsure: [] };
      for (const m of mb.messages.values()) {
        let doc = this.docs.get(m);
        if (doc === undefined && this.opts.textIndexer) this.docs.set(m, (doc = this.opts.textIndexer(m.data) ?? null));
        if (!doc || needle === undefined) out.unsure.push(m.uid as Uid);
        else if (docMatches(doc, term, needle)) out.hits.push(m.uid as Uid);
      }
      out.hits.sort((a, b) => a - b);
      out.unsure.sort((a, b) => a - b);
      return out;
    });
  }

  readMessage(account: AccountId, mailboxId: MailboxId, uid: Uid): Promise<{ stream: Readable; size: number }> {
    return this.op(async () => {
      const m = this.message(account, mailboxId, uid);
      return { stream: chunked(m.data), size: m.data.length };
    });
  }

  readMessageRange(account: AccountId, mailboxId: MailboxId, uid: Uid, range: ByteRange): Promise<Readable> {
    return this.op(async () => chunked(this.message(account, mailboxId, uid).data.subarray(range.start, Math.max(range.start, range.end))));
  }

  // ---------------------------------------------------------------- writing

  append(account: AccountId, mailbox: string, source: MessageSource, opts: AppendOptions = {}): Promise<{ uid: Uid; uidValidity: number; mailboxId: MailboxId }> {
    return this.op(() => this.store(account, mailbox, source, { flags: opts.flags, internalDate: opts.internalDate }));
  }

  importMessage(account: AccountId, mailbox: string, source: MessageSource, opts: ImportAppendOptions): Promise<{ uid: Uid; uidValidity: number; mailboxId: MailboxId }> {
    return this.op(() => this.store(account, mailbox, source, opts));
  }

  deliver(targets: DeliveryTarget[], source: MessageSource, opts: DeliveryOptions = {}): Promise<DeliveryResult[]> {
    return this.op(async () => {
      if (targets.length === 0) return [];
      // Each copy's flags: its target's own (Sieve's fileinto :flags), else the delivery's.
      const wanted = targets.map((t) => ({ a: this.acct(t.account), name: canonicalName(t.mailbox ?? 'INBOX'), ...parseFlags(t.flags ?? opts.flags ?? []) }));
      const data = await this.bytes(source);
      const meta = await this.analyze(data);
      // One copy per distinct mailbox; a missing one (a filing target the user deleted) is INBOX.
      const plans: Array<{ a: MemAccount; mb: MemMailbox; bits: number; keywords: string[] }> = [];
      for (const w of wanted) {
        const mb = w.a.byName.get(w.name) ?? mustMailbox(w.a, 'INBOX');
        if (!plans.some((p) => p.mb === mb)) plans.push({ a: w.a, mb, bits: w.bits, keywords: w.keywords });
      }
      for (const a of new Set(plans.map((p) => p.a))) {
        const n = plans.filter((p) => p.a === a).length;
        if (!opts.unenforced?.includes(a.id)) this.checkQuota(a, n * data.length, n);
      }
      for (const p of plans) checkUidsLeft(p.mb, 1); // before anything is stored
      const date = (opts.internalDate ?? new Date()).getTime();
      const out = plans.map((p) => ({ p, uid: this.put(p.mb, reserveUids(p.mb, 1), { bits: p.bits, keywords: p.keywords, data, internalDate: date, meta }) }));
      for (const { p, uid } of out) this.changes.publish({ kind: 'added', account: p.a.id, mailboxId: p.mb.id as MailboxId, uids: [uid as Uid], origin: { via: 'deliver' } });
      return out.map(({ p, uid }) => ({ account: p.a.id, mailbox: p.mb.name, uid: uid as Uid }));
    });
  }

  updateFlags(account: AccountId, mailboxId: MailboxId, uids: Uid[], op: FlagOp, flags: string[], opts: FlagUpdateOptions = {}): Promise<FlagUpdate> {
    return this.op(async () => {
      const mb = mustMailboxId(this.acct(account), mailboxId);
      const { bits, keywords } = parseFlags(flags);
      const failed: Uid[] = [];
      const work: Array<{ m: MemMessage; bits: number; kw: string[] }> = [];
      for (const uid of [...new Set(uids)].sort((x, y) => x - y)) {
        const m = mb.messages.get(uid);
        if (!m) continue;
        // RFC 7162 §3.1.3: UNCHANGEDSINCE fails messages modified after the given modseq.
        if (opts.unchangedSince !== undefined && m.modseq > opts.unchangedSince) {
          failed.push(uid);
          continue;
        }
        const n = applyFlagOp(op, bits, keywords, m.bits, m.keywords);
        const sameKw = n.kw.length === m.keywords.length && n.kw.every((k, i) => k === m.keywords[i]);
        if (n.bits !== m.bits || !sameKw) work.push({ m, ...n });
      }
      const changed: FlagChange[] = [];
      if (work.length > 0) {
        const modseq = bumpModseq(mb);
        for (const w of work) {
          // As in Maildir, a system flag takes a message out of new/ (no longer \Recent).
          if (w.bits !== w.m.bits) w.m.inNew = false;
          Object.assign(w.m, { bits: w.bits, keywords: w.kw, modseq });
          changed.push({ uid: w.m.uid as Uid, flags: flagList(w.bits, w.kw), modseq });
        }
        this.changes.publish({ kind: 'flags', account, mailboxId, changes: changed });
      }
      return { changed, failed };
    });
  }

  expunge(account: AccountId, mailboxId: MailboxId, uids?: Uid[]): Promise<Uid[]> {
    return this.op(async () => {
      const mb = mustMailboxId(this.acct(account), mailboxId);
      const wanted = uids ? new Set<number>(uids) : undefined;
      const removed = [...mb.messages.values()].filter((m) => (wanted ? wanted.has(m.uid) : (m.bits & FLAG_DELETED) !== 0)).map((m) => m.uid as Uid);
      if (removed.length === 0) return [];
      const modseq = bumpModseq(mb);
      for (const uid of removed) mb.messages.delete(uid);
      recordExpunged(mb, removed, this.tree.expungedKept);
      this.changes.publish({ kind: 'expunged', account, mailboxId, uids: removed, modseq });
      return removed;
    });
  }

  vanished(account: AccountId, mailboxId: MailboxId, since: number): Promise<Vanished> {
    return this.op(async () => vanishedOf(mustMailboxId(this.acct(account), mailboxId), since) as Vanished);
  }

  copy(account: AccountId, from: MailboxId, uids: Uid[], to: string): Promise<UidMapping> {
    return this.op(async () => this.transfer(account, from, uids, to, false));
  }

  move(account: AccountId, from: MailboxId, uids: Uid[], to: string): Promise<UidMapping> {
    return this.op(async () => this.transfer(account, from, uids, to, true));
  }

  // ---------------------------------------------------------------- internals

  private op<T>(fn: () => Promise<T>): Promise<T> {
    return this.gate.run(fn);
  }

  private message(account: AccountId, mailboxId: MailboxId, uid: Uid): MemMessage {
    const m = mustMailboxId(this.acct(account), mailboxId).messages.get(uid);
    if (!m) throw new StoreError('nonexistent', 'no such message');
    return m;
  }

  /** The account, made on first use with its standard mailboxes (as the Maildir store does). */
  private acct(account: AccountId): MemAccount {
    let a = this.accounts.get(account);
    if (!a) {
      accountSegments(account);
      a = newAccount(account, this.tree);
      this.accounts.set(account, a);
    }
    return a;
  }

  private usageOf(a: MemAccount): Usage {
    let bytes = 0;
    let messages = 0;
    for (const mb of a.byId.values()) {
      messages += mb.messages.size;
      for (const m of mb.messages.values()) bytes += m.data.length;
    }
    return { bytes, messages };
  }

  private checkQuota(a: MemAccount, bytes: number, count: number): void {
    const q = this.opts.quotaOf?.(a.id);
    if (!q) return;
    const u = this.usageOf(a);
    if (q.bytes != null && u.bytes + bytes > q.bytes) throw new StoreError('overQuota', `quota exceeded (storage) for ${a.id}`, a.id);
    if (q.messages != null && u.messages + count > q.messages) throw new StoreError('overQuota', `quota exceeded (messages) for ${a.id}`, a.id);
  }

  private async bytes(source: MessageSource): Promise<Buffer> {
    return 'data' in source ? Buffer.from(source.data) : readFile(source.path);
  }

  private async analyze(data: Buffer): Promise<Analysis> {
    if (!this.opts.analyzer) return {};
    try {
      const r = await this.opts.analyzer(data);
      return {
        envelope: r.envelope === undefined ? undefined : JSON.stringify(r.envelope),
        bodyStructure: r.bodyStructure === undefined ? undefined : JSON.stringify(r.bodyStructure),
      };
    } catch {
      return {};
    }
  }

  /** Adds a message under `uid`; returns the uid. */
  private put(mb: MemMailbox, uid: number, m: { bits: number; keywords: string[]; data: Buffer; internalDate: number; meta: Analysis }): number {
    mb.messages.set(uid, {
      uid,
      bits: m.bits,
      keywords: [...m.keywords],
      modseq: bumpModseq(mb),
      data: m.data,
      internalDate: m.internalDate,
      savedAt: Date.now(),
      emailId: newEmailId(),
      inNew: m.bits === 0,
      envelope: m.meta.envelope,
      bodyStructure: m.meta.bodyStructure,
    });
    return uid;
  }

  private async store(account: AccountId, mailbox: string, source: MessageSource, opts: ImportAppendOptions): Promise<{ uid: Uid; uidValidity: number; mailboxId: MailboxId }> {
    const canon = canonicalName(mailbox);
    if (opts.uid !== undefined && !(Number.isInteger(opts.uid) && opts.uid >= 1 && opts.uid <= MAX_UID)) throw new StoreError('invalidName', 'UID out of range');
    const a = this.acct(account);
    mustMailbox(a, canon);
    const data = await this.bytes(source);
    const meta = await this.analyze(data);
    // Looked up again after the awaits: the mailbox may have gone meanwhile.
    const mb = mustMailbox(a, canon);
    this.checkQuota(a, data.length, 1);
    let uid: number;
    if (opts.uid !== undefined) {
      if (opts.uid < mb.uidNext) throw new StoreError('exists', 'UID already used in this mailbox');
      uid = opts.uid;
      mb.uidNext = uid + 1;
    } else {
      uid = reserveUids(mb, 1);
    }
    const { bits, keywords } = parseFlags(opts.flags ?? []);
    this.put(mb, uid, { bits, keywords, data, internalDate: (opts.internalDate ?? new Date()).getTime(), meta });
    this.changes.publish({ kind: 'added', account, mailboxId: mb.id as MailboxId, uids: [uid as Uid], origin: { via: 'append' } });
    return { uid: uid as Uid, uidValidity: mb.uidValidity, mailboxId: mb.id as MailboxId };
  }

  private transfer(account: AccountId, from: MailboxId, uids: Uid[], to: string, isMove: boolean): UidMapping {
    const canon = canonicalName(to);
    const a = this.acct(account);
    const src = mustMailboxId(a, from);
    const dst = mustMailbox(a, canon);
    const wanted = new Set<number>(uids);
    const rows = [...src.messages.values()].filter((m) => wanted.has(m.uid));
    const mapping: UidMapping = { uidValidity: dst.uidValidity, from: [], to: [] };
    // All or nothing (RFC 9051 §6.4.7): one UID gone (expunged meanwhile) and nothing is done.
    if (rows.length === 0 || rows.length < wanted.size) return mapping;
    // A move within the account does not change usage: allowed over quota (mail to Trash).
    if (!isMove) this.checkQuota(a, rows.reduce((s, m) => s + m.data.length, 0), rows.length);
    let next = reserveUids(dst, rows.length);
    const modseq = bumpModseq(dst);
    const srcModseq = isMove ? bumpModseq(src) : 0;
    for (const m of rows) {
      if (isMove) src.messages.delete(m.uid);
      dst.messages.set(next, { ...m, keywords: [...m.keywords], uid: next, modseq, inNew: false, savedAt: Date.now() });
      mapping.from.push(m.uid as Uid);
      mapping.to.push(next++ as Uid);
    }
    if (isMove) recordExpunged(src, mapping.from, this.tree.expungedKept);
    if (isMove) this.changes.publish({ kind: 'expunged', account, mailboxId: from, uids: [...mapping.from], modseq: srcModseq });
    this.changes.publish({ kind: 'added', account, mailboxId: dst.id as MailboxId, uids: [...mapping.to], origin: { via: isMove ? 'move' : 'copy', from } });
    return mapping;
  }
}

/** RFC822.SIZE as the analyzer measured it (bare LFs counted as CRLF), else the stored size. */
function rfc822Size(m: MemMessage): number {
  if (m.bodyStructure) {
    const bs = JSON.parse(m.bodyStructure) as { headerSize?: unknown; bodySize?: unknown };
    if (typeof bs.headerSize === 'number' && typeof bs.bodySize === 'number') return bs.headerSize + bs.bodySize;
  }
  return m.data.length;
}

/** fs.createReadStream's chunk size: what a reader of a Maildir file gets at a time. */
const READ_CHUNK = 64 * 1024;

/**
 * A message as a file stream gives it, in 64 KiB pieces, not one Buffer: a reader that
 * encodes as it goes (POP3's dot-stuffing) works a piece at a time and yields between
 * them as on Maildir, instead of holding the event loop for a whole 16 MB message.
 */
function chunked(data: Buffer): Readable {
  const pieces: Buffer[] = [];
  for (let at = 0; at < data.length; at += READ_CHUNK) pieces.push(data.subarray(at, at + READ_CHUNK));
  return Readable.from(pieces);
}
