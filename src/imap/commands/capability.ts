// CAPABILITY — RFC 9051 §6.1.1
// capability = "CAPABILITY"
import { ANY, type CommandSpec } from './types.js';

export const capability: CommandSpec = {
  name: 'CAPABILITY',
  states: ANY,
  async handle(c, p) {
    p.end();
    // * CAPABILITY IMAP4rev1 IMAP4rev2 ...
    await c.conn.write([`* CAPABILITY ${c.conn.capabilities().join(' ')}\r\n`]);
  },
};
