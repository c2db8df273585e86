// FETCH / UID FETCH — RFC 9051 §6.4.5, §6.4.9, §7.5.2; CHANGEDSINCE — RFC 7162 §3.1.4
// fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" / fetch-att /
//         "(" fetch-att *(SP fetch-att) ")") [fetch-modifiers]
// Body sections are written as literals streamed from the message file (never buffered
// whole). A non-PEEK body fetch sets \Seen and reports the new FLAGS (RFC 9051 §6.4.5).
import type { Readable } from 'node:stream';
import { StoreError, type MessageMeta, type Uid } from '../../../store/types.js';
import { ImapBad } from '../../errors.js';
import { binaryOf, binarySizeOf, bodyStructureOf, envelopeOf, messageBytes, sectionOf, type MessageBytes, type SectionContent } from '../../mime-adapter.js';
import { formatDateTime, type Chunk, type Encoder } from '../../wire/encoder.js';
import type { Parser } from '../../wire/parser.js';
import type { SelectedView } from '../../session.js';
import { accountOf, viewOf } from '../helpers.js';
import { SELECTED, type CommandContext, type CommandSpec } from '../types.js';
import { parseFetchItems, type FetchItem } from './items.js';

/** Items answered from the index alone (fetchMeta `fields: 'flags'`). */
const LIGHT = new Set<FetchItem['kind']>(['UID', 'FLAGS', 'MODSEQ', 'INTERNALDATE', 'RFC822.SIZE']);

async function runFetch(c: CommandContext, p: Parser, byUid: boolean): Promise<void> {
  p.sp();
  const set = p.sequenceSet();
  p.sp();
  const items = parseFetchItems(p);
  let changedSince: number | undefined;
  if (p.trySp()) {
    p.parenList(() => {
      const m = p.atom().toUpperCase();
      if (m !== 'CHANGEDSINCE') throw new ImapBad(`Unknown fetch modifier ${m}`);
      p.sp();
      changedSince = p.number(true);
    });
  }
  p.end();
  const conn = c.conn;
  const view = viewOf(c);
  const account = accountOf(c);
  if (!byUid && set.some(([a, b]) => (a !== Infinity && a > view.exists) || (b !== Infinity && b > view.exists))) {
    throw new ImapBad('Invalid message sequence number'); // RFC 9051 §6.4.5 / Dovecot
  }
  if (changedSince !== undefined || items.some((i) => i.kind === 'MODSEQ')) conn.condstore = true;
  const want = new Set(items.map((i) => i.kind));
  const uids = byUid ? view.uidsForUidSet(set) : view.uidsForSeqSet(set);
  if (uids.length === 0) return;
  const store = conn.ctx.store;
  // Only UID/FLAGS/MODSEQ/INTERNALDATE/RFC822.SIZE: the light form (no cached envelope or
  // body structure per message; 2.5 s of 3.5 s for all flags of 100 000 messages).
  if (items.every((i) => LIGHT.has(i.kind))) return fetchLight(c, uids, items, byUid, changedSince);
  // Asking for every message is cheaper without a UID list.
  const all = uids.length === view.exists;
  const metas = await store.fetchMeta(account, view.mailboxId, {
    ...(all ? {} : { uids }),
    ...(changedSince !== undefined ? { changedSince } : {}),
  });

  // \Seen is set by a non-PEEK body fetch (RFC 9051 §6.4.5), before the responses go out.
  const setsSeen = !view.readOnly && items.some((i) => (i.kind === 'section' && !i.peek) || i.kind === 'RFC822' || i.kind === 'RFC822.TEXT');
  const seenChanged = new Set<number>();
  if (setsSeen) {
    const unseen = metas.filter((m) => !m.flags.includes('\\Seen')).map((m) => m.uid);
    if (unseen.length > 0) {
      const res = await store.updateFlags(account, view.mailboxId, unseen, 'add', ['\\Seen']);
      const byUidMap = new Map(res.changed.map((x) => [x.uid, x]));
      for (const m of metas) {
        const ch = byUidMap.get(m.uid);
        if (ch) {
          view.noteOwnChange(ch.uid, ch.modseq);
          m.flags = ch.flags;
          m.modseq = ch.modseq;
          seenChanged.add(m.uid);
        }
      }
    }
  }

  let enc = conn.encoder();
  let pendingMsgs = 0;
  const heavy = items.some((i) => i.kind === 'section' || i.kind === 'RFC822' || i.kind === 'RFC822.TEXT' || i.kind === 'RFC822.HEADER' || i.kind === 'binarySize');
  const showsFlags = want.has('FLAGS') || setsSeen;
  const writeMessage = async (e: Encoder, meta: MessageMeta, seq: number): Promise<void> => {
    if (showsFlags) view.announce(e, meta.flags); // FLAGS before a new keyword (RFC 3501 §7.2.6)
    e.raw(`* ${seq} FETCH (`);
    let first = true;
    // RFC 9051 §6.4.9: UID FETCH always includes UID.
    if (byUid && !want.has('UID')) {
      e.raw(`UID ${meta.uid}`);
      first = false;
    }
    for (const it of items) {
      if (!first) e.sp();
      first = false;
      const cheap = cheapItem(it, meta, view);
      if (cheap !== undefined) e.raw(cheap);
      else await writeItem(e, it, meta, messageBytes(store, account, view.mailboxId, meta.uid));
    }
    if (seenChanged.has(meta.uid) && !want.has('FLAGS')) e.raw(` FLAGS ${view.flagList(meta.uid, meta.flags)}`);
    if (changedSince !== undefined && !want.has('MODSEQ')) e.raw(` MODSEQ (${meta.modseq})`); // RFC 7162 §3.1.4.1
    e.raw(')\r\n');
  };
  // Items that may read the message: each message gets its own encoder, so one expunged
  // meanwhile is skipped whole (RFC 9051 §7.5.1 allows omitting it).
  const mayRead = heavy || items.some((i) => i.kind === 'ENVELOPE' || i.kind === 'BODY' || i.kind === 'BODYSTRUCTURE');
  let batch: Chunk[] = [];
  for (const meta of metas) {
    const seq = view.seqOf(meta.uid);
    if (seq === 0) continue;
    const out = mayRead ? conn.encoder() : enc;
    try {
      await writeMessage(out, meta, seq);
    } catch (err) {
      if (mayRead && err instanceof StoreError && err.kind === 'nonexistent') continue;
      throw err;
    }
    if (heavy) {
      await conn.send(out);
      continue;
    }
    if (mayRead) batch.push(...out.done());
    pendingMsgs++;
    if (pendingMsgs >= (mayRead ? 100 : 1024)) {
      if (mayRead) await conn.write(batch);
      else await conn.send(enc);
      batch = [];
      enc = conn.encoder();
      pendingMsgs = 0;
    }
  }
  if (batch.length > 0) await conn.write(batch);
  if (pendingMsgs > 0 && !mayRead) await conn.send(enc);
}

/** Messages per store call of a light FETCH: memory stays flat on 100 000 messages. */
const LIGHT_PAGE = 2000;

/**
 * FETCH of index data only, a page of LIGHT_PAGE messages at a time from the store (no
 * object per message of the whole set at once), written without an await per message.
 */
async function fetchLight(c: CommandContext, uids: readonly Uid[], items: FetchItem[], byUid: boolean, changedSince: number | undefined): Promise<void> {
  const conn = c.conn;
  const view = viewOf(c);
  const want = new Set(items.map((i) => i.kind));
  for (let i = 0; i < uids.length; i += LIGHT_PAGE) {
    const metas = await conn.ctx.store.fetchMeta(accountOf(c), view.mailboxId, {
      uids: uids.slice(i, i + LIGHT_PAGE),
      fields: 'flags',
      rfc822Size: want.has('RFC822.SIZE'),
      ...(changedSince !== undefined ? { changedSince } : {}),
    });
    const enc = conn.encoder();
    for (const meta of metas) {
      const seq = view.seqOf(meta.uid);
      if (seq === 0) continue;
      if (want.has('FLAGS')) view.announce(enc, meta.flags); // RFC 3501 §7.2.6
      enc.raw(`* ${seq} FETCH (`);
      let first = true;
      if (byUid && !want.has('UID')) {
        enc.raw(`UID ${meta.uid}`); // RFC 9051 §6.4.9
        first = false;
      }
      for (const it of items) {
        if (!first) enc.sp();
        first = false;
        enc.raw(cheapItem(it, meta, view)!);
      }
      if (changedSince !== undefined && !want.has('MODSEQ')) enc.raw(` MODSEQ (${meta.modseq})`); // RFC 7162 §3.1.4.1
      enc.raw(')\r\n');
    }
    await conn.send(enc);
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
    default:
      return undefined;
  }
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
