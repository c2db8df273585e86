// SELECT / EXAMINE — RFC 9051 §6.3.2, §6.3.3; CONDSTORE parameter RFC 7162 §3.1.8;
// QRESYNC parameter RFC 7162 §3.2.5
// select = "SELECT" SP mailbox [select-params];
// select-params = SP "(" select-param *(SP select-param) ")";
// select-param = "CONDSTORE" / "QRESYNC" SP "(" uidvalidity SP mod-sequence-value [SP known-uids] [SP seq-match-data] ")"
import { ImapBad } from '../errors.js';
import { parseQresyncParam, writeResync, type QresyncParam } from '../qresync.js';
import { mailboxObjectId } from '../objectid.js';
import { recentRegistry } from '../recent.js';
import { SelectedView } from '../session.js';
import { accountOf } from './helpers.js';
import { AUTH_OR_SELECTED, type CommandContext, type CommandSpec } from './types.js';
import type { Parser } from '../wire/parser.js';

async function selectOrExamine(c: CommandContext, p: Parser, readOnly: boolean): Promise<void> {
  p.sp();
  const rawName = p.astring();
  let qresync: QresyncParam | undefined;
  if (p.trySp()) {
    p.parenList(() => {
      const param = p.atom().toUpperCase();
      if (param === 'QRESYNC') {
        // RFC 7162 §3.2.5: only after ENABLE QRESYNC, else BAD.
        if (!c.conn.qresync) throw new ImapBad('QRESYNC not enabled');
        qresync = parseQresyncParam(p);
        return;
      }
      if (param !== 'CONDSTORE') throw new ImapBad(`Unknown select parameter ${param}`);
      c.conn.condstore = true; // RFC 7162 §3.1: a CONDSTORE-enabling command
    });
  }
  p.end();
  const conn = c.conn;
  const account = accountOf(c);
  if (conn.state.name === 'selected') {
    // RFC 9051 §6.3.2: the current mailbox is closed first, without expunge, even if this SELECT fails.
    conn.state = { name: 'authenticated', account };
    if (conn.rev2 || conn.condstore) await conn.write(['* OK [CLOSED] Previous mailbox closed\r\n']);
  }
  const name = p.decodeMailbox(rawName); // an invalid name is NO (and the old mailbox is closed)
  // selectMailbox: UIDs, keywords and first unseen from the index, no per-message objects.
  const snap = await conn.ctx.store.selectMailbox(account, name);
  const mb = snap.mailbox;
  // \Recent (RFC 3501 §2.3.2): an IMAP4rev1 SELECT claims the messages no session has
  // been told of; EXAMINE and IMAP4rev2 sessions leave them to others (recent.ts).
  const registry = recentRegistry(conn.ctx.store);
  const recent = !readOnly && !conn.rev2 ? { registry, claimed: registry.claimAtSelect(account, mb.id, snap.uids, mb.uidNext, snap.recentUids ?? []) } : undefined;
  const view = new SelectedView({
    account,
    mailboxId: mb.id,
    name: mb.name,
    readOnly,
    uidValidity: mb.uidValidity,
    uidNext: mb.uidNext,
    uids: snap.uids,
    highestModseq: mb.highestModseq,
    keywords: snap.keywords,
    ...(recent ? { recent } : {}),
  });
  const firstUnseen = snap.firstUnseen !== undefined ? view.seqOf(snap.firstUnseen) : 0;
  const enc = conn.encoder();
  enc.raw(`* ${view.exists} EXISTS\r\n`); // RFC 9051 §7.4.1
  if (!conn.rev2) enc.raw(`* ${view.recentCount} RECENT\r\n`); // RFC 3501 §7.3.2
  view.writeFlags(enc); // FLAGS and PERMANENTFLAGS, RFC 9051 §7.3.5, §7.1
  if (!conn.rev2 && firstUnseen > 0) enc.raw(`* OK [UNSEEN ${firstUnseen}] First unseen\r\n`);
  enc.raw(`* OK [UIDVALIDITY ${mb.uidValidity}] UIDs valid\r\n`);
  enc.raw(`* OK [UIDNEXT ${mb.uidNext}] Predicted next UID\r\n`);
  enc.raw(`* OK [MAILBOXID (${mailboxObjectId(account, mb)})] Ok\r\n`); // RFC 8474 §4.1
  if (conn.condstore) enc.raw(`* OK [HIGHESTMODSEQ ${mb.highestModseq}] Highest\r\n`); // RFC 7162 §3.1.2.1
  if (conn.rev2) {
    // RFC 9051 §6.3.2: a LIST response with the mailbox name
    enc.raw('* LIST () "/" ').mailbox(mb.name).crlf();
  }
  // RFC 7162 §3.2.5: a UIDVALIDITY that differs makes the server ignore the parameter.
  if (qresync && qresync.uidValidity === mb.uidValidity) await writeResync(enc, conn.ctx.store, account, view, qresync);
  await conn.send(enc);
  conn.state = { name: 'selected', account, view };
  c.okCode = readOnly ? 'READ-ONLY' : 'READ-WRITE';
  c.okText = `${readOnly ? 'EXAMINE' : 'SELECT'} completed`;
}

export const select: CommandSpec = {
  name: 'SELECT',
  states: AUTH_OR_SELECTED,
  handle: (c, p) => selectOrExamine(c, p, false),
};

export const examine: CommandSpec = {
  name: 'EXAMINE',
  states: AUTH_OR_SELECTED,
  handle: (c, p) => selectOrExamine(c, p, true),
};
