/**
 * Types of the MIME analysis cached in the store's index (as JSON) and used by FETCH
 * and SEARCH.
 *
 * Strings that come from message headers are "binary strings": one UTF-16 code unit per
 * byte of the header (latin1 mapping), so that 8-bit header bytes are reproduced on the
 * wire exactly as they were received (Dovecot sends them raw, inside literals), whatever
 * their charset. Use `headerText()` (search.ts) to turn one into readable Unicode.
 *
 * Offsets are physical byte offsets in the stored file; sizes (`headerSize`, `bodySize`)
 * are IMAP sizes, in which a bare LF counts as CRLF (RFC 3501 §2.1: lines end in CRLF;
 * Dovecot converts bare LFs the same way), so they equal the literal lengths of
 * BODY[...] answers.
 */

/** One address of an ENVELOPE (RFC 3501 §7.4.2); a group is bracketed by {mailbox: name, host: null} and an all-null entry. */
export interface Address {
  name: string | null;
  route: string | null;
  mailbox: string | null;
  host: string | null;
}

/**
 * Envelope fields as parsed from the header. `null` means the header is absent (or
 * unparsable for address fields); Sender and Reply-To default to From when written.
 * `date`, `inReplyTo`, `messageId` are the unfolded raw values; `subject` is raw too.
 */
export interface Envelope {
  date: string | null;
  subject: string | null;
  from: Address[] | null;
  sender: Address[] | null;
  replyTo: Address[] | null;
  to: Address[] | null;
  cc: Address[] | null;
  bcc: Address[] | null;
  inReplyTo: string | null;
  messageId: string | null;
}

/** A body part of the MIME tree, with the byte ranges section fetches seek to. */
export interface BodyPart {
  /** Content type as written ("text", "TEXT"); "text"/"plain" when there is no Content-Type. */
  type: string;
  subtype: string;
  /** Content-Type parameters after RFC 2231 merging, flat [key, value, key, value...]; null when none. */
  params: string[] | null;
  id: string | null;
  description: string | null;
  /** Content-Transfer-Encoding as written, null when absent ("7bit" on the wire). */
  encoding: string | null;
  md5: string | null;
  disposition: { type: string; params: string[] | null } | null;
  language: string[] | null;
  location: string | null;

  /** Physical offset of the first header byte of this part (the part's MIME header). */
  headerStart: number;
  /** Physical offset of the first body byte (= end of the header, blank line included). */
  bodyStart: number;
  /** Physical offset just past the last body byte. */
  bodyEnd: number;
  /** IMAP size of the header (bare LF counted as CRLF). */
  headerSize: number;
  /** IMAP size of the body (bare LF counted as CRLF); the size in BODYSTRUCTURE. */
  bodySize: number;
  /** Number of lines of the body (the count of line breaks). */
  lines: number;
  /** True when the header ended with an empty line. */
  hasBlankLine: boolean;
  /** Set when a later Content-Transfer-Encoding field differs: BINARY decodes with it (Dovecot). */
  binaryEncoding?: string;
  /** Set when the body of this leaf holds a NUL byte (BINARY then needs literal8). */
  hasNul?: true;

  /** Children of a multipart (at least one: Dovecot adds an empty text/plain to an empty multipart). */
  parts?: BodyPart[];
  /** The encapsulated message of a message/rfc822 part. */
  message?: { envelope: Envelope; body: BodyPart };
}

export interface MessageAnalysis {
  envelope: Envelope;
  bodyStructure: BodyPart;
}

/** Errors of section fetches, mapped by the IMAP engine (dispatch) to NO / BAD. */
export type MimeErrorKind = 'unknownCte' | 'badSection';

export class MimeError extends Error {
  constructor(
    readonly kind: MimeErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'MimeError';
  }
}
