// GETQUOTA — RFC 9208 §4.2 (QUOTA extension), resources RFC 9208 §5.1 (STORAGE), §5.2 (MESSAGE)
// getquota = "GETQUOTA" SP quota-root-name            (RFC 9208 §7)
// quota-response = "QUOTA" SP quota-root-name SP quota-list
// quota-list = "(" quota-resource *(SP quota-resource) ")"
// quota-resource = resource-name SP resource-usage SP resource-limit
//
// Quota roots (src/quota/): "" is the account (its own STORAGE and MESSAGE limits); a
// domain with a total quota adds a root named after the domain (STORAGE only, usage of
// all its accounts). STORAGE is in units of 1024 octets (RFC 9208 §5.1); both usage and
// limit are rounded up, so a mailbox that is full in bytes also reads as full in KiB.
import type { QuotaStatus } from '../../quota/index.js';
import type { ImapConnection } from '../connection.js';
import { ImapNo } from '../errors.js';
import type { Encoder } from '../wire/encoder.js';
import { accountOf } from './helpers.js';
import { AUTH_OR_SELECTED, type CommandSpec } from './types.js';

const kib = (n: number) => Math.ceil(n / 1024);

/** The quota roots of an account, each with its resources as [name, usage, limit]. */
export function quotaRoots(st: QuotaStatus): Map<string, Array<[string, number, number]>> {
  const roots = new Map<string, Array<[string, number, number]>>();
  const own: Array<[string, number, number]> = [];
  if (st.bytes != null) own.push(['STORAGE', kib(st.usage.bytes), kib(st.bytes)]); // RFC 9208 §5.1
  if (st.messages != null) own.push(['MESSAGE', st.usage.messages, st.messages]); // RFC 9208 §5.2
  if (own.length > 0) roots.set('', own);
  if (st.domain) roots.set(st.domain.name, [['STORAGE', kib(st.domain.usage), kib(st.domain.bytes)]]);
  return roots;
}

export async function quotaStatus(conn: ImapConnection, account: string): Promise<QuotaStatus> {
  const q = conn.ctx.quota;
  if (q) return q.status(account);
  return { account, usage: await conn.ctx.store.usage(account), bytes: null, messages: null };
}

/** * QUOTA "" (STORAGE 10 512 MESSAGE 3 100) */
export function quotaResponse(enc: Encoder, root: string, resources: Array<[string, number, number]>): void {
  enc.raw('* QUOTA ').string(root).raw(` (${resources.map(([n, u, l]) => `${n} ${u} ${l}`).join(' ')})\r\n`);
}

export const getquota: CommandSpec = {
  name: 'GETQUOTA',
  states: AUTH_OR_SELECTED,
  async handle(c, p) {
    p.sp();
    const root = p.astring();
    p.end();
    const roots = quotaRoots(await quotaStatus(c.conn, accountOf(c)));
    const resources = roots.get(root);
    // RFC 9208 §4.2: a root that does not exist (or has no limits) → NO
    if (!resources) throw new ImapNo('No such quota root', 'NONEXISTENT');
    const enc = c.conn.encoder();
    quotaResponse(enc, root, resources);
    await c.conn.send(enc);
  },
};
