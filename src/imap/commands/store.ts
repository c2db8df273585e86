// STORE — RFC 9051 §6.4.6; UNCHANGEDSINCE — RFC 7162 §3.1.3
// store = "STORE" SP sequence-set [SP "(" "UNCHANGEDSINCE" SP mod-sequence-valzer ")"]
//         SP store-att-flags
// store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / (flag *(SP flag)))
// Untagged FETCH (FLAGS …) for each changed message unless .SILENT; messages that fail
// the UNCHANGEDSINCE test are listed in [MODIFIED set] (RFC 7162 §3.1.3).
import type { FlagOp, Uid } from '../../store/types.js';
import { ImapBad, ImapNo } from '../errors.js';
import { accountOf, compactSet, viewOf } from './helpers.js';
import { SELECTED, type CommandContext, type CommandSpec } from './types.js';
import type { Parser } from '../wire/parser.js';

async function runStore(c: CommandContext, p: Parser, byUid: boolean): Promise<void> {
  p.sp();
  const set = p.sequenceSet();
  p.sp();
  let unchangedSince: number | undefined;
  if (p.peek() === '(') {
    p.parenList(() => {
      p.take('UNCHANGEDSINCE');
      p.sp();
      unchangedSince = p.number(true);
    });
    p.sp();
    c.conn.condstore = true;
  }
  let op: FlagOp = 'set';
  if (p.tryTake('+')) op = 'add';
  else if (p.tryTake('-')) op = 'remove';
  p.take('FLAGS');
  const silent = p.tryTake('.SILENT');
  p.sp();
  let flags: string[];
  if (p.peek() === '(') flags = p.flagList();
  else {
    flags = [p.flag()];
    while (p.trySp()) flags.push(p.flag());
  }
  p.end();
  if (flags.some((f) => f === '\\Recent')) throw new ImapBad('\\Recent cannot be stored');
  const view = viewOf(c);
  if (view.readOnly) throw new ImapNo('Mailbox is read-only', 'READ-ONLY');
  const uids = byUid ? view.uidsForUidSet(set) : view.uidsForSeqSet(set);
  if (uids.length === 0) return;
  const account = accountOf(c);
  const res = await c.conn.ctx.store.updateFlags(account, view.mailboxId, uids, op, flags, unchangedSince !== undefined ? { unchangedSince } : undefined);
  const enc = c.conn.encoder();
  const changedSet = new Set<Uid>(res.changed.map((x) => x.uid));
  const condstore = c.conn.condstore;
  for (const ch of res.changed) {
    view.noteOwnChange(ch.uid, ch.modseq);
    // RFC 7162 §3.2: with UNCHANGEDSINCE the FETCH goes out even with .SILENT (it carries MODSEQ).
    if (silent && unchangedSince === undefined) continue;
    if (silent) {
      const seq = view.seqOf(ch.uid);
      // * 3 FETCH (UID 7 MODSEQ (12))
      if (seq > 0) enc.raw(`* ${seq} FETCH (${byUid ? `UID ${ch.uid} ` : ''}MODSEQ (${ch.modseq}))\r\n`);
      continue;
    }
    // * 3 FETCH (FLAGS (\Seen) UID 7 MODSEQ (12)), with FLAGS first if a keyword is new (RFC 3501 §7.2.6)
    view.writeFlagsFetch(enc, ch.uid, ch.flags, { uid: byUid, ...(condstore ? { modseq: ch.modseq } : {}) });
  }
  // Messages whose flags did not change still get their flags shown (RFC 9051 §6.4.6).
  if (!silent && unchangedSince === undefined) {
    const unchanged = uids.filter((u) => !changedSet.has(u) && !res.failed.includes(u));
    if (unchanged.length > 0 && unchanged.length <= 10_000) {
      const metas = await c.conn.ctx.store.fetchMeta(account, view.mailboxId, { uids: unchanged, fields: 'flags' });
      for (const m of metas) view.writeFlagsFetch(enc, m.uid, m.flags, { uid: byUid });
    }
  }
  await c.conn.send(enc);
  if (res.failed.length > 0) {
    const nums = byUid ? [...res.failed].sort((a, b) => a - b) : res.failed.map((u) => view.seqOf(u)).filter((s) => s > 0).sort((a, b) => a - b);
    c.okCode = `MODIFIED ${compactSet(nums)}`; // RFC 7162 §3.1.3
    c.okText = 'Conditional STORE failed';
  }
}

export const store: CommandSpec = { name: 'STORE', states: SELECTED, usesSeqs: true, handle: (c, p) => runStore(c, p, false) };
export const uidStore: CommandSpec = { name: 'UID STORE', states: SELECTED, handle: (c, p) => runStore(c, p, true) };
