// IDLE — RFC 2177, RFC 9051 §6.3.13
// idle = "IDLE" CRLF "DONE"
// Pending changes (including EXPUNGE) are sent as they arrive; connection.idle() waits
// for DONE with the long IDLE timeout.
import { ImapBad } from '../errors.js';
import { AUTH_OR_SELECTED, type CommandSpec } from './types.js';

export const idle: CommandSpec = {
  name: 'IDLE',
  states: AUTH_OR_SELECTED,
  async handle(c, p) {
    p.end();
    await c.conn.write(['+ idling\r\n']);
    const line = await c.conn.idle();
    if (c.conn.closed) return;
    if (line.trim().toUpperCase() !== 'DONE') throw new ImapBad('Expected DONE');
  },
};
