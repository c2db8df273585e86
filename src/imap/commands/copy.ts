// COPY — RFC 9051 §6.4.7; MOVE — RFC 6851, RFC 9051 §6.4.8; UID variants §6.4.9
// copy = "COPY" SP sequence-set SP mailbox; move = "MOVE" SP sequence-set SP mailbox
// UIDPLUS: tagged OK [COPYUID uidvalidity src-uids dst-uids] (RFC 4315 §3); for MOVE the
// COPYUID goes in an untagged OK before the EXPUNGEs (RFC 6851 §4.3).
import { StoreError } from '../../store/types.js';
import { ImapNo } from '../errors.js';
import { announceExpunged } from './expunge.js';
import { accountOf, compactSet, viewOf } from './helpers.js';
import { SELECTED, type CommandContext, type CommandSpec } from './types.js';
import type { Parser } from '../wire/parser.js';

async function copyOrMove(c: CommandContext, p: Parser, byUid: boolean, move: boolean): Promise<void> {
  p.sp();
  const set = p.sequenceSet();
  p.sp();
  const dest = p.mailbox();
  p.end();
  const view = viewOf(c);
  const account = accountOf(c);
  const uids = byUid ? view.uidsForUidSet(set) : view.uidsForSeqSet(set);
  if (!byUid && set.some(([, b]) => b !== Infinity && b > view.exists)) throw new ImapNo('Invalid sequence number', 'CLIENTBUG');
  if (move && view.readOnly) throw new ImapNo('Mailbox is read-only', 'READ-ONLY');
  if (uids.length === 0) return;
  const store = c.conn.ctx.store;
  let mapping;
  try {
    mapping = move ? await store.move(account, view.mailboxId, uids, dest) : await store.copy(account, view.mailboxId, uids, dest);
  } catch (err) {
    if (err instanceof StoreError && err.kind === 'nonexistent') throw new ImapNo('Mailbox does not exist', 'TRYCREATE'); // RFC 9051 §6.4.7
    throw err;
  }
  // All or nothing (the store's copy/move): a message expunged by another session (the
  // client still knows it) fails the command and nothing is copied (RFC 5530 §3
  // EXPUNGEISSUED, as Dovecot). The EXPUNGEs follow the NO: COPY and MOVE may carry them.
  if (mapping.from.length < uids.length) throw new ImapNo('Some of the requested messages no longer exist', 'EXPUNGEISSUED');
  const code = mapping.from.length > 0 ? `COPYUID ${mapping.uidValidity} ${compactSet(mapping.from)} ${compactSet(mapping.to)}` : undefined;
  if (move) {
    if (code) await c.conn.write([`* OK [${code}] Moved\r\n`]);
    await announceExpunged(c, mapping.from, false);
  } else if (code) {
    c.okCode = code;
  }
}

// Not usesSeqs: only FETCH, STORE and SEARCH hold back EXPUNGE (RFC 9051 §7.5.1).
export const copy: CommandSpec = { name: 'COPY', states: SELECTED, handle: (c, p) => copyOrMove(c, p, false, false) };
export const uidCopy: CommandSpec = { name: 'UID COPY', states: SELECTED, handle: (c, p) => copyOrMove(c, p, true, false) };
export const move: CommandSpec = { name: 'MOVE', states: SELECTED, handle: (c, p) => copyOrMove(c, p, false, true) };
export const uidMove: CommandSpec = { name: 'UID MOVE', states: SELECTED, handle: (c, p) => copyOrMove(c, p, true, true) };
