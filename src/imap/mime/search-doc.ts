/**
 * The text the full-text index keeps of a message (issue 16 item 3): exactly what
 * SEARCH (./search.ts) looks at when it reads the file, decoded once and case-folded,
 * so that the index and the file agree on every answer (the contract suite and the
 * IMAP tests compare both):
 * - head: the message header, "name: value" per field, values unfolded, 8-bit bytes
 *   read as UTF-8 when valid, RFC 2047 encoded-words decoded (headerText);
 * - addrs: FROM/TO/CC/BCC/SUBJECT as the cached envelope gives them (what SEARCH FROM
 *   compares for a message whose envelope is cached);
 * - parts: the header blocks of MIME parts and encapsulated messages (TEXT);
 * - body: the bodies of text/* and message/* leaves, transfer encoding (base64,
 *   quoted-printable: soft line breaks joined) and charset undone. HTML is kept as it
 *   is, tags included, as the file path searches it (and Dovecot without FTS does).
 *   Attachments (other types) are not indexed: their file names are in `parts`.
 * Segments are joined by SEARCH_DOC_SEP so no match spans two, as in the file path.
 */
import { SEARCH_DOC_SEP, type SearchDoc } from '../../store/types.js';
import { analyzeBuffer } from './analyze.js';
import { Base64Core, QpCore, type SyncDecoder } from './decode.js';
import { parseHeaderBlock } from './header.js';
import { decodedHeaderText, headerText, paramOf, segments, textDecoder } from './search.js';
import type { Address, BodyPart, Envelope, MessageAnalysis } from './types.js';

/** Messages larger than this are not indexed (SEARCH reads them, as before). */
export const MAX_INDEXED_MESSAGE = 32 * 1024 * 1024;
/** Decoded text beyond this (characters) leaves the message unindexed. */
export const MAX_INDEXED_TEXT = 1024 * 1024;
/**
 * More distinct trigrams than this leave the message unindexed: the index's insert cost
 * grows with them (a 1 MB text/plain of random bytes, ~1 M of them, held SQLite ~10 s),
 * while a long text in one language has a few thousand.
 */
export const MAX_TRIGRAMS = 20_000;
/** As ./search.ts: a header block is searched in its first 4 MB. */
const MAX_HEADER = 4 * 1024 * 1024;

/** "Name <mailbox@host>" per address, as SEARCH FROM compares the cached envelope. */
export function addressText(list: Address[] | null): string[] {
  return (list ?? []).map((a) => [a.name ?? '', a.mailbox && a.host ? `<${a.mailbox}@${a.host}>` : (a.mailbox ?? '')].join(' ').trim());
}

function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ');
}

function envelopeLines(env: Envelope): string {
  const lines: string[] = [];
  if (env.subject !== null) lines.push('subject: ' + oneLine(headerText(env.subject)));
  const add = (name: string, list: Address[] | null): void => {
    for (const v of addressText(list)) lines.push(name + ': ' + oneLine(headerText(v)));
  };
  add('from', env.from);
  add('to', env.to);
  add('cc', env.cc);
  add('bcc', env.bcc);
  return lines.join('\n');
}

function headLines(block: Buffer): string {
  return parseHeaderBlock(block)
    .map((f) => headerText(f.name) + ': ' + oneLine(headerText(f.value)))
    .join('\n');
}

function bodyText(p: BodyPart, bytes: Buffer): string {
  const enc = (p.binaryEncoding ?? p.encoding ?? '7bit').toLowerCase();
  const cte: SyncDecoder | null = enc === 'base64' ? new Base64Core() : enc === 'quoted-printable' ? new QpCore() : null;
  const raw = cte ? Buffer.concat([cte.write(bytes), cte.end()]) : bytes;
  return textDecoder(paramOf(p, 'charset')).decode(raw);
}

/** The SearchDoc of a whole message in memory (and its analysis), or undefined when it is too large to index. */
export function searchDocument(buf: Buffer): (SearchDoc & { analysis: MessageAnalysis }) | undefined {
  if (buf.length > MAX_INDEXED_MESSAGE) return undefined;
  const analysis = analyzeBuffer(buf);
  const { envelope, bodyStructure: root } = analysis;
  const block = (s: number, e: number): Buffer => buf.subarray(s, Math.min(e, s + MAX_HEADER));
  let head = '';
  const parts: string[] = [];
  const body: string[] = [];
  let size = 0;
  for (const seg of segments(root, true)) {
    let t: string;
    if (seg.header && seg.part === root) t = head = headLines(block(seg.start, seg.end));
    else if (seg.header) parts.push((t = decodedHeaderText(block(seg.start, seg.end))));
    else body.push((t = bodyText(seg.part, buf.subarray(seg.start, seg.end))));
    size += t.length;
    if (size > MAX_INDEXED_TEXT) return undefined;
  }
  const doc = {
    head: head.toLowerCase(),
    addrs: envelopeLines(envelope).toLowerCase(),
    parts: parts.join(SEARCH_DOC_SEP).toLowerCase(),
    body: body.join(SEARCH_DOC_SEP).toLowerCase(),
    analysis,
  };
  return fewTrigrams([doc.head, doc.addrs, doc.parts, doc.body]) ? doc : undefined;
}
// The Maildir store runs it in a worker thread (src/store/maildir/fts-worker.ts) loaded from here.
searchDocument.module = { url: import.meta.url, name: 'searchDocument' };

/** Whether the texts hold at most MAX_TRIGRAMS distinct trigrams (of UTF-16 units: a bound, not the index's count). */
function fewTrigrams(texts: string[]): boolean {
  const seen = new Set<number>();
  for (const t of texts) {
    for (let i = 0; i + 2 < t.length; i++) {
      seen.add(t.charCodeAt(i) * 4294967296 + t.charCodeAt(i + 1) * 65536 + t.charCodeAt(i + 2));
      if (seen.size > MAX_TRIGRAMS) return false;
    }
  }
  return true;
}
