// LOGOUT — RFC 9051 §6.1.3: untagged BYE, tagged OK, then close.
import { ANY, type CommandSpec } from './types.js';

export const logout: CommandSpec = {
  name: 'LOGOUT',
  states: ANY,
  async handle(c, p) {
    p.end();
    await c.conn.write([`* BYE Logging out\r\n`, `${c.tag} OK LOGOUT completed\r\n`]);
    c.conn.close();
  },
};
