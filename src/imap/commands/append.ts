// APPEND — RFC 9051 §6.3.12, UIDPLUS APPENDUID RFC 4315 §3, APPENDLIMIT RFC 7889,
// MULTIAPPEND RFC 3502
// append = "APPEND" SP mailbox 1*append-message            (RFC 3502 §6)
// append-message = [SP flag-list] [SP date-time] SP (literal / "UTF8" SP "(" literal8 ")"
//                   / "CATENATE" SP "(" cat-part *(SP cat-part) ")")
//   (the UTF8 data item: RFC 6855 §4, after ENABLE UTF8=ACCEPT)
//   (or a literal8 "~{n}", BINARY: RFC 3516 §4.4)
//   (CATENATE: RFC 4469, ../catenate.ts; its parts are put together when the command runs)
// The size, target and quota checks happen before each "+" (literals.ts); large
// literals arrive as a spooled file and are handed to the store by path.
import { StoreError, type MailboxId, type MessageSource, type Uid } from '../../store/types.js';
import { catenate, parseCatParts, type CatPart } from '../catenate.js';
import { ImapNo } from '../errors.js';
import type { Parser } from '../wire/parser.js';
import { accountOf, compactSet } from './helpers.js';
import { AUTH_OR_SELECTED, type CommandContext, type CommandSpec } from './types.js';

interface AppendMessage {
  /** A CATENATE message has parts instead, made into its source when the command runs. */
  source?: MessageSource;
  parts?: CatPart[];
  flags?: string[];
  date?: Date;
}

function parseMessage(c: CommandContext, p: Parser): AppendMessage {
  p.sp();
  let flags: string[] | undefined;
  let date: Date | undefined;
  if (p.peek() === '(') {
    flags = p.flagList().filter((f) => f !== '\\Recent');
    p.sp();
  }
  if (p.peek() === '"') {
    date = p.dateTime();
    p.sp();
  }
  if (p.tryTake('CATENATE ')) return { parts: parseCatParts(p), flags, date };
  // RFC 6855 §4: a message with UTF-8 headers comes as UTF8 (literal8); we store bytes as given.
  const utf8 = c.conn.enabled.has('UTF8=ACCEPT') && p.tryTake('UTF8 (');
  const lit = p.messageLiteral();
  if (utf8) p.take(')');
  const size = lit.kind === 'buffer' ? lit.data.length : lit.size;
  if (size > c.conn.opts.appendLimit) throw new ImapNo('Message too big', 'TOOBIG');
  if (size === 0) throw new ImapNo('Empty message', 'CANNOT');
  return { source: lit.kind === 'buffer' ? { data: lit.data } : { path: lit.path }, flags, date };
}

/**
 * RFC 3502 §3: all messages or none. The store appends one at a time; when one fails,
 * those already stored are expunged again before the NO (other sessions may see them
 * come and go, as with any message expunged at once).
 */
async function appendAll(c: CommandContext, name: string, msgs: AppendMessage[]): Promise<{ uidValidity: number; uids: Uid[] }> {
  const store = c.conn.ctx.store;
  const account = accountOf(c);
  const done: Array<{ uid: Uid; uidValidity: number; mailboxId: MailboxId }> = [];
  try {
    for (const m of msgs) done.push(await store.append(account, name, m.source ?? (await catenate(catContext(c), m.parts!)), { flags: m.flags, internalDate: m.date }));
  } catch (err) {
    const first = done[0];
    if (first) await store.expunge(account, first.mailboxId, done.map((d) => d.uid)).catch(() => undefined);
    throw err;
  }
  return { uidValidity: done[0]!.uidValidity, uids: done.map((d) => d.uid) };
}

function catContext(c: CommandContext) {
  const s = c.conn.state;
  const selected = s.name === 'selected' ? { name: s.view.name, uidValidity: s.view.uidValidity } : undefined;
  return { store: c.conn.ctx.store, account: accountOf(c), selected, limit: c.conn.opts.appendLimit };
}

export const append: CommandSpec = {
  name: 'APPEND',
  states: AUTH_OR_SELECTED,
  async handle(c, p) {
    p.sp();
    const name = p.mailbox();
    const msgs: AppendMessage[] = [];
    do msgs.push(parseMessage(c, p));
    while (!p.atEnd());
    p.end();
    try {
      const r = await appendAll(c, name, msgs);
      c.okCode = `APPENDUID ${r.uidValidity} ${compactSet(r.uids)}`; // RFC 4315 §3: a uid-set for MULTIAPPEND
      c.okText = 'APPEND completed';
    } catch (err) {
      // RFC 9051 §6.3.12: a missing target gets [TRYCREATE].
      if (err instanceof StoreError && err.kind === 'nonexistent') throw new ImapNo('Mailbox does not exist', 'TRYCREATE');
      throw err;
    }
  },
};
