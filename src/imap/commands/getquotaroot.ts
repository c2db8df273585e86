// GETQUOTAROOT — RFC 9208 §4.3
// getquotaroot = "GETQUOTAROOT" SP mailbox               (RFC 9208 §7)
// quotaroot-response = "QUOTAROOT" SP mailbox *(SP quota-root-name)
//
// Every mailbox of the account shares the same roots (see getquota.ts): "" when the
// account has limits, and the domain's name when the domain has a total quota. An
// account without any limit has no root (RFC 9208 §4.3 allows an empty list).
import { accountOf } from './helpers.js';
import { quotaResponse, quotaRoots, quotaStatus } from './getquota.js';
import { AUTH_OR_SELECTED, type CommandSpec } from './types.js';

export const getquotaroot: CommandSpec = {
  name: 'GETQUOTAROOT',
  states: AUTH_OR_SELECTED,
  async handle(c, p) {
    p.sp();
    const name = p.mailbox();
    p.end();
    const account = accountOf(c);
    // The mailbox must exist: StoreError('nonexistent') → NO [NONEXISTENT].
    const info = await c.conn.ctx.store.getMailbox(account, name);
    const roots = quotaRoots(await quotaStatus(c.conn, account));
    const enc = c.conn.encoder();
    // * QUOTAROOT INBOX ""
    enc.raw('* QUOTAROOT ').mailbox(info.name);
    for (const r of roots.keys()) enc.sp().string(r);
    enc.crlf();
    // * QUOTA "" (STORAGE 10 512)   — one per root (RFC 9208 §4.3)
    for (const [r, resources] of roots) quotaResponse(enc, r, resources);
    await c.conn.send(enc);
  },
};
