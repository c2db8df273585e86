/**
 * \Recent (RFC 3501 §2.3.2): "this session is the first session to have been notified
 * about this message". One registry per store (so the 143 and 993 listeners share it)
 * keeps, per mailbox, the first UID no session has claimed yet; a session claims the
 * messages at or above it when it selects the mailbox (SELECT, not EXAMINE) and when
 * it is first told of new ones (flush), so exactly one session sees each message as
 * recent. IMAP4rev2 sessions neither show nor claim \Recent (RFC 9051 appendix E), so
 * an IMAP4rev1 client (mutt) on the same mailbox still sees new mail as new.
 *
 * The registry lives in memory. After a restart, a mailbox nobody has selected since
 * starts from what the store reports as never opened (Maildir new/), so mail delivered
 * while the server was down, or before anyone looked, is recent once; a message claimed
 * by a session just before the restart and still in new/ can be recent once more.
 */
import type { AccountId, MailboxId, MailStore, Uid } from '../store/types.js';

export class RecentRegistry {
  /** `${account}\0${mailboxId}` → the lowest UID not yet claimed by any session. */
  private readonly next = new Map<string, number>();

  private key(account: AccountId, mailboxId: MailboxId): string {
    return `${account}\0${mailboxId}`;
  }

  /**
   * SELECT: claims every unclaimed message of `uids` (ascending). `neverOpened` is
   * the store's list of messages this open moved out of new/, used only the first time
   * the mailbox is seen since the process started.
   */
  claimAtSelect(account: AccountId, mailboxId: MailboxId, uids: readonly Uid[], uidNext: number, neverOpened: readonly Uid[]): Uid[] {
    const k = this.key(account, mailboxId);
    let first = this.next.get(k);
    // neverOpened is ascending; Math.min(...xs) overflows the stack on 150 000 of them.
    if (first === undefined) first = neverOpened.length > 0 ? neverOpened[0]! : uidNext;
    // uids is ascending: the claimed ones are a tail (a binary search, not a pass over 100 000).
    let lo = 0;
    let hi = uids.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (uids[mid]! < first) lo = mid + 1;
      else hi = mid;
    }
    const claimed = uids.slice(lo);
    this.next.set(k, Math.max(first, uidNext, (uids[uids.length - 1] ?? 0) + 1));
    return claimed;
  }

  /** A session is told of new messages: it gets those nobody claimed before. */
  claimNew(account: AccountId, mailboxId: MailboxId, uids: readonly Uid[]): Uid[] {
    const k = this.key(account, mailboxId);
    const first = this.next.get(k);
    if (first === undefined || uids.length === 0) return [];
    const claimed = uids.filter((u) => u >= first);
    let max = first - 1;
    for (const u of uids) if (u > max) max = u;
    this.next.set(k, max + 1);
    return claimed;
  }

  /** The first unclaimed UID, when a session has claimed in this mailbox since the start. */
  firstUnclaimed(account: AccountId, mailboxId: MailboxId): number | undefined {
    return this.next.get(this.key(account, mailboxId));
  }
}

const registries = new WeakMap<MailStore, RecentRegistry>();

export function recentRegistry(store: MailStore): RecentRegistry {
  let r = registries.get(store);
  if (!r) {
    r = new RecentRegistry();
    registries.set(store, r);
  }
  return r;
}
