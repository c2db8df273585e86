// ENABLE — RFC 5161, RFC 9051 §6.3.1
// enable = "ENABLE" 1*(SP capability)
import { ENABLEABLE } from '../capabilities.js';
import { AUTH_OR_SELECTED, type CommandSpec } from './types.js';

export const enable: CommandSpec = {
  name: 'ENABLE',
  states: AUTH_OR_SELECTED,
  async handle(c, p) {
    const asked: string[] = [];
    do {
      p.sp();
      asked.push(p.atom());
    } while (!p.atEnd());
    p.end();
    const now: string[] = [];
    for (const a of asked) {
      const u = a.toUpperCase();
      if (!ENABLEABLE.has(u) || c.conn.enabled.has(u)) continue; // RFC 5161 §3.1: only newly enabled ones
      c.conn.enabled.add(u);
      if (u === 'CONDSTORE') c.conn.condstore = true;
      // RFC 7162 §3.2.3: QRESYNC implies CONDSTORE.
      if (u === 'QRESYNC') c.conn.condstore = c.conn.qresync = true;
      // RFC 9051 appendix E: no \Recent in IMAP4rev2 sessions, also for a mailbox already selected.
      if (u === 'IMAP4REV2' && c.conn.state.name === 'selected') c.conn.state.view.hideRecent();
      now.push(u === 'IMAP4REV2' ? 'IMAP4rev2' : u);
    }
    // * ENABLED IMAP4rev2 CONDSTORE
    await c.conn.write([`* ENABLED${now.map((n) => ' ' + n).join('')}\r\n`]);
  },
};
