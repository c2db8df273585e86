// NOTIFY — RFC 5465 (../notify.ts): NOTIFY NONE | NOTIFY SET [STATUS] event-groups.
// A new NOTIFY replaces the one before (§3); NOTIFY NONE turns it off.
import { Notifier, parseNotify } from '../notify.js';
import { AUTH_OR_SELECTED, type CommandSpec } from './types.js';

export const notify: CommandSpec = {
  name: 'NOTIFY',
  states: AUTH_OR_SELECTED,
  async handle(c, p) {
    p.sp();
    const spec = parseNotify(p, () => p.mailbox());
    const n = spec ? new Notifier(spec) : undefined;
    c.conn.notify.set(n);
    if (n && spec?.status) {
      const enc = c.conn.encoder();
      await c.conn.notify.initialStatus(enc);
      await c.conn.send(enc);
    }
  },
};
