// STARTTLS — RFC 9051 §6.2.1. After the tagged OK the TLS handshake starts; input the
// client pipelined after STARTTLS is discarded (connection.ts upgradeTls), and the
// client must re-ask CAPABILITY.
import { ImapBad } from '../errors.js';
import { NOT_AUTH, type CommandSpec } from './types.js';

export const starttls: CommandSpec = {
  name: 'STARTTLS',
  states: NOT_AUTH,
  async handle(c, p) {
    p.end();
    if (c.conn.tls) throw new ImapBad('TLS already active');
    c.conn.startTlsRequested = true;
    c.okText = 'Begin TLS negotiation now';
  },
};
