// RENAME — RFC 9051 §6.3.6: renaming INBOX moves its messages to the new name and leaves
// INBOX empty (the store does that); renaming to an existing name → ALREADYEXISTS.
import { ImapNo } from '../errors.js';
import { accountOf, checkMailboxName } from './helpers.js';
import { AUTH_OR_SELECTED, type CommandSpec } from './types.js';

export const rename: CommandSpec = {
  name: 'RENAME',
  states: AUTH_OR_SELECTED,
  async handle(c, p) {
    p.sp();
    const from = p.mailbox();
    p.sp();
    let to = p.mailbox();
    p.end();
    if (to.endsWith('/') && to.length > 1) to = to.slice(0, -1);
    if (to === 'INBOX') throw new ImapNo('Cannot rename to INBOX', 'ALREADYEXISTS');
    checkMailboxName(to);
    await c.conn.ctx.store.renameMailbox(accountOf(c), from, to);
    const st = c.conn.state;
    if (st.name === 'selected' && st.view.name === from && from !== 'INBOX') st.view.name = to;
  },
};
