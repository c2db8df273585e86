// NAMESPACE — RFC 9051 §6.3.10, RFC 2342: one personal namespace, "/" delimiter.
import { AUTH_OR_SELECTED, type CommandSpec } from './types.js';

export const namespace: CommandSpec = {
  name: 'NAMESPACE',
  states: AUTH_OR_SELECTED,
  async handle(c, p) {
    p.end();
    // * NAMESPACE (("" "/")) NIL NIL
    await c.conn.write(['* NAMESPACE (("" "/")) NIL NIL\r\n']);
  },
};
