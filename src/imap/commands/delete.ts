// DELETE — RFC 9051 §6.3.5: INBOX cannot be deleted.
import { ImapNo } from '../errors.js';
import { accountOf } from './helpers.js';
import { AUTH_OR_SELECTED, type CommandSpec } from './types.js';

export const del: CommandSpec = {
  name: 'DELETE',
  states: AUTH_OR_SELECTED,
  async handle(c, p) {
    p.sp();
    const name = p.mailbox();
    p.end();
    if (name === 'INBOX') throw new ImapNo('INBOX cannot be deleted', 'CANNOT');
    const account = accountOf(c);
    const st = c.conn.state;
    await c.conn.ctx.store.deleteMailbox(account, name);
    // Deleting the selected mailbox leaves the session without one.
    if (st.name === 'selected' && st.view.name === name) {
      c.conn.state = { name: 'authenticated', account };
      if (c.conn.rev2) await c.conn.write(['* OK [CLOSED] Mailbox deleted\r\n']);
    }
  },
};
