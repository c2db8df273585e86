// FETCH / UID FETCH — RFC 9051 §6.4.5, §6.4.9, §7.5.2; CHANGEDSINCE — RFC 7162 §3.1.4;
// VANISHED — RFC 7162 §3.2.6
// fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" / fetch-att /
//         "(" fetch-att *(SP fetch-att) ")") [fetch-modifiers]
// Body sections are written as literals streamed from the message file (never buffered
// whole). A non-PEEK body fetch sets \Seen and reports the new FLAGS (RFC 9051 §6.4.5).
import type { Readable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { StoreError, type MessageMeta, type Uid } from '../../../store/types.js';
import { ImapBad } from '../../errors.js';
import { binaryOf, binarySizeOf, bodyStructureOf, envelopeOf, messageBytes, sectionOf, type MessageBytes, type SectionContent } from '../../mime-adapter.js';
import { formatDateTime, type Chunk, type Encoder } from '../../wire/encoder.js';
import type { Parser, SeqSet } from '../../wire/parser.js';
import { computePreview } from '../../preview.js';
import { rangesOf, vanishedText, writeVanishedEarlier } from '../../qresync.js';
import type { SelectedView } from '../../session.js';
import { accountOf, viewOf } from '../helpers.js';
import { SELECTED, type CommandContext, type CommandSpec } from '../types.js';
import { parseFetchItems, type FetchItem } from './items.js';

/** Items answered from the index alone (fetchMeta `fields: 'flags'`). */
const LIGHT = new Set<FetchItem['kind']>(['UID', 'FLAGS', 'MODSEQ', 'INTERNALDATE', 'RFC822.SIZE']);

/** A parsed FETCH / UID FETCH. */
interface FetchRequest {
  byUid: boolean;
  set: SeqSet;
  items: FetchItem[];
  want: Set<FetchItem['kind']>;
  /** CHANGEDSINCE (RFC 7162 §3.1.4). */
  changedSince?: number;
  /** The VANISHED modifier (RFC 7162 §3.2.6). */
  vanished: boolean;
}

/** What one FETCH writes per message, decided once for the command. */
interface FetchPlan extends FetchRequest {
  view: SelectedView;
  /** UIDs whose \Seen this FETCH set (their FLAGS are reported). */
  seenChanged: Set<number>;
  showsFlags: boolean;
}

// fetch-modifiers = SP "(" fetch-modifier *(SP fetch-modifier) ")"
// fetch-modifier = "CHANGEDSINCE" SP mod-sequence-value / "VANISHED"   (RFC 7162 §3.1.4, §3.2.6)
function parseFetch(c: CommandContext, p: Parser, byUid: boolean): FetchRequest {
  p.sp();
  const set = p.sequenceSet();
  p.sp();
  const items = parseFetchItems(p);
  const req: FetchRequest = { byUid, set, items, want: new Set(items.map((i) => i.kind)), vanished: false };
  if (p.trySp()) {
    p.parenList(() => {
      const m = p.atom().toUpperCase();
      if (m === 'VANISHED') {
        req.vanished = true;
        return;
      }
      if (m !== 'CHANGEDSINCE') throw new ImapBad(`Unknown fetch modifier ${m}`);
      p.sp();
      req.changedSince = p.number(true);
    });
  }
  p.end();
  // RFC 7162 §3.2.6: VANISHED only in UID FETCH, with CHANGEDSINCE, once QRESYNC is enabled.
  if (req.vanished && (!byUid || req.changedSince === undefined || !c.conn.qresync)) throw new ImapBad('VANISHED needs UID FETCH, CHANGEDSINCE and ENABLE QRESYNC');
  return req;
}

async function runFetch(c: CommandContext, p: Parser, byUid: boolean): Promise<void> {
  const req = parseFetch(c, p, byUid);
  const conn = c.conn;
  const view = viewOf(c);
  const account = accountOf(c);
  if (!byUid && req.set.some(([a, b]) => (a !== Infinity && a > view.exists) || (b !== Infinity && b > view.exists))) {
    throw new ImapBad('Invalid message sequence number'); // RFC 9051 §6.4.5 / Dovecot
  }
  if (req.changedSince !== undefined || req.want.has('MODSEQ')) conn.condstore = true;
  if (req.vanished) {
    // RFC 7162 §3.2.6: the UIDs of the set expunged since CHANGEDSINCE, before the FETCHes.
    const enc = conn.encoder();
    writeVanishedEarlier(enc, await vanishedText(conn.ctx.store, account, view, req.changedSince!, rangesOf(req.set, view.uidNext - 1)));
    await conn.send(enc);
  }
  const uids = byUid ? view.uidsForUidSet(req.set) : view.uidsForSeqSet(req.set);
  if (uids.length === 0) return;
  // Only UID/FLAGS/MODSEQ/INTERNALDATE/RFC822.SIZE: the light form (no cached envelope or
  // body structure per message; 2.5 s of 3.5 s for all flags of 100 000 messages).
  if (req.items.every((i) => LIGHT.has(i.kind))) return fetchLight(c, req, view, uids);
  const metas = await conn.ctx.store.fetchMeta(account, view.mailboxId, {
    ...(uids.length === view.exists ? {} : { uids }), // asking for every message is cheaper without a UID list
    ...(req.changedSince !== undefined ? { changedSince: req.changedSince } : {}),
  });
  const seenChanged = await markSeen(c, view, req.items, metas);
  const plan: FetchPlan = { ...req, view, seenChanged, showsFlags: req.want.has('FLAGS') || seenChanged.size > 0 || setsSeen(view, req.items) };
  await writeFull(c, plan, metas);
}

function setsSeen(view: SelectedView, items: FetchItem[]): boolean {
  return !view.readOnly && items.some((i) => (i.kind === 'section' && !i.peek) || i.kind === 'RFC822' || i.kind === 'RFC822.TEXT');
}

/** \Seen is set by a non-PEEK body fetch (RFC 9051 §6.4.5), before the responses go out. */
async function markSeen(c: CommandContext, view: SelectedView, items: FetchItem[], metas: MessageMeta[]): Promise<Set<number>> {
  const seenChanged = new Set<number>();
  if (!setsSeen(view, items)) return seenChanged;
  const unseen = metas.filter((m) => !m.flags.includes('\\Seen')).map((m) => m.uid);
  if (unseen.length === 0) return seenChanged;
  const res = await c.conn.ctx.store.updateFlags(accountOf(c), view.mailboxId, unseen, 'add', ['\\Seen']);
  const byUidMap = new Map(res.changed.map((x) => [x.uid, x]));
  for (const m of metas) {
    const ch = byUidMap.get(m.uid);
    if (!ch) continue;
    view.noteOwnChange(ch.uid, ch.modseq);
    m.flags = ch.flags;
    m.modseq = ch.modseq;
    seenChanged.add(m.uid);
  }
  return seenChanged;
}

/** "* n FETCH (" and the UID that UID FETCH always includes (RFC 9051 §6.4.9); returns whether an item was written. */
function openResponse(e: Encoder, f: FetchPlan, meta: MessageMeta, seq: number): boolean {
  if (f.showsFlags) f.view.announce(e, meta.flags); // FLAGS before a new keyword (RFC 3501 §7.2.6)
  e.raw(`* ${seq} FETCH (`);
  if (!f.byUid || f.want.has('UID')) return false;
  e.raw(`UID ${meta.uid}`);
  return true;
}

/** FLAGS set by this FETCH and the MODSEQ of CHANGEDSINCE when not asked for, then ")". */
function closeResponse(e: Encoder, f: FetchPlan, meta: MessageMeta): void {
  if (f.seenChanged.has(meta.uid) && !f.want.has('FLAGS')) e.raw(` FLAGS ${f.view.flagList(meta.uid, meta.flags)}`);
  if (f.changedSince !== undefined && !f.want.has('MODSEQ')) e.raw(` MODSEQ (${meta.modseq})`); // RFC 7162 §3.1.4.1
  e.raw(')\r\n');
}

/** Index data only: no await per message (100 000 messages in one FETCH 1:*), sent 1 024 at a time. */
async function writeLight(c: CommandContext, f: FetchPlan, metas: MessageMeta[]): Promise<void> {
  let enc = c.conn.encoder();
  let pending = 0;
  // The store shares one frozen flags array between messages with the same flags: their
  // FLAGS text is built once per array, not joined per message.
  const flagsText = new Map<readonly string[], string>();
  for (const meta of metas) {
    const seq = f.view.seqOf(meta.uid);
    if (seq === 0) continue;
    let first = !openResponse(enc, f, meta, seq);
    for (const it of f.items) {
      if (!first) enc.sp();
      first = false;
      enc.raw(it.kind === 'FLAGS' && !(f.view.showsRecent && f.view.isRecent(meta.uid)) ? sharedFlagsText(flagsText, meta.flags) : cheapItem(it, meta, f.view)!);
    }
    closeResponse(enc, f, meta);
    if (++pending >= 1024) {
      await c.conn.send(enc);
      enc = c.conn.encoder();
      pending = 0;
    }
  }
  if (pending > 0) await c.conn.send(enc);
}

function sharedFlagsText(cache: Map<readonly string[], string>, flags: readonly string[]): string {
  let s = cache.get(flags);
  if (s === undefined) {
    s = `FLAGS (${flags.join(' ')})`;
    if (Object.isFrozen(flags)) cache.set(flags, s);
  }
  return s;
}

async function writeMessage(c: CommandContext, e: Encoder, f: FetchPlan, meta: MessageMeta, seq: number): Promise<void> {
  const store = c.conn.ctx.store;
  let first = !openResponse(e, f, meta, seq);
  for (const it of f.items) {
    if (!first) e.sp();
    first = false;
    const cheap = cheapItem(it, meta, f.view);
    if (cheap !== undefined) e.raw(cheap);
    else if (it.kind === 'preview') await writePreview(c, e, it.lazy, meta);
    else await writeItem(e, it, meta, messageBytes(store, accountOf(c), f.view.mailboxId, meta.uid));
  }
  closeResponse(e, f, meta);
}

/**
 * Items that may read the message: each message gets its own encoder, so one expunged
 * meanwhile is skipped whole (RFC 9051 §7.5.1 allows omitting it); bodies are sent one
 * message at a time, envelopes and structures 100 at a time.
 */
async function writeFull(c: CommandContext, f: FetchPlan, metas: MessageMeta[]): Promise<void> {
  const conn = c.conn;
  const heavy = f.items.some((i) => i.kind === 'section' || i.kind === 'RFC822' || i.kind === 'RFC822.TEXT' || i.kind === 'RFC822.HEADER' || i.kind === 'binarySize');
  const mayRead = heavy || f.items.some((i) => i.kind === 'ENVELOPE' || i.kind === 'BODY' || i.kind === 'BODYSTRUCTURE' || i.kind === 'preview');
  let enc = conn.encoder();
  let batch: Chunk[] = [];
  let pending = 0;
  for (const meta of metas) {
    const seq = f.view.seqOf(meta.uid);
    if (seq === 0) continue;
    const out = mayRead ? conn.encoder() : enc;
    try {
      await writeMessage(c, out, f, meta, seq);
    } catch (err) {
      if (mayRead && err instanceof StoreError && err.kind === 'nonexistent') continue;
      throw err;
    }
    if (heavy) {
      await conn.send(out);
      continue;
    }
    if (mayRead) batch.push(...out.done());
    if (++pending >= (mayRead ? 100 : 1024)) {
      if (mayRead) await conn.write(batch);
      else await conn.send(enc);
      batch = [];
      enc = conn.encoder();
      pending = 0;
    }
  }
  if (batch.length > 0) await conn.write(batch);
  if (pending > 0 && !mayRead) await conn.send(enc);
}

/**
 * Messages per store call of a light FETCH: memory stays flat on 100 000 messages. With
 * 2 000, a page's rows and metadata were alive at each young-generation collection and
 * V8 doubled its young generation (16 to 32 MB of RSS, kept) during the first FETCH 1:*
 * of bench/imap-large; with 500 it stayed at 16 MB through the whole bench.
 */
const LIGHT_PAGE = 500;

/**
 * FETCH of index data only, a page of LIGHT_PAGE messages at a time from the store (no
 * object per message of the whole set at once), with a turn of the event loop between
 * pages: the socket takes the responses at once on a fast link, so FETCH 1:* (FLAGS) of
 * 100 000 messages held every other session 144 ms. Light items never set \Seen.
 */
async function fetchLight(c: CommandContext, req: FetchRequest, view: SelectedView, uids: readonly Uid[]): Promise<void> {
  const plan: FetchPlan = { ...req, view, seenChanged: new Set(), showsFlags: req.want.has('FLAGS') };
  for (let i = 0; i < uids.length; i += LIGHT_PAGE) {
    const metas = await c.conn.ctx.store.fetchMeta(accountOf(c), view.mailboxId, {
      uids: uids.slice(i, i + LIGHT_PAGE),
      fields: 'flags',
      rfc822Size: req.want.has('RFC822.SIZE'),
      internalDate: req.want.has('INTERNALDATE'),
      ...(req.changedSince !== undefined ? { changedSince: req.changedSince } : {}),
    });
    await writeLight(c, plan, metas);
    if (i + LIGHT_PAGE < uids.length) await nextTurn();
  }
}

/**
 * RFC822.SIZE counts line ends as CRLF (RFC 9051 §2.3.4): the analysed sizes do, the
 * file size does not when a file was dropped in with bare LFs.
 */
function rfc822Size(meta: MessageMeta): number {
  if (meta.rfc822Size !== undefined) return meta.rfc822Size;
  const bs = meta.bodyStructure as { headerSize?: number; bodySize?: number } | undefined;
  return bs && typeof bs.headerSize === 'number' && typeof bs.bodySize === 'number' ? bs.headerSize + bs.bodySize : meta.size;
}

/** The items that need no message data, without an await per message. */
function cheapItem(it: FetchItem, meta: MessageMeta, view: SelectedView): string | undefined {
  switch (it.kind) {
    case 'UID':
      return `UID ${meta.uid}`;
    case 'FLAGS':
      return `FLAGS ${view.flagList(meta.uid, meta.flags)}`; // \Recent for IMAP4rev1 (RFC 3501 §2.3.2)
    case 'RFC822.SIZE':
      return `RFC822.SIZE ${rfc822Size(meta)}`;
    case 'MODSEQ':
      return `MODSEQ (${meta.modseq})`;
    case 'INTERNALDATE':
      return `INTERNALDATE "${formatDateTime(meta.internalDate)}"`;
    case 'EMAILID': // RFC 8474 §5.1
      return meta.emailId ? `EMAILID (${meta.emailId})` : 'EMAILID NIL';
    case 'THREADID': // RFC 8474 §5.2: NIL, no per-message threads (objectid.ts)
      return 'THREADID NIL';
    case 'SAVEDATE': // RFC 8514 §3: NIL when the store does not know it
      return meta.saveDate ? `SAVEDATE "${formatDateTime(meta.saveDate)}"` : 'SAVEDATE NIL';
    default:
      return undefined;
  }
}

/** PREVIEW (RFC 8970 §3): the cached text; else NIL for LAZY (§3.2), or computed now and cached. */
async function writePreview(c: CommandContext, e: Encoder, lazy: boolean, meta: MessageMeta): Promise<void> {
  let text = meta.preview;
  if (text === undefined && !lazy) {
    const store = c.conn.ctx.store;
    const view = viewOf(c);
    text = await computePreview(meta, messageBytes(store, accountOf(c), view.mailboxId, meta.uid));
    await store.cachePreview(accountOf(c), view.mailboxId, meta.uid, text);
  }
  e.raw('PREVIEW ').nstring(text);
}

async function writeItem(e: Encoder, it: FetchItem, meta: MessageMeta, open: MessageBytes): Promise<void> {
  switch (it.kind) {
    case 'UID':
      e.raw(`UID ${meta.uid}`);
      return;
    case 'FLAGS':
      e.raw(`FLAGS (${meta.flags.join(' ')})`);
      return;
    case 'INTERNALDATE':
      e.raw('INTERNALDATE ').quoted(formatDateTime(meta.internalDate));
      return;
    case 'RFC822.SIZE':
      e.raw(`RFC822.SIZE ${meta.size}`);
      return;
    case 'MODSEQ':
      e.raw(`MODSEQ (${meta.modseq})`);
      return;
    case 'ENVELOPE':
      e.raw('ENVELOPE ').rawBuffer(await envelopeOf(meta, open));
      return;
    case 'BODY':
    case 'BODYSTRUCTURE':
      e.raw(it.kind + ' ').rawBuffer(await bodyStructureOf(meta, open, it.kind === 'BODYSTRUCTURE'));
      return;
    case 'RFC822':
    case 'RFC822.HEADER':
    case 'RFC822.TEXT': {
      // RFC 3501 §6.4.5: RFC822 ≡ BODY[], .HEADER ≡ BODY.PEEK[HEADER], .TEXT ≡ BODY[TEXT]
      const spec = it.kind === 'RFC822' ? { part: [] } : { part: [], text: it.kind === 'RFC822.HEADER' ? ('HEADER' as const) : ('TEXT' as const) };
      e.raw(it.kind + ' ');
      writeData(e, await sectionOf(meta, open, spec), false);
      return;
    }
    case 'binarySize':
      e.raw(`BINARY.SIZE[${it.label}] ${await binarySizeOf(meta, open, it.section.part)}`);
      return;
    case 'section': {
      const d = it.binary ? await binaryOf(meta, open, it.section.part, it.partial) : await sectionOf(meta, open, it.section, it.partial);
      // "BODY[1.2]<0> {n}" — only the partial origin is echoed (RFC 9051 §7.5.2)
      e.raw(`${it.binary ? 'BINARY' : 'BODY'}[${it.label}]${it.partial ? `<${it.partial.origin}>` : ''} `);
      writeData(e, d, d.literal8); // literal8 "~{n}" when decoded content was asked for (RFC 3516 §4.2)
      return;
    }
  }
}

/** A section as a literal: small ones from memory, large ones streamed from the file. */
function writeData(e: Encoder, d: SectionContent, literal8: boolean): void {
  const content = d.content;
  if (Buffer.isBuffer(content)) {
    e.literal(content, literal8);
    return;
  }
  const stream = content as Readable;
  e.literalStream(d.length, async () => stream, literal8);
}

export const fetch: CommandSpec = { name: 'FETCH', states: SELECTED, usesSeqs: true, handle: (c, p) => runFetch(c, p, false) };
export const uidFetch: CommandSpec = { name: 'UID FETCH', states: SELECTED, handle: (c, p) => runFetch(c, p, true) };
