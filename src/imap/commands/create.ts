// CREATE — RFC 9051 §6.3.4, RFC 3501 §6.3.3; CREATE-SPECIAL-USE RFC 6154 §3
// create = "CREATE" SP mailbox [create-params]; create-params = SP "(" "USE" SP "(" use-attr ")" ")"
import type { SpecialUse } from '../../store/types.js';
import { ImapNo } from '../errors.js';
import { mailboxObjectId } from '../objectid.js';
import { accountOf, checkMailboxName } from './helpers.js';
import { AUTH_OR_SELECTED, type CommandSpec } from './types.js';

export const SPECIAL_USES: readonly SpecialUse[] = ['\\Sent', '\\Drafts', '\\Junk', '\\Trash', '\\Archive', '\\All', '\\Flagged'];

export const create: CommandSpec = {
  name: 'CREATE',
  states: AUTH_OR_SELECTED,
  async handle(c, p) {
    p.sp();
    let name = p.mailbox();
    let specialUse: SpecialUse | undefined;
    if (p.trySp()) {
      p.parenList(() => {
        p.take('USE');
        p.sp();
        p.parenList(() => {
          const f = p.flag();
          const su = SPECIAL_USES.find((s) => s.toLowerCase() === f.toLowerCase());
          if (!su) throw new ImapNo(`Unsupported special use ${f}`, 'USEATTR'); // RFC 6154 §3
          if (specialUse) throw new ImapNo('Only one special use per mailbox', 'USEATTR');
          specialUse = su;
        });
      });
    }
    p.end();
    // RFC 9051 §6.3.4: a trailing delimiter declares intent to create inferiors.
    if (name.endsWith('/') && name.length > 1) name = name.slice(0, -1);
    if (name === 'INBOX') throw new ImapNo('INBOX always exists', 'ALREADYEXISTS'); // RFC 9051 §6.3.4
    if (name.length === 0) throw new ImapNo('Empty mailbox name', 'CANNOT');
    checkMailboxName(name);
    const account = accountOf(c);
    await c.conn.ctx.store.createMailbox(account, name, specialUse ? { specialUse } : undefined);
    // RFC 8474 §4.1: the new mailbox's MAILBOXID in the tagged OK.
    c.okCode = `MAILBOXID (${mailboxObjectId(account, await c.conn.ctx.store.getMailbox(account, name))})`;
  },
};
