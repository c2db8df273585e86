/**
 * What a literal may be, decided before the server sends "+" (issue 14). A client
 * announcing a synchronizing literal waits for "+ " before sending it (RFC 9051 §7.6),
 * so the command is checked first and a command that would fail costs the client no
 * bytes and the server no disk or memory:
 * - the command exists and is allowed in the session's state (after the commands
 *   before it have run: pipelined input is checked in the state it will run in);
 * - sizes: 8 KiB before login (LOGIN/AUTHENTICATE arguments), `maxLiteral` for
 *   command arguments, APPENDLIMIT for the message of an APPEND → NO [TOOBIG]
 *   (RFC 7889 §4);
 * - APPEND: each message literal (several with MULTIAPPEND, RFC 3502) within
 *   APPENDLIMIT, its target mailbox exists (NO [TRYCREATE], RFC 9051 §6.3.12) and the
 *   account's quota takes it with the messages before it in the command (NO
 *   [OVERQUOTA], RFC 9208 §4.3), so a MULTIAPPEND that cannot succeed stops early;
 * - memory: literals held in memory by one connection (the command being framed and
 *   the commands queued behind the running one) stay under LITERAL_MEMORY; an APPEND
 *   message past it is spooled to a file, any other literal is refused.
 * A non-synchronizing literal (LITERAL+, RFC 7888) is on its way already: it gets the
 * checks that need no waiting, and a refusal for its size closes the connection
 * (framer.ts, RFC 7888 §4). A listener with LITERAL- takes them up to 4096 octets.
 */
import fs from 'node:fs';
import { StoreError } from '../store/types.js';
import { COMMANDS } from './commands/index.js';
import { METADATA_MAX_SIZE } from './commands/metadata.js';
import type { ConnState } from './session.js';
import { tagOf, type LiteralDecision, type LiteralInfo, type LiteralSink } from './wire/framer.js';
import { Parser } from './wire/parser.js';
import type { Literal } from './wire/types.js';

/** One APPEND's messages together (MULTIAPPEND) at most this many times APPENDLIMIT: what a command may spool to disk. */
export const MULTIAPPEND_FACTOR = 4;
/** In-memory literal bytes one connection may hold (framed and queued commands). */
export const LITERAL_MEMORY = 2 * 1024 * 1024;
/** The largest non-synchronizing literal under LITERAL- (RFC 7888 §5). */
export const LITERAL_MINUS_MAX = 4096;
/** Literals before login: LOGIN and AUTHENTICATE arguments. */
export const PREAUTH_LITERAL = 8192;

/** What the policy needs of the connection. */
export interface LiteralHost {
  state: ConnState;
  /** UTF8=ACCEPT / IMAP4rev2: mailbox names in UTF-8. */
  readonly utf8: boolean;
  opts: { appendLimit: number; maxLiteral: number; spoolThreshold: number; literalMinus?: boolean };
  /** In-memory literal bytes held now (framed so far and queued). */
  literalMemory(): number;
  /** Resolves when the commands received before this one have run. */
  whenIdle(): Promise<void>;
  /** Store and quota lookups for APPEND. */
  mailboxExists(account: string, name: string): Promise<boolean>;
  quotaTakes(account: string, size: number): Promise<boolean>;
  /** A sink that spools the literal to a file under the data root. */
  spool(): LiteralDecision;
}

function commandName(line: string): string {
  const m = /^\S+ ((?:UID )?[A-Za-z]+)/i.exec(line);
  return (m?.[1] ?? '').toUpperCase();
}

/** APPEND's literals: the mailbox name may be literal 0 ("a APPEND {5}"); the message is the next one. */
function appendMessageIndex(info: LiteralInfo): number {
  return /^\S+ APPEND \{\d+\+?\}$/i.test(info.lines[0] ?? '') ? 1 : 0;
}

/** The bytes of the messages of this APPEND received before the literal announced now. */
function messagesBefore(info: LiteralInfo): number {
  return info.literals.slice(appendMessageIndex(info)).reduce((n, l) => n + (l.kind === 'buffer' ? l.data.length : l.size), 0);
}

function refuse(tag: string, text: string, tooBig = false): LiteralDecision {
  return { ok: false, response: `${tag} ${text}`, tooBig };
}

export function inMemory(lits: readonly Literal[]): number {
  let n = 0;
  for (const l of lits) if (l.kind === 'buffer') n += l.data.length;
  return n;
}

/** The decision for one announced literal (now when it needs no waiting, else a promise). */
export function decideLiteral(host: LiteralHost, info: LiteralInfo): LiteralDecision | Promise<LiteralDecision> {
  // A non-synchronizing literal is on its way: decided now, in the state we are in.
  if (info.nonSync) return checkNow(host, info, false);
  // A synchronizing literal: the client waits, so the state it will run in can be awaited.
  return host.whenIdle().then(() => {
    const again = checkNow(host, info, true);
    if (!again.ok) return again;
    const name = commandName(info.firstLine);
    return name === 'APPEND' && info.index >= appendMessageIndex(info) ? checkAppendTarget(host, info, again) : again;
  });
}

/** The checks that need no store: command, state (when `settled`: earlier commands have run), sizes, count, memory. */
function checkNow(host: LiteralHost, info: LiteralInfo, settled: boolean): LiteralDecision {
  const tag = tagOf(info.firstLine);
  const name = commandName(info.firstLine);
  const spec = COMMANDS.get(name);
  if (!spec) return refuse(tag, 'BAD Unknown command');
  if (settled && !spec.states.includes(host.state.name)) return refuse(tag, `BAD ${name} not allowed in this state`);
  const o = host.opts;
  // RFC 7888 §5: a larger non-synchronizing literal under LITERAL- is BAD [TOOBIG]; its
  // bytes are read and dropped (the framer closes the connection past its discard bound).
  if (info.nonSync && o.literalMinus && info.size > LITERAL_MINUS_MAX) return refuse(tag, `BAD [TOOBIG] Non-synchronizing literal over ${LITERAL_MINUS_MAX} octets (LITERAL-)`);
  if (host.state.name === 'notAuthenticated' && info.size > PREAUTH_LITERAL) return refuse(tag, 'BAD [TOOBIG] Literal too big', true);
  const memory = host.literalMemory();
  if (name === 'APPEND' && host.state.name !== 'notAuthenticated') {
    // Every literal from the first message on is a message (RFC 3502 §6); the framer bounds their number.
    if (info.index >= appendMessageIndex(info)) {
      if (info.size > o.appendLimit || messagesBefore(info) + info.size > MULTIAPPEND_FACTOR * o.appendLimit) {
        // RFC 7889 §4: NO [TOOBIG] before "+"; a LITERAL+ one is on its way: BAD, then we close (RFC 7888 §4).
        return info.nonSync ? refuse(tag, `BAD [TOOBIG] Message too big (APPENDLIMIT ${o.appendLimit})`, true) : refuse(tag, `NO [TOOBIG] Message too big (APPENDLIMIT ${o.appendLimit})`, true);
      }
      if (info.size > o.spoolThreshold || memory + info.size > LITERAL_MEMORY) return host.spool();
      return { ok: true };
    }
  }
  // RFC 5464 §4.3: a value over the limit is NO [METADATA MAXSIZE n], before "+".
  if (name === 'SETMETADATA' && info.size > METADATA_MAX_SIZE && !info.nonSync) return refuse(tag, `NO [METADATA MAXSIZE ${METADATA_MAX_SIZE}] Value too large`, true);
  if (info.size > o.maxLiteral || memory + info.size > LITERAL_MEMORY) return refuse(tag, 'BAD [TOOBIG] Literal too big', true);
  return { ok: true };
}

async function checkAppendTarget(host: LiteralHost, info: LiteralInfo, ok: LiteralDecision): Promise<LiteralDecision> {
  const s = host.state;
  if (s.name !== 'authenticated' && s.name !== 'selected') return ok;
  const tag = tagOf(info.firstLine);
  let name: string;
  try {
    const p = new Parser({ lines: [...info.lines], literals: [...info.literals] });
    p.utf8 = host.utf8;
    p.tag();
    p.sp();
    p.word();
    p.sp();
    name = p.mailbox();
  } catch {
    return refuse(tag, 'BAD Invalid mailbox name');
  }
  try {
    if (!(await host.mailboxExists(s.account, name))) return refuse(tag, 'NO [TRYCREATE] Mailbox does not exist'); // RFC 9051 §6.3.12
    if (!(await host.quotaTakes(s.account, messagesBefore(info) + info.size))) return refuse(tag, 'NO [OVERQUOTA] Quota exceeded'); // RFC 9208 §4.3
  } catch (err) {
    if (err instanceof StoreError) return ok; // let APPEND itself report it
    throw err;
  }
  return ok;
}

/** A literal spooled to a file under the data root (an APPEND message past the memory budget). */
export class FileSink implements LiteralSink {
  private fd: number;
  private size = 0;
  constructor(readonly file: string) {
    this.fd = fs.openSync(file, 'w', 0o600);
  }
  write(chunk: Buffer): void {
    fs.writeSync(this.fd, chunk);
    this.size += chunk.length;
  }
  end(): Literal {
    fs.closeSync(this.fd);
    return { kind: 'file', path: this.file, size: this.size };
  }
  abort(): void {
    try {
      fs.closeSync(this.fd);
    } catch {
      /* already closed */
    }
    fs.rm(this.file, { force: true }, () => undefined);
  }
}
