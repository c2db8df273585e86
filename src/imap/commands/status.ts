// STATUS — RFC 9051 §6.3.11, STATUS=SIZE RFC 8438, HIGHESTMODSEQ RFC 7162 §3.1.3, MAILBOXID RFC 8474 §4.2
// status = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"
import { supportsSearch, type MailboxInfo, type Uid } from '../../store/types.js';
import type { ImapConnection } from '../connection.js';
import { ImapBad } from '../errors.js';
import { mailboxObjectId } from '../objectid.js';
import { recentRegistry } from '../recent.js';
import type { Encoder } from '../wire/encoder.js';
import type { Parser } from '../wire/parser.js';
import { accountOf } from './helpers.js';
import { AUTH_OR_SELECTED, type CommandSpec } from './types.js';

const ITEMS = new Set(['MESSAGES', 'UIDNEXT', 'UIDVALIDITY', 'UNSEEN', 'DELETED', 'SIZE', 'HIGHESTMODSEQ', 'RECENT', 'MAILBOXID']);

export function parseStatusItems(p: Parser): string[] {
  const items: string[] = [];
  p.parenList(() => {
    const a = p.atom().toUpperCase();
    if (!ITEMS.has(a)) throw new ImapBad(`Unknown STATUS item ${a}`);
    items.push(a);
  }, false);
  return items;
}

/** Writes "* STATUS name (ITEM n ...)" for one mailbox (RFC 9051 §7.3.3). */
export async function statusResponse(conn: ImapConnection, account: string, info: MailboxInfo, items: string[], enc: Encoder): Promise<void> {
  let deleted = 0;
  const recent = items.includes('RECENT') ? await recentCount(conn, account, info) : 0;
  if (items.includes('DELETED')) {
    const store = conn.ctx.store;
    // From the index where the store can (no object per message of a 100 000-message mailbox).
    if (supportsSearch(store)) deleted = (await store.searchUids(account, info.id, { k: 'flag', flag: '\\Deleted', set: true })).length;
    else deleted = (await store.fetchMeta(account, info.id, { fields: 'flags' })).filter((m) => m.flags.includes('\\Deleted')).length;
  }
  const vals: string[] = [];
  for (const it of items) {
    if (it === 'MAILBOXID') {
      vals.push(`MAILBOXID (${mailboxObjectId(account, info)})`); // RFC 8474 §4.2
      continue;
    }
    const v =
      it === 'MESSAGES' ? info.messages
      : it === 'UIDNEXT' ? info.uidNext
      : it === 'UIDVALIDITY' ? info.uidValidity
      : it === 'UNSEEN' ? info.unseen
      : it === 'DELETED' ? deleted
      : it === 'SIZE' ? info.size
      : it === 'RECENT' ? recent
      : info.highestModseq;
    vals.push(`${it} ${v}`);
  }
  if (items.includes('HIGHESTMODSEQ')) conn.condstore = true;
  enc.raw('* STATUS ').mailbox(info.name).raw(` (${vals.join(' ')})\r\n`);
}

/**
 * RECENT (RFC 3501 §6.3.10): the messages no session has claimed as \Recent yet
 * (recent.ts); for a mailbox nobody selected since the start, those never opened.
 */
async function recentCount(conn: ImapConnection, account: string, info: MailboxInfo): Promise<number> {
  const first = recentRegistry(conn.ctx.store).firstUnclaimed(account, info.id);
  if (first === undefined) return info.recent ?? 0;
  if (first >= info.uidNext) return 0;
  const store = conn.ctx.store;
  if (supportsSearch(store)) return (await store.searchUids(account, info.id, { k: 'uids', ranges: [[first, info.uidNext - 1]] })).length;
  // Bounded: at most 10 000 UIDs asked for (a mailbox flooded while nobody looked).
  const uids = Array.from({ length: Math.min(info.uidNext - first, 10_000) }, (_, i) => (first + i) as Uid);
  return (await conn.ctx.store.fetchMeta(account, info.id, { uids, fields: 'flags' })).length;
}

export const status: CommandSpec = {
  name: 'STATUS',
  states: AUTH_OR_SELECTED,
  async handle(c, p) {
    p.sp();
    const name = p.mailbox();
    p.sp();
    const items = parseStatusItems(p);
    p.end();
    const account = accountOf(c);
    const info = await c.conn.ctx.store.getMailbox(account, name);
    const enc = c.conn.encoder();
    await statusResponse(c.conn, account, info, items, enc);
    await c.conn.send(enc);
  },
};
