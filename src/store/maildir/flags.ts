/**
 * Flags and keywords of stored messages (the job of Dovecot's maildir-keywords.c and
 * the flag part of maildir-sync-index.c).
 *
 * Where they live:
 * - System flags are in the file name, `:2,<letters>` in cur/ (./filename.ts: D=\Draft
 *   F=\Flagged P=$Forwarded R=\Answered S=\Seen T=\Deleted), and in the index as a bit
 *   mask (`messages.flags`). A message in new/ has no system flags; giving it one moves
 *   it to cur/. Another tool's rename of a file is taken over by the next full scan
 *   (sync.ts).
 * - Keywords (other than $Forwarded) are in the index only, `messages.keywords`: a JSON
 *   array in the order they were added, first spelling kept, compared without case
 *   (parseFlags); NULL when there are none. There is no dovecot-keywords file:
 *   lower-case Dovecot keyword letters of foreign files are dropped when we rename the
 *   file.
 *
 * Every change takes a new modseq (RFC 7162) for the mailbox, shared by all messages of
 * one STORE.
 */
import { rename } from 'node:fs/promises';
import path from 'node:path';
import type { AccountId, FlagChange, FlagOp, FlagUpdate, FlagUpdateOptions, MailboxId, Uid } from '../types.js';
import { FS_PARALLEL, dirOf, mustMailboxId, type StoreCtx } from './context.js';
import { applyFlagOp, flagList, parseFlags } from '../flags.js';
import { baseOf, curName } from './filename.js';
import { settleLimit } from './fsio.js';
import type { MessageRow } from './index-db.js';
import { trackCur } from './sync.js';

/** The keywords column of a keyword list. */
export function keywordsColumn(keywords: readonly string[]): string | null {
  return keywords.length ? JSON.stringify(keywords) : null;
}

/** Flags of a row; rows without keywords share one frozen array per flag combination. */
export function sharedFlags(shared: Map<number, string[]>, bits: number, kw: string | null): string[] {
  if (kw) return flagList(bits, JSON.parse(kw) as string[]);
  let flags = shared.get(bits);
  if (!flags) {
    flags = Object.freeze(flagList(bits, [])) as string[];
    shared.set(bits, flags);
  }
  return flags;
}

interface FlagWork {
  r: MessageRow;
  bits: number;
  kw: string[];
  filename: string;
  inNew: number;
}

/** What each message becomes; messages that do not change are left out, those modified after unchangedSince fail. */
function planFlags(rows: MessageRow[], op: FlagOp, flags: string[], unchangedSince: number | undefined): { work: FlagWork[]; failed: Uid[] } {
  const { bits, keywords } = parseFlags(flags);
  const failed: Uid[] = [];
  const work: FlagWork[] = [];
  for (const r of rows) {
    // RFC 7162 §3.1.3: UNCHANGEDSINCE fails messages modified after the given modseq.
    if (unchangedSince !== undefined && r.modseq > unchangedSince) {
      failed.push(r.uid as Uid);
      continue;
    }
    const oldKw: string[] = r.keywords ? JSON.parse(r.keywords) : [];
    const n = applyFlagOp(op, bits, keywords, r.flags, oldKw);
    const sameKw = n.kw.length === oldKw.length && n.kw.every((k, i) => k === oldKw[i]);
    if (n.bits === r.flags && sameKw) continue;
    // System flags live in the name (a message in new/ moves to cur/ to carry them);
    // keyword-only changes touch the index only.
    if (n.bits !== r.flags) work.push({ r, bits: n.bits, kw: n.kw, filename: curName(baseOf(r.filename), n.bits), inNew: 0 });
    else work.push({ r, bits: n.bits, kw: n.kw, filename: r.filename, inNew: r.in_new });
  }
  return { work, failed };
}

/**
 * STORE: files renamed first (those that fail keep their old flags and are left out of
 * the result), then one index transaction, then one 'flags' change event.
 */
export async function updateFlags(
  ctx: StoreCtx,
  account: AccountId,
  mailboxId: MailboxId,
  uids: Uid[],
  op: FlagOp,
  flags: string[],
  opts: FlagUpdateOptions,
): Promise<FlagUpdate> {
  const result = await ctx.accounts.locked(account, async (a) => {
    const mb = mustMailboxId(a, mailboxId);
    const { work, failed } = planFlags(a.ix.flagStateOfUids(mailboxId, uids), op, flags, opts.unchangedSince);
    const dir = dirOf(a, mb.folder);
    const done = await trackCur(a, mb, async () => {
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
      a.ix.tx(() => {
        const modseq = a.ix.bumpModseq(mailboxId);
        for (const w of done) {
          a.ix.setFlags(mailboxId, w.r.uid, { flags: w.bits, keywords: keywordsColumn(w.kw), filename: w.filename, inNew: w.inNew, modseq });
          changed.push({ uid: w.r.uid as Uid, flags: flagList(w.bits, w.kw), modseq });
        }
      });
    }
    return { changed, failed };
  });
  if (result.changed.length > 0) ctx.changes.publish({ kind: 'flags', account, mailboxId, changes: result.changed });
  return result;
}
