// SETQUOTA — RFC 9208 §4.4
// setquota = "SETQUOTA" SP quota-root-name SP setquota-list   (RFC 9208 §7)
// setquota-list = "(" [setquota-resource *(SP setquota-resource)] ")"
//
// Limits are set by the administrator with the CLI (`account quota`, `domain quota`), so
// SETQUOTA is parsed and refused with NO [NOPERM] (RFC 9208 §4.4: "a server MAY
// refuse"); QUOTASET is not advertised.
import { ImapNo } from '../errors.js';
import { AUTH_OR_SELECTED, type CommandSpec } from './types.js';

export const setquota: CommandSpec = {
  name: 'SETQUOTA',
  states: AUTH_OR_SELECTED,
  async handle(_c, p) {
    p.sp();
    p.astring();
    p.sp();
    p.parenList(() => {
      p.atom();
      p.sp();
      p.number(true);
    });
    p.end();
    throw new ImapNo('Quotas are set by the administrator', 'NOPERM');
  },
};
