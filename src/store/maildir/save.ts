/**
 * Putting new messages into mailboxes (the job of Dovecot's maildir-save.c): APPEND and
 * import (`append`, under the account lock) and local delivery (`deliver`, SMTP and
 * LMTP-like callers, one message to many mailboxes of many accounts, no lock).
 *
 * Implementation notes
 * - Accepted means durable: the file is written and fsynced in tmp/ (or hard-linked from
 *   an fsynced spool file), renamed or linked into new/ (no flags) or cur/ (flags), the
 *   directory fsynced, and only then is the row inserted and the change published.
 * - UIDs are chosen before a file gets its final name, because the name carries the UID
 *   (`,U=<uid>`, see uidlist.ts): append reserves it in the index, a delivery in memory.
 * - Deliveries take no lock: the paths they are linking are kept in `Acct.inflight` so a
 *   concurrent scan does not index them twice; the account stays open (refs) until the
 *   delivery's rows are in.
 * - One delivery to several mailboxes is one inode with one name per folder: the source
 *   file (a spool file on the same file system, or our own tmp/ file) is hard-linked into
 *   each; across file systems one fsynced copy is made first. A delivery to one mailbox
 *   of bytes in memory renames its own tmp/ file in (Maildir's tmp/ → new/).
 * - Group commit (indexWrite): the index rows of deliveries whose directory fsyncs
 *   finished in the same turn of the event loop share one transaction.
 * - Failure: a delivery is all or nothing. Every name it linked is unlinked again, and
 *   rows committed in one account's index are deleted when another account's index
 *   refused, so no copy survives alone.
 */
import { rename, stat, unlink, utimes } from 'node:fs/promises';
import path from 'node:path';
import type { Stats } from 'node:fs';
import { StoreError, type AccountId, type ImportAppendOptions, type DeliveryOptions, type DeliveryResult, type DeliveryTarget, type MailboxId, type MessageSource, type Uid } from '../types.js';
import { linkOrCopy, writeFileSynced } from '../../util/fs.js';
import { analyze, checkQuota, dirOf, mustMailbox, type Acct, type StoreCtx } from './context.js';
import { parseFlags } from '../flags.js';
import { curName, uniqueBase, withUid } from './filename.js';
import { keywordsColumn } from './flags.js';
import type { MailboxRow } from './index-db.js';
import { canonicalName } from '../names.js';
import type { NewMessage } from './queries.js';
import { trackCur } from './sync.js';
import { MAX_UID, coverUids, reserveUidInMemory, reserveUids, setUidNext, uidNextOf } from './uidlist.js';

type Analysis = Awaited<ReturnType<typeof analyze>>;

/** The row of a new message (modseq given by the caller's transaction). */
function newRow(
  mb: MailboxRow,
  uid: number,
  filename: string,
  m: { bits: number; keywords: string[]; size: number; date: number; meta: Analysis },
  modseq: number,
): NewMessage {
  return {
    mailbox_id: mb.id,
    uid,
    filename,
    in_new: m.bits === 0 ? 1 : 0,
    flags: m.bits,
    keywords: keywordsColumn(m.keywords),
    modseq,
    size: m.size,
    internal_date: m.date,
    envelope: m.meta.envelope,
    body_structure: m.meta.bodyStructure,
  };
}

// ---------------------------------------------------------------- APPEND

export async function append(
  ctx: StoreCtx,
  account: AccountId,
  mailbox: string,
  source: MessageSource,
  opts: ImportAppendOptions,
): Promise<{ uid: Uid; uidValidity: number; mailboxId: MailboxId }> {
  const canon = canonicalName(mailbox);
  if (opts.uid !== undefined && !(Number.isInteger(opts.uid) && opts.uid >= 1 && opts.uid <= MAX_UID)) throw new StoreError('invalidName', 'UID out of range');
  const { bits, keywords } = parseFlags(opts.flags ?? []);
  const out = await ctx.accounts.locked(account, async (a) => {
    const mb = mustMailbox(a, canon);
    const size = 'data' in source ? source.data.length : (await stat(source.path)).size;
    checkQuota(ctx, a, size, 1);
    const analysis = analyze(ctx, source);
    let uid: number;
    if (opts.uid !== undefined) {
      // Import (e.g. from a dovecot-uidlist): the UID must not go backwards.
      if (opts.uid < uidNextOf(a, mb)) throw new StoreError('exists', 'UID already used in this mailbox');
      uid = opts.uid;
      setUidNext(a, mb.id, uid + 1);
    } else {
      uid = reserveUids(a, mb.id, 1);
    }
    await coverUids(ctx, a, mb.id, uid + 1);
    const base = withUid(uniqueBase(size), uid);
    const filename = bits === 0 ? base : curName(base, bits);
    const place = async (): Promise<void> => {
      const dest = await placeAppended(ctx, a, mb, { uid, base, filename, inNew: bits === 0 }, source, opts.internalDate);
      try {
        await ctx.syncer.sync(path.dirname(dest));
        const meta = await analysis;
        const date = (opts.internalDate ?? new Date()).getTime();
        a.ix.tx(() => a.ix.insertMessage(newRow(mb, uid, filename, { bits, keywords, size, date, meta }, a.ix.bumpModseq(mb.id))));
      } catch (e) {
        await unlink(dest).catch(() => undefined);
        throw e;
      } finally {
        a.inflight.delete(dest);
      }
    };
    if (bits === 0) await place();
    else await trackCur(a, mb, place);
    return { uid: uid as Uid, uidValidity: mb.uidvalidity, mailboxId: mb.id as MailboxId };
  });
  ctx.changes.publish({ kind: 'added', account, mailboxId: out.mailboxId, uids: [out.uid], origin: { via: 'append' } });
  return out;
}

/**
 * Writes (bytes: tmp/ file, fsynced, renamed in) or links (a file) an appended message
 * under its final name, registered in `inflight`; returns the path (the caller removes
 * it from `inflight`).
 */
async function placeAppended(
  ctx: StoreCtx,
  a: Acct,
  mb: MailboxRow,
  f: { uid: number; base: string; filename: string; inNew: boolean },
  source: MessageSource,
  internalDate: Date | undefined,
): Promise<string> {
  const dir = dirOf(a, mb.folder);
  const dest = path.join(dir, f.inNew ? 'new' : 'cur', f.filename);
  a.inflight.set(dest, [mb.id, f.uid]);
  try {
    if ('data' in source) {
      const tmp = path.join(dir, 'tmp', f.base);
      await writeFileSynced(tmp, source.data, ctx.doFsync);
      if (internalDate) await utimes(tmp, internalDate, internalDate);
      await rename(tmp, dest).catch(async (e: unknown) => {
        await unlink(tmp).catch(() => undefined);
        throw e;
      });
    } else {
      await linkOrCopy(source.path, dest, path.join(dir, 'tmp'), ctx.doFsync);
      if (internalDate) await utimes(dest, internalDate, internalDate);
    }
  } catch (e) {
    a.inflight.delete(dest);
    throw e;
  }
  return dest;
}

// ---------------------------------------------------------------- delivery

interface Plan {
  a: Acct;
  mb: MailboxRow;
  uid: number;
  filename: string;
  dest: string;
  /** This copy's flags (a target's own, else the delivery's). */
  bits: number;
  keywords: string[];
}

interface Delivery {
  plans: Plan[];
  /** The accounts, open (acquired) for the whole delivery. */
  accounts: Acct[];
  base: string;
  size: number;
  internalDate?: Date;
  /** The file every target is linked from. */
  src: string;
  /** Our own fsynced tmp/ file (bytes, or a copy from another file system), removed at the end if not renamed in. */
  ownTmp?: string;
}

/**
 * Delivers one message to mailboxes of one or more accounts: all of them get it or
 * none (see the module notes). A target mailbox that is missing gets INBOX instead;
 * several targets that end in one mailbox get one copy.
 */
export async function deliver(ctx: StoreCtx, targets: DeliveryTarget[], source: MessageSource, opts: DeliveryOptions): Promise<DeliveryResult[]> {
  if (targets.length === 0) return [];
  const wanted = targets.map((t) => ({ account: t.account, name: canonicalName(t.mailbox ?? 'INBOX'), ...parseFlags(t.flags ?? opts.flags ?? []) }));
  const acquired: Acct[] = [];
  try {
    for (const id of new Set(wanted.map((w) => w.account))) acquired.push(await ctx.accounts.acquire(id));
    const srcStat = 'data' in source ? undefined : await stat(source.path);
    const size = srcStat ? srcStat.size : (source as { data: Buffer }).data.length;
    const plans = planTargets(ctx, acquired, wanted);
    for (const a of acquired) {
      const n = plans.filter((p) => p.a === a).length;
      if (!opts.unenforced?.includes(a.id)) checkQuota(ctx, a, n * size, n);
    }
    const analysis = analyze(ctx, source);
    const base = uniqueBase(size);
    const staged = await stageSource(ctx, plans[0].a, source, srcStat, base);
    const d: Delivery = { plans, accounts: acquired, base, size, internalDate: opts.internalDate, ...staged };
    await placeAndIndex(ctx, d, analysis);
    for (const p of plans) ctx.changes.publish({ kind: 'added', account: p.a.id, mailboxId: p.mb.id as MailboxId, uids: [p.uid as Uid], origin: { via: 'deliver' } });
    return plans.map((p) => ({ account: p.a.id, mailbox: p.mb.name, uid: p.uid as Uid }));
  } finally {
    for (const a of acquired) ctx.accounts.release(a);
  }
}

/** One plan per distinct mailbox. */
function planTargets(ctx: StoreCtx, acquired: Acct[], wanted: Array<{ account: AccountId; name: string; bits: number; keywords: string[] }>): Plan[] {
  const byId = new Map(acquired.map((a) => [a.id, a]));
  const plans: Plan[] = [];
  const seen = new Set<string>();
  for (const w of wanted) {
    const a = byId.get(w.account)!;
    let mb = a.ix.mailboxByName(w.name);
    if (!mb) {
      // A filing target the user deleted (e.g. Junk): deliver to INBOX rather than bounce.
      ctx.log?.info({ account: a.id, mailbox: w.name }, 'delivery target mailbox missing; using INBOX');
      mb = a.ix.mailboxByName('INBOX');
      if (!mb) throw new StoreError('nonexistent', 'INBOX missing');
    }
    const key = `${a.id}\0${mb.id}`;
    if (seen.has(key)) continue;
    seen.add(key);
    plans.push({ a, mb, uid: 0, filename: '', dest: '', bits: w.bits, keywords: w.keywords });
  }
  return plans;
}

/** The file to link from: the caller's file, or our own fsynced one in the first account's tmp/ (bytes; another file system). */
async function stageSource(ctx: StoreCtx, a: Acct, source: MessageSource, srcStat: Stats | undefined, base: string): Promise<{ src: string; ownTmp?: string }> {
  const ownTmp = path.join(a.root, 'tmp', base);
  if ('data' in source) {
    await writeFileSynced(ownTmp, source.data, ctx.doFsync);
    return { src: ownTmp, ownTmp };
  }
  if (srcStat && srcStat.dev !== (await ctx.accounts.devOf(a))) {
    // Another file system: one fsynced copy, then hard links from it.
    await linkOrCopy(source.path, ownTmp, path.join(a.root, 'tmp'), ctx.doFsync);
    return { src: ownTmp, ownTmp };
  }
  return { src: source.path };
}

/** Reserves the UIDs, links every name, fsyncs the directories, commits the rows; undoes the links on failure. */
async function placeAndIndex(ctx: StoreCtx, d: Delivery, analysis: Promise<Analysis>): Promise<void> {
  const linked: Plan[] = [];
  try {
    for (const p of d.plans) p.uid = reserveUidInMemory(p.a, p.mb);
    await Promise.all(d.plans.map((p) => coverUids(ctx, p.a, p.mb.id, p.uid + 1)));
    const results = await Promise.allSettled(d.plans.map((p) => linkOne(ctx, d, p).then(() => linked.push(p))));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    // Every name: one that had to be copied (another file system, no hard links) is its own inode.
    if (d.internalDate) await Promise.all(d.plans.map((p) => utimes(p.dest, d.internalDate!, d.internalDate!)));
    await Promise.all([...new Set(d.plans.map((p) => path.dirname(p.dest)))].map((dir) => ctx.syncer.sync(dir)));
    await indexDelivery(ctx, d, await analysis);
  } catch (e) {
    await Promise.all(linked.map((p) => unlink(p.dest).catch(() => undefined)));
    await Promise.all([...new Set(linked.map((p) => path.dirname(p.dest)))].map((dir) => ctx.syncer.sync(dir).catch(() => undefined)));
    throw e;
  } finally {
    for (const p of d.plans) if (p.dest) p.a.inflight.delete(p.dest);
    if (d.ownTmp) await unlink(d.ownTmp).catch(() => undefined);
  }
}

/** Gives one plan its name and links (or renames) the message there. */
async function linkOne(ctx: StoreCtx, d: Delivery, p: Plan): Promise<void> {
  const dir = dirOf(p.a, p.mb.folder);
  const b = withUid(d.base, p.uid);
  p.filename = p.bits === 0 ? b : curName(b, p.bits);
  p.dest = path.join(dir, p.bits === 0 ? 'new' : 'cur', p.filename);
  p.a.inflight.set(p.dest, [p.mb.id, p.uid]);
  if (d.ownTmp && d.plans.length === 1) {
    // Our own fsynced file for one mailbox: rename it in (Maildir's tmp/ → new/).
    await rename(d.ownTmp, p.dest);
    d.ownTmp = undefined;
  } else {
    await linkOrCopy(d.src, p.dest, path.join(dir, 'tmp'), ctx.doFsync);
  }
}

/** The rows of every plan, one group-committed write per account; if any account refuses, the others' rows are taken back. */
async function indexDelivery(ctx: StoreCtx, d: Delivery, meta: Analysis): Promise<void> {
  const date = (d.internalDate ?? new Date()).getTime();
  const outcomes = await Promise.allSettled(
    d.accounts.map((a) =>
      indexWrite(ctx, a, () => {
        for (const p of d.plans) {
          if (p.a !== a) continue;
          // Another process (CLI reindex) may have indexed our file already.
          if (a.ix.filenameOf(p.mb.id, p.uid) === p.filename) continue;
          const modseq = a.ix.bumpModseqForUid(p.mb.id, p.uid);
          a.ix.insertMessage(newRow(p.mb, p.uid, p.filename, { bits: p.bits, keywords: p.keywords, size: d.size, date, meta }, modseq));
        }
      }),
    ),
  );
  const refused = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (!refused) return;
  // Another account's index refused: take back what was committed so no copy survives alone.
  d.accounts.forEach((a, i) => {
    if (outcomes[i].status !== 'fulfilled') return;
    a.ix.tx(() => {
      for (const p of d.plans) if (p.a === a) a.ix.deleteMessage(p.mb.id, p.uid);
    });
  });
  throw refused.reason;
}

/**
 * Group commit of delivery index rows: the writes queued in one turn of the event loop
 * (deliveries whose directory fsync finished together) share one transaction, so one
 * WAL append and one round of locks instead of one each. A batch that fails is retried
 * write by write, so a bad row fails only its own delivery. Durability is unchanged:
 * the files were fsynced before their rows are queued (see index-db.ts).
 */
function indexWrite(ctx: StoreCtx, a: Acct, run: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!a.pendingWrites) {
      a.pendingWrites = [];
      setImmediate(() => flushWrites(ctx, a));
    }
    a.pendingWrites.push({ run, resolve, reject });
  });
}

function flushWrites(ctx: StoreCtx, a: Acct): void {
  const batch = a.pendingWrites ?? [];
  a.pendingWrites = undefined;
  if (a.closed) {
    for (const w of batch) w.reject(new StoreError('nonexistent', 'account removed'));
    return;
  }
  if (batch.length > 1) {
    try {
      a.ix.tx(() => {
        for (const w of batch) w.run();
      });
      ctx.indexCommits++;
      for (const w of batch) w.resolve();
      return;
    } catch {
      // rolled back as a whole; each write gets its own answer below
    }
  }
  for (const w of batch) {
    try {
      a.ix.tx(w.run);
      ctx.indexCommits++;
      w.resolve();
    } catch (e) {
      w.reject(e);
    }
  }
}
