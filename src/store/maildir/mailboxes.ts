/**
 * The mailbox tree of an account: list, create, rename, delete, subscribe, the UID state
 * an import sets, and the folders every account starts with. Names are validated and
 * mapped to Maildir++ folders by ../names.ts (no name reaches the file system before
 * that); a mailbox is its folder (`cur/ new/ tmp/`, `maildirfolder`,
 * mailserver-uidvalidity) plus its row in the index.
 *
 * Implementation notes
 * - Order: directories first (made, renamed or moved into `tmp/.deleted-*`, the account
 *   root fsynced), then the index, then the change event. A deletion interrupted after
 *   the rename is finished by the next open (sync.ts cleanTmp); a folder without a row
 *   is adopted by the next LIST (sync.ts syncFolders).
 * - RFC 9051 §6.3.4 (CREATE) and §6.3.6 (RENAME) create the superior names that are
 *   missing; a mailbox with inferior names cannot be deleted (as Dovecot: delete the
 *   children first); INBOX cannot be deleted (§6.3.5), and renaming it moves its
 *   messages to the new mailbox and leaves it empty (§6.3.6).
 */
import { rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { StoreError, type AccountId, type MailboxId, type MailboxInfo, type SpecialUse, type Uid } from '../types.js';
import { FS_PARALLEL, dirOf, makeMaildirDirs, msgPath, mustMailbox, mustMailboxId, type Acct, type StoreCtx } from './context.js';
import { settleLimit } from './fsio.js';
import type { MailboxRow } from './index-db.js';
import { isEnoent } from '../../util/fs.js';
import { SPECIAL_FOLDERS, canonicalName, folderOf, parentsOf } from '../names.js';

export { SPECIAL_FOLDERS };
import { reindexLocked, syncFolders, trackCur } from './sync.js';
import { MAX_UID, coverUids, nextUidValidity, raiseUidNext, setUidFile, uidNextOf, writeUidFile } from './uidlist.js';
import { trimExpunged } from './vanished.js';


export function mailboxInfo(r: MailboxRow): MailboxInfo {
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

/** First open of an account index: index what is on disk (an imported or orphaned Maildir), then add the special-use folders. */
export async function initAccount(ctx: StoreCtx, a: Acct): Promise<void> {
  await reindexLocked(ctx, a);
  const inbox = a.ix.mailboxByName('INBOX') ?? (await createMailboxLocked(ctx, a, 'INBOX', { subscribed: true }));
  a.ix.setSubscribed(inbox.id, true);
  for (const [name, use] of SPECIAL_FOLDERS) {
    const row = a.ix.mailboxByName(name);
    if (row) {
      if (!row.special_use) a.ix.setSpecialUse(row.id, use);
    } else {
      await createMailboxLocked(ctx, a, name, { specialUse: use, subscribed: true });
    }
  }
  a.ix.setMeta('initialized', String(Date.now()));
}

export async function listMailboxes(ctx: StoreCtx, account: AccountId): Promise<MailboxInfo[]> {
  return ctx.accounts.locked(account, async (a) => {
    // Folders created or removed by other tools (mbsync, mutt) show up on the next LIST.
    const m = (await stat(a.root, { bigint: true })).mtimeNs;
    if (a.ix.meta('root_mtime') !== String(m)) await syncFolders(ctx, a);
    return a.ix.mailboxesInListOrder().map(mailboxInfo);
  });
}

export async function createMailbox(ctx: StoreCtx, account: AccountId, name: string, opts: { specialUse?: SpecialUse; uidValidity?: number }): Promise<MailboxInfo> {
  const canon = canonicalName(name);
  if (opts.uidValidity !== undefined && !(Number.isInteger(opts.uidValidity) && opts.uidValidity >= 1 && opts.uidValidity <= MAX_UID)) {
    throw new StoreError('invalidName', 'UIDVALIDITY out of range');
  }
  return ctx.accounts.locked(account, async (a) => {
    if (a.ix.mailboxByName(canon)) throw new StoreError('exists', 'mailbox exists');
    // RFC 9051 §6.3.4: create the superior hierarchical names that are needed.
    await createParents(ctx, a, canon);
    const row = await createMailboxLocked(ctx, a, canon, { specialUse: opts.specialUse, uidValidity: opts.uidValidity });
    return mailboxInfo(row);
  });
}

async function createParents(ctx: StoreCtx, a: Acct, canon: string): Promise<void> {
  for (const p of parentsOf(canon)) if (!a.ix.mailboxByName(p)) await createMailboxLocked(ctx, a, p, {});
}

async function createMailboxLocked(
  ctx: StoreCtx,
  a: Acct,
  canon: string,
  opts: { specialUse?: SpecialUse; uidValidity?: number; uidNext?: number; subscribed?: boolean },
): Promise<MailboxRow> {
  const folder = folderOf(canon);
  const dir = dirOf(a, folder);
  await makeMaildirDirs(dir);
  // Maildir++: subfolders carry an empty `maildirfolder` file.
  if (folder !== '') await writeFile(path.join(dir, 'maildirfolder'), '', { flag: 'a' });
  const uidvalidity = nextUidValidity(a, opts.uidValidity);
  const uidnext = opts.uidNext ?? 1;
  await writeUidFile(ctx, dir, uidvalidity, uidnext);
  if (ctx.doFsync && folder !== '') await ctx.syncer.sync(a.root);
  a.ix.insertMailbox({ name: canon, folder, uidvalidity, uidnext, subscribed: opts.subscribed ?? false, specialUse: opts.specialUse });
  const row = a.ix.mailboxByName(canon)!;
  a.uidFileNext.set(row.id, uidnext);
  ctx.changes.publish({ kind: 'mailboxAdded', account: a.id, name: canon });
  return row;
}

/** Import: a mailbox that never held a message takes the given UIDVALIDITY; UIDNEXT is only raised. */
export async function setUidState(ctx: StoreCtx, account: AccountId, name: string, state: { uidValidity?: number; uidNext?: number }): Promise<MailboxInfo> {
  const canon = canonicalName(name);
  for (const v of [state.uidValidity, state.uidNext]) {
    if (v !== undefined && !(Number.isInteger(v) && v >= 1 && v <= MAX_UID + 1)) throw new StoreError('invalidName', 'UIDVALIDITY or UIDNEXT out of range');
  }
  return ctx.accounts.locked(account, async (a) => {
    const mb = mustMailbox(a, canon);
    if (state.uidValidity !== undefined && state.uidValidity !== mb.uidvalidity) {
      // RFC 9051 §2.3.1.1: a UIDVALIDITY may change only with every UID; here no UID was ever given.
      if (mb.messages > 0 || uidNextOf(a, mb) > 1) throw new StoreError('exists', `mailbox ${canon} has held messages; its UIDVALIDITY stays`);
      nextUidValidity(a, state.uidValidity);
      a.ix.setUidValidity(mb.id, state.uidValidity);
    }
    if (state.uidNext !== undefined) raiseUidNext(a, mb.id, state.uidNext);
    const row = mustMailboxId(a, mb.id);
    await setUidFile(ctx, a, row);
    return mailboxInfo(row);
  });
}

export async function deleteMailbox(ctx: StoreCtx, account: AccountId, name: string): Promise<void> {
  const canon = canonicalName(name);
  // RFC 9051 §6.3.5: it is an error to delete INBOX.
  if (canon === 'INBOX') throw new StoreError('noPermission', 'INBOX cannot be deleted');
  await ctx.accounts.locked(account, async (a) => {
    const mb = mustMailbox(a, canon);
    // Like Dovecot: a mailbox with inferior names is refused, the user deletes the children first.
    if (a.ix.hasChildren(canon)) throw new StoreError('hasChildren', 'mailbox has children');
    const dir = dirOf(a, mb.folder);
    const trash = path.join(a.root, 'tmp', `.deleted-${mb.id}-${Date.now()}`);
    let moved = true;
    try {
      await rename(dir, trash);
    } catch (e) {
      if (!isEnoent(e)) throw e;
      moved = false;
    }
    await ctx.syncer.sync(a.root);
    a.ix.removeMailbox(mb.id);
    a.uidFileNext.delete(mb.id);
    if (moved) await rm(trash, { recursive: true, force: true });
    ctx.changes.publish({ kind: 'mailboxRemoved', account: a.id, name: canon });
  });
}

export async function renameMailbox(ctx: StoreCtx, account: AccountId, from: string, to: string): Promise<void> {
  const src = canonicalName(from);
  const dst = canonicalName(to);
  await ctx.accounts.locked(account, async (a) => {
    const mb = mustMailbox(a, src);
    if (src === dst || a.ix.mailboxByName(dst)) throw new StoreError('exists', 'target mailbox exists');
    if (dst.startsWith(src + '/')) throw new StoreError('invalidName', 'cannot rename a mailbox into itself');
    if (src === 'INBOX') return renameInbox(ctx, a, mb, dst);

    const plan = [mb, ...a.ix.children(src)].map((r) => {
      const name = canonicalName(dst + r.name.slice(src.length));
      if (a.ix.mailboxByName(name)) throw new StoreError('exists', 'target mailbox exists');
      return { row: r, name, folder: folderOf(name) };
    });
    await renameFolders(a, plan);
    await ctx.syncer.sync(a.root);
    a.ix.tx(() => {
      for (const p of plan) a.ix.renameMailbox(p.row.id, p.name, p.folder);
    });
    for (const p of plan) ctx.changes.publish({ kind: 'mailboxRenamed', account: a.id, from: p.row.name, to: p.name });
    // RFC 9051 §6.3.6: superior hierarchical names of the new name are created.
    await createParents(ctx, a, dst);
  });
}

/** Renames each folder of the plan; on the first failure renames back those done and throws. */
async function renameFolders(a: Acct, plan: Array<{ row: MailboxRow; folder: string }>): Promise<void> {
  const done: typeof plan = [];
  try {
    for (const p of plan) {
      const target = dirOf(a, p.folder);
      if (await stat(target).then(() => true, () => false)) throw new StoreError('exists', 'target folder exists on disk');
      await rename(dirOf(a, p.row.folder), target);
      done.push(p);
    }
  } catch (e) {
    for (const p of done.reverse()) await rename(dirOf(a, p.folder), dirOf(a, p.row.folder)).catch(() => undefined);
    throw e;
  }
}

/** RFC 9051 §6.3.6: renaming INBOX moves all its messages to a new mailbox and leaves INBOX empty; INBOX's children stay. */
async function renameInbox(ctx: StoreCtx, a: Acct, inbox: MailboxRow, dst: string): Promise<void> {
  await createParents(ctx, a, dst);
  const target = await createMailboxLocked(ctx, a, dst, { uidNext: uidNextOf(a, inbox) });
  const rows = a.ix.keys(inbox.id);
  const moved: typeof rows = [];
  let inboxModseq = 0;
  await trackCur(a, inbox, () =>
    trackCur(a, target, async () => {
      const res = await settleLimit(rows, FS_PARALLEL, async (r) => {
        await rename(msgPath(a, inbox, r), msgPath(a, target, r));
        return r;
      });
      for (const x of res) if (x.ok) moved.push(x.value);
      const tdir = dirOf(a, target.folder);
      await Promise.all([tdir, a.root].flatMap((d) => [ctx.syncer.sync(path.join(d, 'cur')), ctx.syncer.sync(path.join(d, 'new'))]));
      a.ix.tx(() => {
        const modseq = a.ix.bumpModseq(target.id);
        inboxModseq = a.ix.bumpModseq(inbox.id);
        for (const r of moved) a.ix.moveMessage(inbox.id, r.uid, target.id, modseq);
        trimExpunged(a.ix.db, inbox.id, ctx.expungedKept);
      });
    }),
  );
  await coverUids(ctx, a, inbox.id, 0);
  if (moved.length > 0) {
    ctx.changes.publish({ kind: 'expunged', account: a.id, mailboxId: inbox.id as MailboxId, uids: moved.map((r) => r.uid as Uid), modseq: inboxModseq });
    ctx.changes.publish({ kind: 'added', account: a.id, mailboxId: target.id as MailboxId, uids: moved.map((r) => r.uid as Uid), origin: { via: 'rename', from: inbox.id as MailboxId } });
  }
}

/** SUBSCRIBE needs the mailbox; UNSUBSCRIBE takes any valid name (RFC 3501 §6.3.6, §6.3.7). */
export async function setSubscribed(ctx: StoreCtx, account: AccountId, name: string, subscribed: boolean): Promise<void> {
  await ctx.accounts.use(account, async (a) => {
    if (subscribed) a.ix.setSubscribed(mustMailbox(a, name).id, true);
    else a.ix.unsubscribeName(canonicalName(name));
  });
}

export async function listSubscriptions(ctx: StoreCtx, account: AccountId): Promise<string[]> {
  return ctx.accounts.use(account, async (a) => a.ix.subscriptions());
}
