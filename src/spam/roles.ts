/**
 * Which of an account's mailboxes is INBOX, Junk, Trash, Sent… (RFC 6154 special-use),
 * by mailbox id, cached per account and forgotten when the change bus reports a mailbox
 * added, removed or renamed. Junk is the mailbox marked \Junk; without one, a mailbox
 * named Junk or Spam.
 */
import { junkOf } from '../store/names.js';
import type { AccountId, MailboxId, MailStore, SpecialUse, StoreChange } from '../store/types.js';

export type Role = 'inbox' | 'junk' | 'trash' | 'sent' | 'drafts' | 'other';

interface AccountRoles {
  byId: Map<number, Role>;
  junkName?: string;
}

const MAX_ACCOUNTS = 1000;

const BY_USE: Partial<Record<SpecialUse, Role>> = { '\\Junk': 'junk', '\\Trash': 'trash', '\\Sent': 'sent', '\\Drafts': 'drafts' };

export class MailboxRoles {
  private readonly cache = new Map<AccountId, Promise<AccountRoles>>();

  constructor(private readonly store: MailStore) {}

  /** Call for every change of the account (from the bus). */
  onChange(c: StoreChange): void {
    if (c.kind === 'mailboxAdded' || c.kind === 'mailboxRemoved' || c.kind === 'mailboxRenamed') this.cache.delete(c.account);
  }

  private load(account: AccountId): Promise<AccountRoles> {
    let p = this.cache.get(account);
    if (!p) {
      p = this.store.listMailboxes(account).then((list) => {
        const out: AccountRoles = { byId: new Map() };
        const junk = junkOf(list);
        out.junkName = junk?.name;
        for (const m of list) {
          let role: Role = m.name === 'INBOX' ? 'inbox' : ((m.specialUse && BY_USE[m.specialUse]) ?? 'other');
          if (m === junk) role = 'junk';
          out.byId.set(m.id, role);
        }
        return out;
      });
      // A failed listing is not kept: the next call asks again.
      p.catch(() => this.cache.delete(account));
      if (this.cache.size >= MAX_ACCOUNTS) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(account, p);
    }
    return p;
  }

  async roleOf(account: AccountId, mailboxId: MailboxId): Promise<Role> {
    const r = await this.load(account);
    return r.byId.get(mailboxId) ?? 'other';
  }

  /** The name of the account's Junk mailbox, if it has one. */
  async junkName(account: AccountId): Promise<string | undefined> {
    return (await this.load(account)).junkName;
  }
}
