/**
 * Delivery Status Notifications (RFC 3464) for recipients that failed for good or whose
 * message expired in the queue: a `multipart/report; report-type=delivery-status`
 * (RFC 6522) with a human-readable part, the machine-readable `message/delivery-status`
 * part (per-message and per-recipient fields, with the remote's reply as
 * `Diagnostic-Code: smtp; …`) and the original header block (`text/rfc822-headers`).
 *
 * A DSN has the null envelope sender (RFC 5321 §4.5.5) so it can never bounce again;
 * the worker never makes a DSN for a message whose sender is null. Auto-Submitted
 * (RFC 3834 §5) tells autoresponders to keep quiet.
 */
import { randomBytes } from 'node:crypto';
import { rfc5322Date } from '../smtp/trace.js';

export interface FailedRecipient {
  rcpt: string;
  /** RFC 3463 status, e.g. "5.1.1" (from the remote's reply when it gave one). */
  status: string;
  /** The remote's reply ("550 5.1.1 <bob@b.test>: no such user"), or our own reason. */
  diagnostic: string;
  /** The remote MTA that answered, if one did. */
  remoteMta?: string;
  /** True when the reply is an SMTP reply from a remote (Diagnostic-Code type smtp). */
  fromRemote: boolean;
  lastAttempt?: Date;
}

export interface DsnInput {
  reportingMta: string;
  /** The original envelope sender (the DSN's recipient). */
  to: string;
  arrivalDate: Date;
  recipients: FailedRecipient[];
  /** The original message's header block (bytes up to the blank line). */
  originalHeaders: Buffer;
  /** Why, in one line, for the Subject and the text part: "failed" | "expired". */
  reason: 'failed' | 'expired';
  queueId?: string | number;
}

const ENHANCED = /^[245]\d\d[ -]([245]\.\d{1,3}\.\d{1,3})\b/;

/** The RFC 3463 status in a reply, or a default from the reply's class. */
export function statusOf(reply: string, permanent: boolean): string {
  const m = ENHANCED.exec(reply);
  if (m) return m[1]!;
  return permanent ? '5.0.0' : '4.0.0';
}

function fold(s: string): string {
  return s.replace(/[\r\n]+/g, ' ');
}

/** Builds the DSN message (CRLF line ends), ready to store or send. */
export function buildDsn(d: DsnInput): Buffer {
  const boundary = `=_dsn_${randomBytes(12).toString('hex')}`;
  const msgId = `<dsn.${Date.now().toString(36)}.${randomBytes(6).toString('hex')}@${d.reportingMta}>`;
  const subject = d.reason === 'expired' ? 'Undelivered Mail Returned to Sender (delivery time expired)' : 'Undelivered Mail Returned to Sender';
  const human: string[] = [
    `This is the mail system at host ${d.reportingMta}.`,
    '',
    d.reason === 'expired'
      ? 'Your message could not be delivered within the time the queue keeps trying;'
      : 'Your message could not be delivered to one or more recipients.',
    d.reason === 'expired' ? 'the mail system gave up on the following recipient(s):' : 'It is attached below; the recipient(s) and the reason(s):',
    '',
  ];
  for (const r of d.recipients) {
    human.push(`<${r.rcpt}>: ${r.remoteMta ? `host ${r.remoteMta} said: ` : ''}${fold(r.diagnostic)}`);
  }
  human.push('');

  // RFC 3464 §2.2 per-message fields, §2.3 per-recipient fields (blank line between).
  const status: string[] = [`Reporting-MTA: dns; ${d.reportingMta}`];
  if (d.queueId !== undefined) status.push(`X-Queue-ID: ${d.queueId}`);
  status.push(`Arrival-Date: ${rfc5322Date(d.arrivalDate)}`);
  for (const r of d.recipients) {
    status.push('');
    status.push(`Final-Recipient: rfc822; ${r.rcpt}`);
    status.push('Action: failed');
    status.push(`Status: ${r.status}`);
    if (r.remoteMta) status.push(`Remote-MTA: dns; ${r.remoteMta}`);
    status.push(`Diagnostic-Code: ${r.fromRemote ? 'smtp' : 'x-unix'}; ${fold(r.diagnostic)}`);
    if (r.lastAttempt) status.push(`Last-Attempt-Date: ${rfc5322Date(r.lastAttempt)}`);
  }

  let headers = d.originalHeaders.toString('utf8').replace(/\r?\n/g, '\r\n');
  if (!headers.endsWith('\r\n')) headers += '\r\n';
  headers = headers.replace(/(\r\n)+$/, '\r\n');

  const lines = [
    `From: Mail Delivery System <MAILER-DAEMON@${d.reportingMta}>`,
    `To: <${d.to}>`,
    `Subject: ${subject}`,
    `Date: ${rfc5322Date()}`,
    `Message-ID: ${msgId}`,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
    '',
    'This is a MIME-encapsulated message.',
    '',
    `--${boundary}`,
    'Content-Description: Notification',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    ...human,
    `--${boundary}`,
    'Content-Description: Delivery report',
    'Content-Type: message/delivery-status',
    '',
    ...status,
    '',
    `--${boundary}`,
    'Content-Description: Undelivered Message Headers',
    'Content-Type: text/rfc822-headers',
    'Content-Transfer-Encoding: 8bit',
    '',
  ];
  return Buffer.from(`${lines.join('\r\n')}\r\n${headers}\r\n--${boundary}--\r\n`, 'utf8');
}
