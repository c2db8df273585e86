/**
 * The one seam between the protocol engine and MIME analysis (src/imap/mime/). FETCH
 * and SEARCH call only these functions, which are mime/message.ts's: the analysis
 * (envelope + body structure with part offsets) cached by the store at delivery, or
 * computed on demand for messages stored without it. ENVELOPE and BODYSTRUCTURE come
 * back as wire bytes (Dovecot's forms), sections as SectionContent (exact length, then
 * a buffer or a stream of only the section's bytes).
 */
import { supportsRangeRead, type MailboxId, type MailStore, type MessageMeta, type Uid } from '../store/types.js';
import * as mime from './mime/index.js';
import type { MessageBytes, OpenMessage } from './mime/index.js';

export { analysisOf } from './mime/message.js'; // the cached analysis, or computed now (PREVIEW's part lookup)
export {
  binaryOf, // BINARY[part]<partial> (RFC 3516, RFC 9051 §6.4.5); MimeError('unknownCte') when undecodable
  binarySizeOf, // BINARY.SIZE[part] (RFC 3516 §4.2)
  bodyStructureOf, // BODY / BODYSTRUCTURE (RFC 9051 §7.5.2) as wire bytes
  contentToBuffer, // a SectionContent's bytes in one buffer (CATENATE's URL parts)
  envelopeOf, // ENVELOPE (RFC 9051 §7.5.2) as wire bytes
  headerText, // a raw header value (RFC 2047 words, 8-bit bytes) as readable text
  matchHeader, // SEARCH HEADER name value (RFC 9051 §6.4.4), reading the header block
  matchText, // SEARCH BODY / TEXT: case-insensitive substring of the decoded text (RFC 9051 §6.4.4)
  matchTexts, // the same for several needles in one pass over the message
  headerBlockOf, // the message's header block (several HEADER keys, one read)
  searchHeader, // HEADER name needle over a header block already read
  parseSection, // a section from text (CATENATE's ;SECTION= in an IMAP URL, RFC 5092 §6)
  readSection, // the section grammar of BODY[...] / BINARY[...] (RFC 9051 §9)
  sectionOf, // BODY[section]<partial> (RFC 9051 §6.4.5)
  sectionExists, // whether a section names a part the message has (CATENATE URLs)
  sectionToString, // the section as echoed in the FETCH response
  type MessageBytes,
  type OpenMessage,
  type PartialRange,
  type SectionContent,
  type SectionSpec,
} from './mime/index.js';

/**
 * A stored message's bytes for the functions above: the whole-file opener, and, when
 * the store supports it, positioned reads of a byte range, so a section fetch reads
 * only that section (a small last part of a 25 MB message: a few KB, not 25 MB).
 */
export function messageBytes(store: MailStore, account: string, mailboxId: MailboxId, uid: Uid): MessageBytes {
  const open: OpenMessage = () => store.readMessage(account, mailboxId, uid);
  if (!supportsRangeRead(store)) return open;
  return { open, read: (start, end) => store.readMessageRange(account, mailboxId, uid, { start, end }) };
}

/** The calendar day of the Date header (SENTBEFORE/SENTON/SENTSINCE), undefined when absent. */
export async function sentDayOf(meta: MessageMeta, src: MessageBytes): Promise<Date | undefined> {
  return (await mime.sentDateOf(meta, src))?.day;
}
