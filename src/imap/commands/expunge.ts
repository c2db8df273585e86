// EXPUNGE — RFC 9051 §6.4.3; UID EXPUNGE — RFC 4315 §2.1, RFC 9051 §6.4.9
// expunge = "EXPUNGE"; uid-expunge = "UID" SP "EXPUNGE" SP sequence-set
// Sends "* n EXPUNGE" for each removed message, highest sequence numbers are not
// required first; each response shifts later numbers down by one (RFC 9051 §7.5.1).
import { ImapNo } from '../errors.js';
import { accountOf, viewOf } from './helpers.js';
import { SELECTED, type CommandContext, type CommandSpec } from './types.js';
import type { Uid } from '../../store/types.js';

/**
 * The expunges of this command, then the queued changes (among them the store's event
 * for this expunge, which brings its modseq). With QRESYNC and something expunged, the
 * new HIGHESTMODSEQ follows: in the tagged OK of EXPUNGE (RFC 7162 §3.2.7), in an
 * untagged OK after the VANISHED of a MOVE (RFC 6851 §4.4).
 */
export async function announceExpunged(c: CommandContext, uids: readonly Uid[], tagged: boolean): Promise<void> {
  const view = viewOf(c);
  const conn = c.conn;
  const enc = conn.encoder();
  if (conn.qresync) {
    const n = view.writeVanished(enc, uids); // RFC 7162 §3.2.10
    view.flush(enc, { expunge: true, condstore: conn.condstore, qresync: true });
    if (n > 0 && tagged) c.okCode = `HIGHESTMODSEQ ${view.highestModseq}`;
    else if (n > 0) view.writeHighestModseq(enc);
  } else
    for (const u of uids) {
      const seq = view.remove(u);
      if (seq > 0) enc.raw(`* ${seq} EXPUNGE\r\n`);
    }
  view.writeRecent(enc); // the RECENT count changes with the expunged recent messages (RFC 3501 §7.3.2)
  await c.conn.send(enc);
}

export const expunge: CommandSpec = {
  name: 'EXPUNGE',
  states: SELECTED,
  async handle(c, p) {
    p.end();
    const view = viewOf(c);
    if (view.readOnly) throw new ImapNo('Mailbox is read-only', 'READ-ONLY');
    const removed = await c.conn.ctx.store.expunge(accountOf(c), view.mailboxId);
    await announceExpunged(c, removed, true);
  },
};

export const uidExpunge: CommandSpec = {
  name: 'UID EXPUNGE',
  states: SELECTED,
  async handle(c, p) {
    p.sp();
    const set = p.sequenceSet();
    p.end();
    const view = viewOf(c);
    if (view.readOnly) throw new ImapNo('Mailbox is read-only', 'READ-ONLY');
    const account = accountOf(c);
    const candidates = view.uidsForUidSet(set);
    if (candidates.length === 0) return;
    const metas = await c.conn.ctx.store.fetchMeta(account, view.mailboxId, { uids: candidates, fields: 'flags' });
    const deleted = metas.filter((m) => m.flags.includes('\\Deleted')).map((m) => m.uid);
    if (deleted.length === 0) return;
    const removed = await c.conn.ctx.store.expunge(account, view.mailboxId, deleted);
    await announceExpunged(c, removed, true);
  },
};
