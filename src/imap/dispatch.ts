/**
 * Runs one framed command (STYLE.md "dispatch does the generic work only, once"):
 * tag and name parsing, the command table lookup, the state check, the handler, the
 * post-command flush of pending changes (no EXPUNGE after commands that use sequence
 * numbers: FETCH, STORE, SEARCH — RFC 9051 §7.5.1, §5.5), the tagged OK, and the one
 * place where errors become responses:
 * - ImapBad → BAD; ImapNo → NO [CODE]; ImapBye → BYE and close;
 * - StoreError → NO with the code for its kind;
 * - anything else → logged with its stack, `NO [SERVERBUG]` (never echo internals).
 */
import { StoreError, type StoreErrorKind } from '../store/types.js';
import { COMMANDS } from './commands/index.js';
import { contextsOf, flushContexts } from './context.js';
import type { CommandContext } from './commands/types.js';
import type { ImapConnection } from './connection.js';
import { ImapBad, ImapBye, ImapNo } from './errors.js';
import { MimeError } from './mime/types.js';
import { Parser } from './wire/parser.js';
import type { FramedCommand } from './wire/types.js';

const STORE_CODES: Record<StoreErrorKind, string> = {
  nonexistent: 'NONEXISTENT',
  exists: 'ALREADYEXISTS',
  hasChildren: 'HASCHILDREN',
  overQuota: 'OVERQUOTA',
  readOnly: 'READ-ONLY',
  invalidName: 'CANNOT',
  noPermission: 'NOPERM',
  tooBig: 'TOOBIG',
  modified: 'MODIFIED',
  uidsExhausted: 'LIMIT', // RFC 5530 §3: an implementation limit
  closed: 'UNAVAILABLE', // RFC 5530 §3: temporary, the server is stopping
};

export async function dispatch(conn: ImapConnection, cmd: FramedCommand): Promise<void> {
  const started = Date.now();
  const p = new Parser(cmd);
  p.utf8 = conn.utf8;
  let tag = '*';
  let name = '';
  try {
    tag = p.tag();
    p.sp();
    name = p.word();
    if (name === 'UID') {
      p.sp();
      name = 'UID ' + p.word();
    }
  } catch {
    return badCommand(conn, tag, 'Missing or invalid command', true);
  }
  const spec = COMMANDS.get(name);
  conn.ctx.metrics?.command('imap', spec ? name : 'UNKNOWN');
  if (!spec) {
    // Cross-protocol defence (go-imap, mox): unknown input before login ends the session.
    if (conn.state.name === 'notAuthenticated') {
      await conn.write([`${tag} BAD Unknown command\r\n`]);
      return conn.bye('Please speak IMAP');
    }
    return badCommand(conn, tag, 'Unknown command');
  }
  if (!spec.states.includes(conn.state.name)) {
    return badCommand(conn, tag, `${name} not allowed in this state`);
  }
  const c: CommandContext = { conn, tag, name };
  try {
    await spec.handle(c, p);
    if (conn.closed) return;
    await flushPending(conn, !spec.usesSeqs);
    const code = c.okCode ? `[${c.okCode}] ` : '';
    await conn.write([`${tag} OK ${code}${c.okText ?? `${name} completed`}\r\n`]);
    conn.log.debug({ cmd: name, ms: Date.now() - started }, 'command');
  } catch (err) {
    if (conn.closed) return;
    if (err instanceof ImapBad) return badCommand(conn, tag, err.message, false, err.code);
    if (err instanceof ImapBye) return conn.bye(err.message);
    await flushPending(conn, !spec.usesSeqs).catch(() => undefined);
    if (err instanceof MimeError) {
      // RFC 3516 §4.3: undecodable content → NO [UNKNOWN-CTE]; a malformed section → BAD
      if (err.kind === 'badSection') return badCommand(conn, tag, 'Invalid section');
      await conn.write([`${tag} NO [UNKNOWN-CTE] Cannot decode this part\r\n`]);
    } else if (err instanceof ImapNo) {
      await conn.write([`${tag} NO ${err.code ? `[${err.code}] ` : ''}${err.message}\r\n`]);
    } else if (err instanceof StoreError) {
      await conn.write([`${tag} NO [${STORE_CODES[err.kind] ?? 'CANNOT'}] ${storeText(err)}\r\n`]);
    } else {
      conn.log.error({ err, cmd: name }, 'command failed');
      await conn.write([`${tag} NO [SERVERBUG] Internal error\r\n`]);
    }
  }
}

/** Store messages are written for users (no paths); keep them on one line. */
function storeText(err: StoreError): string {
  return err.message.replace(/[\r\n]+/g, ' ').slice(0, 200) || 'Operation failed';
}

async function badCommand(conn: ImapConnection, tag: string, text: string, untaggedIfNoTag = false, code?: string): Promise<void> {
  conn.badCommands++;
  const t = tag === '*' && untaggedIfNoTag ? '*' : tag;
  await conn.write([`${t} BAD ${code ? `[${code}] ` : ''}${text.replace(/[\r\n]+/g, ' ')}\r\n`]);
  if (conn.badCommands >= conn.ctx.config.limits.maxBadCommands) await conn.bye('Too many bad commands');
}

/**
 * The post-command (and IDLE) point where queued changes of the selected mailbox go
 * out; what may go out is decided by the view (session.ts): no EXPUNGE after FETCH,
 * STORE or SEARCH without UID (RFC 9051 §7.5.1).
 */
export async function flushPending(conn: ImapConnection, allowExpunge: boolean): Promise<void> {
  if (conn.state.name !== 'selected') return;
  const { view, account } = conn.state;
  if (view.pending.length === 0) return;
  const at = { expunge: allowExpunge, condstore: conn.condstore, qresync: conn.qresync };
  const contexts = contextsOf(view);
  if (contexts) {
    // RFC 5267 §4.3: update contexts' ESEARCH lines go out with the changes that cause them.
    return contexts.serial(async () => {
      if (conn.state.name !== 'selected' || conn.state.view !== view) return; // unselected meanwhile: updates cease (§4.3)
      const enc = conn.encoder();
      await flushContexts(conn.ctx.store, account, view, contexts, enc, at);
      const chunks = enc.done();
      if (chunks.length > 0) await conn.write(chunks);
    });
  }
  const enc = conn.encoder();
  view.flush(enc, at);
  const chunks = enc.done();
  if (chunks.length > 0) await conn.write(chunks);
}
