/**
 * RENAME in the memory store, with the Maildir store's rules (RFC 9051 §6.3.6): the
 * children move with their parent, the superior names of the new name are created,
 * and renaming INBOX moves its messages (same UIDs) to a new mailbox and leaves INBOX
 * empty. Subscriptions of the renamed mailboxes follow them (RFC 3501 §6.3.6).
 */
import type { InProcessChangeBus } from '../changes.js';
import { canonicalName } from '../names.js';
import { StoreError, type MailboxId, type Uid } from '../types.js';
import { addMailbox, addParents, bumpModseq, mustMailbox, recordExpunged, type MemAccount, type MemMailbox, type Tree } from './state.js';

export function renameMailbox(a: MemAccount, t: Tree, changes: InProcessChangeBus, from: string, to: string): void {
  const src = canonicalName(from);
  const dst = canonicalName(to);
  const mb = mustMailbox(a, src);
  if (src === dst || a.byName.has(dst)) throw new StoreError('exists', 'target mailbox exists');
  if (dst.startsWith(src + '/')) throw new StoreError('invalidName', 'cannot rename a mailbox into itself');
  if (src === 'INBOX') return renameInbox(a, t, changes, mb, dst);
  const plan: Array<{ mb: MemMailbox; name: string }> = [];
  for (const m of [mb, ...[...a.byName.values()].filter((x) => x.name.startsWith(src + '/'))]) {
    const name = canonicalName(dst + m.name.slice(src.length));
    if (a.byName.has(name)) throw new StoreError('exists', 'target mailbox exists');
    plan.push({ mb: m, name });
  }
  for (const p of plan) a.byName.delete(p.mb.name);
  const renamed = plan.map((p) => ({ from: p.mb.name, to: p.name }));
  for (const p of plan) {
    // A subscription follows its mailbox (as Maildir's index triggers do).
    if (a.subscriptions.delete(p.mb.name)) a.subscriptions.add(p.name);
    p.mb.name = p.name;
    a.byName.set(p.name, p.mb);
  }
  for (const r of renamed) changes.publish({ kind: 'mailboxRenamed', account: a.id, ...r });
  addParents(a, t, dst);
}

function renameInbox(a: MemAccount, t: Tree, changes: InProcessChangeBus, inbox: MemMailbox, dst: string): void {
  addParents(a, t, dst);
  const target = addMailbox(a, t, dst, { uidNext: inbox.uidNext });
  const uids = [...inbox.messages.keys()] as Uid[];
  if (uids.length === 0) return;
  const modseq = bumpModseq(target);
  const inboxModseq = bumpModseq(inbox);
  for (const m of inbox.messages.values()) target.messages.set(m.uid, { ...m, modseq });
  inbox.messages.clear();
  recordExpunged(inbox, uids, t.expungedKept);
  changes.publish({ kind: 'expunged', account: a.id, mailboxId: inbox.id as MailboxId, uids, modseq: inboxModseq });
  changes.publish({ kind: 'added', account: a.id, mailboxId: target.id as MailboxId, uids, origin: { via: 'rename', from: inbox.id as MailboxId } });
}
