// ID — RFC 2971: id = "ID" SP id-params-list; we answer with our name only.
import { ANY, type CommandSpec } from './types.js';

export const id: CommandSpec = {
  name: 'ID',
  states: ANY,
  async handle(c, p) {
    p.sp();
    if (!p.tryTake('NIL')) {
      p.parenList(() => {
        p.string();
        p.sp();
        p.nstring();
      });
    }
    p.end();
    // * ID ("name" "mailserver")
    const enc = c.conn.encoder().raw('* ID (').quoted('name').sp().quoted('mailserver').raw(')\r\n');
    await c.conn.send(enc);
  },
};
