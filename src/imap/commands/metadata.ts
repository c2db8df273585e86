// METADATA (RFC 5464): GETMETADATA and SETMETADATA on server entries (mailbox "") and
// mailbox entries, /private and /shared (one user per mailbox here: both are the
// account's own).
// getmetadata = "GETMETADATA" [SP getmetadata-options] SP mailbox SP entries          (§4.2)
// getmetadata-option = "MAXSIZE" SP number / "DEPTH" SP ("0" / "1" / "infinity")
// entries = entry / "(" entry *(SP entry) ")"; entry = astring
// setmetadata = "SETMETADATA" SP mailbox SP "(" entry-value *(SP entry-value) ")"     (§4.3)
// entry-value = entry SP value; value = nstring / literal8
import type { MailboxId, MetadataEntry } from '../../store/types.js';
import { ImapBad, ImapNo } from '../errors.js';
import type { Parser } from '../wire/parser.js';
import { accountOf } from './helpers.js';
import { AUTH_OR_SELECTED, type CommandContext, type CommandSpec } from './types.js';

/** The largest value SETMETADATA takes ([METADATA MAXSIZE n], §4.3). */
export const METADATA_MAX_SIZE = 64 * 1024;
/** Entries per mailbox (and for the server) ([METADATA TOOMANY], §4.3). */
export const METADATA_MAX_ENTRIES = 100;

/**
 * entry (§3.2, §6): "/private" or "/shared", then "/"-separated names of printable
 * ASCII without "*" and "%"; no "//", no trailing "/". SETMETADATA needs a name below
 * the two roots.
 */
function checkEntry(e: string, forSet: boolean): string {
  // Segments of printable ASCII without "/": with "/" inside a segment the pattern could
  // split "/a/a/a…" 2^n ways and an entry ending in a byte outside the class took minutes
  // of backtracking on the event loop (found by the IMAP socket fuzzer).
  if (!/^\/(private|shared)(\/[\x21-\x2e\x30-\x7e]+)*$/i.test(e) || /[*%]/.test(e)) throw new ImapBad(`Invalid entry ${e.slice(0, 80)}`);
  if (forSet && /^\/(private|shared)$/i.test(e)) throw new ImapBad('An entry below /private or /shared is needed');
  return e.replace(/^\/(private|shared)/i, (m) => m.toLowerCase());
}

/** The mailbox argument: "" is the server (§4.2); else the mailbox's id (NO [NONEXISTENT] when absent). */
async function target(c: CommandContext, p: Parser): Promise<{ id: MailboxId | null; name: string }> {
  const raw = p.astring();
  if (raw === '') return { id: null, name: '' };
  const name = p.decodeMailbox(raw);
  const mb = await c.conn.ctx.store.getMailbox(accountOf(c), name);
  return { id: mb.id, name: mb.name };
}

/** DEPTH 0: the entry itself; 1: and its children; infinity: and every descendant (§4.2.2). */
function selected(all: readonly MetadataEntry[], asked: readonly string[], depth: number): MetadataEntry[] {
  return all.filter((x) =>
    asked.some((e) => {
      if (x.entry === e) return true;
      if (depth === 0 || !x.entry.startsWith(e + '/')) return false;
      return depth === Infinity || !x.entry.slice(e.length + 1).includes('/');
    }),
  );
}

function writeMetadata(c: CommandContext, name: string, entries: readonly MetadataEntry[]): Promise<void> {
  const enc = c.conn.encoder();
  enc.raw('* METADATA ').mailbox(name).raw(' (');
  entries.forEach((x, i) => {
    if (i > 0) enc.sp();
    enc.astring(x.entry).sp();
    const text = x.value.toString('utf8');
    // A value that is not text, or needs more than a quoted string, goes as a literal.
    if (Buffer.from(text, 'utf8').equals(x.value) && !text.includes('\0')) enc.string(text);
    else enc.literal(x.value, x.value.includes(0));
  });
  enc.raw(')').crlf();
  return c.conn.send(enc);
}

async function getMetadata(c: CommandContext, p: Parser): Promise<void> {
  p.sp();
  const o = { maxSize: Infinity, depth: 0 };
  if (p.peek() === '(') options(p, o);
  const mb = await target(c, p);
  p.sp();
  // The ABNF puts the options before the mailbox, the RFC's examples after it: both are taken (as Dovecot).
  if (/^\((MAXSIZE|DEPTH) /i.test(p.rest())) options(p, o);
  const asked: string[] = [];
  if (p.peek() === '(') p.parenList(() => asked.push(checkEntry(p.astring(), false)), false);
  else asked.push(checkEntry(p.astring(), false));
  p.end();
  const { maxSize, depth } = o;
  const found = selected(await c.conn.ctx.store.getMetadata(accountOf(c), mb.id), asked, depth);
  const fits = found.filter((x) => x.value.length <= maxSize);
  // §4.2.1: entries over MAXSIZE are left out, and the largest left out is told.
  const longest = found.reduce((n, x) => (x.value.length > maxSize ? Math.max(n, x.value.length) : n), 0);
  if (fits.length > 0) await writeMetadata(c, mb.name, fits);
  if (longest > 0) c.okCode = `METADATA LONGENTRIES ${longest}`;
}

/** getmetadata-options, then SP. */
function options(p: Parser, out: { maxSize: number; depth: number }): void {
  p.parenList(() => {
      const o = p.atom().toUpperCase();
      p.sp();
      if (o === 'MAXSIZE') out.maxSize = p.number();
      else if (o === 'DEPTH') {
        const d = p.atom().toLowerCase();
        if (d !== '0' && d !== '1' && d !== 'infinity') throw new ImapBad('DEPTH is 0, 1 or infinity');
        out.depth = d === 'infinity' ? Infinity : Number(d);
      } else throw new ImapBad(`Unknown GETMETADATA option ${o}`);
    }, false);
  p.sp();
}

function value(p: Parser): Buffer | null {
  if (p.tryTake('NIL')) return null;
  if (p.peek() === '"') return Buffer.from(p.string(), 'utf8');
  const l = p.messageLiteral();
  if (l.kind !== 'buffer') throw new ImapNo(`Value too large`, `METADATA MAXSIZE ${METADATA_MAX_SIZE}`);
  return l.data;
}

async function setMetadata(c: CommandContext, p: Parser): Promise<void> {
  p.sp();
  const mb = await target(c, p);
  p.sp();
  const changes = new Map<string, Buffer | null>();
  p.parenList(() => {
    const entry = checkEntry(p.astring(), true);
    p.sp();
    changes.set(entry, value(p));
  }, false);
  p.end();
  const account = accountOf(c);
  // §4.3: all or nothing; too large a value: NO [METADATA MAXSIZE n]; too many entries: NO [METADATA TOOMANY].
  for (const v of changes.values()) if (v && v.length > METADATA_MAX_SIZE) throw new ImapNo('Value too large', `METADATA MAXSIZE ${METADATA_MAX_SIZE}`);
  const now = new Set((await c.conn.ctx.store.getMetadata(account, mb.id)).map((x) => x.entry));
  for (const [e, v] of changes) {
    if (v === null) now.delete(e);
    else now.add(e);
  }
  if (now.size > METADATA_MAX_ENTRIES) throw new ImapNo('Too many entries', 'METADATA TOOMANY');
  await c.conn.ctx.store.setMetadata(account, mb.id, [...changes].map(([entry, v]) => ({ entry, value: v })));
}

export const getmetadata: CommandSpec = { name: 'GETMETADATA', states: AUTH_OR_SELECTED, handle: getMetadata };
export const setmetadata: CommandSpec = { name: 'SETMETADATA', states: AUTH_OR_SELECTED, handle: setMetadata };
