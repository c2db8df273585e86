/**
 * Vacation replies done right (RFC 5230 §4, §5; RFC 3834): when a reply may go out,
 * and the reply itself.
 *
 * No reply (`vacationRefusal` says why), checked before the per-sender record so a
 * refused message never uses up the sender's reply:
 * - the null envelope sender (a bounce), and senders that are programs: MAILER-DAEMON,
 *   LISTSERV, majordomo, owner-*, *-request, *-bounces, noreply (RFC 5230 §4.6);
 * - Auto-Submitted with any value but "no" (RFC 3834 §5), which covers our own replies
 *   and every well-behaved autoresponder;
 * - mailing lists and bulk mail: any List-* field (RFC 2369, RFC 2919), Precedence
 *   bulk, list or junk; mail the spam checks filed as junk;
 * - the recipient not named in To, Cc, Bcc or the Resent- fields by one of its own
 *   addresses or an :addresses entry (RFC 5230 §4.5): Bcc'd and list copies;
 * - a sender that is the recipient itself (RFC 5230 §4.5).
 * Then at most one reply per sender and handle per :days (src/sieve/store.ts).
 *
 * The reply (RFC 5230 §5): From the recipient (or :from), To the envelope sender,
 * Subject from :subject or "Auto: " + the original's, In-Reply-To and References
 * (§5.8), `Auto-Submitted: auto-replied` (RFC 3834 §5), the reason as text/plain or,
 * with :mime, as the MIME entity the script wrote. It is sent with the null envelope
 * sender (RFC 3834 §3.3), so it can never cause a bounce loop.
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type Libmime from 'libmime';
import { rfc5322Date } from '../smtp/trace.js';
import type { SieveMessage } from './message.js';
import type { VacationAction } from './result.js';

const libmime = (): typeof Libmime => createRequire(import.meta.url)('libmime') as typeof Libmime;

/** RFC 5230 §4.6: senders that are programs, never people. */
const PROGRAM_SENDER = /^(mailer-daemon|listserv|majordomo|owner-.*|.*-request|.*-bounces?|.*-owner|no-?reply|postmaster)$/i;

export interface VacationCheck {
  message: SieveMessage;
  envelopeFrom: string;
  /** The recipient's own addresses (the account, its aliases) plus the script's :addresses. */
  myAddresses: string[];
  /** The policy filed the message as junk. */
  junk: boolean;
}

/** Why no reply may go out, or undefined when one may. */
export function vacationRefusal(c: VacationCheck): string | undefined {
  const from = c.envelopeFrom.toLowerCase();
  if (from === '') return 'null sender';
  if (PROGRAM_SENDER.test(from.slice(0, from.lastIndexOf('@')))) return 'sender is a program';
  const m = c.message;
  const auto = m.headerValues('auto-submitted');
  if (auto.some((v) => v.split(';')[0]!.trim().toLowerCase() !== 'no')) return 'Auto-Submitted';
  if (m.fields().some((f) => /^list-/i.test(f.name))) return 'mailing list';
  if (m.headerValues('precedence').some((v) => /^(bulk|list|junk)$/i.test(v.trim()))) return 'Precedence';
  if (c.junk) return 'junk';
  const mine = new Set(c.myAddresses.map((a) => a.toLowerCase()));
  if (mine.has(from)) return 'sender is the recipient';
  const named = ['to', 'cc', 'bcc', 'resent-to', 'resent-cc', 'resent-bcc'].some((h) =>
    m.addressesPerField(h).flat().some((a) => a.local !== null && a.domain !== null && mine.has(`${a.local}@${a.domain}`.toLowerCase())),
  );
  if (!named) return 'recipient not in To/Cc';
  return undefined;
}

/** A header field value: RFC 2047 encoded when it is not ASCII. */
function headerText(s: string): string {
  const flat = s.replace(/[\r\n]+/g, ' ');
  return /^[\x20-\x7e]*$/.test(flat) ? flat : libmime().encodeWords(flat, 'Q', 52);
}

export interface ReplyInput {
  action: VacationAction;
  original: SieveMessage;
  /** The recipient's address: the reply's From unless :from. */
  recipient: string;
  /** The envelope sender of the original: the reply's To. */
  to: string;
  /** For the Message-ID. */
  domain: string;
  now?: Date;
}

/** The reply message (CRLF line ends), ready to sign and send. */
export function buildVacationReply(r: ReplyInput): Buffer {
  const v = r.action;
  const origSubject = r.original.headerValues('subject')[0] ?? '';
  const subject = v.subject ?? `Auto: ${origSubject}`.trim();
  const msgId = r.original.rawValues('message-id')[0]?.trim();
  const refs = (r.original.rawValues('references')[0] ?? r.original.rawValues('in-reply-to')[0] ?? '').replace(/\s+/g, ' ').trim();
  const lines = [
    `From: ${v.from ? v.from.replace(/[\r\n]+/g, ' ') : `<${r.recipient}>`}`,
    `To: <${r.to}>`,
    `Subject: ${headerText(subject)}`,
    `Date: ${rfc5322Date(r.now)}`,
    `Message-ID: <vacation.${Date.now().toString(36)}.${randomBytes(6).toString('hex')}@${r.domain}>`,
  ];
  // RFC 5230 §5.8 / RFC 5322 §3.6.4: threading.
  if (msgId) lines.push(`In-Reply-To: ${msgId}`, `References: ${refs ? `${refs} ${msgId}` : msgId}`);
  lines.push('Auto-Submitted: auto-replied (vacation)', 'Precedence: bulk', 'MIME-Version: 1.0');
  let body: string;
  if (v.mime) {
    // The reason is a MIME entity: its header fields join ours (RFC 5230 §4.8).
    body = v.reason.replace(/\r?\n/g, '\r\n');
    return Buffer.from(`${lines.join('\r\n')}\r\n${body}`);
  }
  const text = v.reason.replace(/\r?\n/g, '\r\n');
  if (/^[\x00-\x7f]*$/.test(text) && text.split('\r\n').every((l) => l.length <= 998)) {
    lines.push('Content-Type: text/plain; charset=us-ascii', 'Content-Transfer-Encoding: 7bit');
    body = text;
  } else {
    lines.push('Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: base64');
    body = (Buffer.from(text).toString('base64').match(/.{1,76}/g) ?? []).join('\r\n');
  }
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}${body.endsWith('\r\n') ? '' : '\r\n'}`);
}
