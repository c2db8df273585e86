// APPEND — RFC 9051 §6.3.12, UIDPLUS APPENDUID RFC 4315 §3, APPENDLIMIT RFC 7889
// append = "APPEND" SP mailbox [SP flag-list] [SP date-time] SP literal
//   (or a literal8 "~{n}", BINARY: RFC 3516 §4.4)
// The size check happens in the framer before the "+" (NO [TOOBIG], connection.ts);
// large literals arrive as a spooled file and are handed to the store by path.
import { StoreError, type MessageSource } from '../../store/types.js';
import { ImapNo } from '../errors.js';
import { accountOf } from './helpers.js';
import { AUTH_OR_SELECTED, type CommandSpec } from './types.js';

export const append: CommandSpec = {
  name: 'APPEND',
  states: AUTH_OR_SELECTED,
  async handle(c, p) {
    p.sp();
    const name = p.mailbox();
    p.sp();
    let flags: string[] | undefined;
    let date: Date | undefined;
    if (p.peek() === '(') {
      flags = p.flagList().filter((f) => f !== '\\Recent');
      p.sp();
    }
    if (p.peek() === '"') {
      date = p.dateTime();
      p.sp();
    }
    const lit = p.messageLiteral();
    p.end();
    const size = lit.kind === 'buffer' ? lit.data.length : lit.size;
    if (size > c.conn.opts.appendLimit) throw new ImapNo('Message too big', 'TOOBIG');
    if (size === 0) throw new ImapNo('Empty message', 'CANNOT');
    const source: MessageSource = lit.kind === 'buffer' ? { data: lit.data } : { path: lit.path };
    try {
      const r = await c.conn.ctx.store.append(accountOf(c), name, source, { flags, internalDate: date });
      c.okCode = `APPENDUID ${r.uidValidity} ${r.uid}`; // RFC 4315 §3
      c.okText = 'APPEND completed';
    } catch (err) {
      // RFC 9051 §6.3.12: a missing target gets [TRYCREATE].
      if (err instanceof StoreError && err.kind === 'nonexistent') throw new ImapNo('Mailbox does not exist', 'TRYCREATE');
      throw err;
    }
  },
};
