// SUBSCRIBE / UNSUBSCRIBE — RFC 9051 §6.3.7, §6.3.8
import { accountOf } from './helpers.js';
import { AUTH_OR_SELECTED, type CommandSpec } from './types.js';

export const subscribe: CommandSpec = {
  name: 'SUBSCRIBE',
  states: AUTH_OR_SELECTED,
  async handle(c, p) {
    p.sp();
    const name = p.mailbox();
    p.end();
    await c.conn.ctx.store.setSubscribed(accountOf(c), name, true);
  },
};

export const unsubscribe: CommandSpec = {
  name: 'UNSUBSCRIBE',
  states: AUTH_OR_SELECTED,
  async handle(c, p) {
    p.sp();
    const name = p.mailbox();
    p.end();
    await c.conn.ctx.store.setSubscribed(accountOf(c), name, false);
  },
};
