// CLOSE — RFC 9051 §6.4.1: expunge \Deleted silently (unless read-only), back to authenticated.
// UNSELECT — RFC 3691, RFC 9051 §6.4.2: the same without the expunge.
import { accountOf, viewOf } from './helpers.js';
import { SELECTED, type CommandSpec } from './types.js';

export const close: CommandSpec = {
  name: 'CLOSE',
  states: SELECTED,
  async handle(c, p) {
    p.end();
    const account = accountOf(c);
    const view = viewOf(c);
    c.conn.state = { name: 'authenticated', account };
    if (!view.readOnly) await c.conn.ctx.store.expunge(account, view.mailboxId);
  },
};

export const unselect: CommandSpec = {
  name: 'UNSELECT',
  states: SELECTED,
  async handle(c, p) {
    p.end();
    c.conn.state = { name: 'authenticated', account: accountOf(c) };
  },
};
