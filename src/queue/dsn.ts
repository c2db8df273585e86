/**
 * Delivery Status Notifications (RFC 3464) and the DSN extension's parameters (RFC 3461).
 *
 * A DSN is a `multipart/report; report-type=delivery-status` (RFC 6522) with a
 * human-readable part, the machine-readable `message/delivery-status` part (per-message
 * fields with `Original-Envelope-Id` when ENVID was given; per-recipient fields with
 * `Original-Recipient` when ORCPT was given, the action, the status and the remote's
 * reply as `Diagnostic-Code: smtp; …`) and the original message: its header block
 * (`text/rfc822-headers`), or the whole message (`message/rfc822`) for a failure when
 * the sender asked RET=FULL and it is at most FULL_RETURN_LIMIT bytes.
 *
 * Actions (RFC 3464 §2.3.3): `failed` (bounced or expired), `delayed` (still being
 * retried), `delivered` (stored in a local mailbox), `relayed` (handed to a next hop
 * that does not offer DSN, RFC 3461 §5.2.2), `expanded` (an alias with several targets,
 * RFC 3461 §6.2.7.3).
 *
 * A DSN has the null envelope sender (RFC 5321 §4.5.5) so it can never bounce again;
 * nothing makes a DSN for a message whose sender is null. Auto-Submitted (RFC 3834 §5)
 * tells autoresponders to keep quiet.
 */
import { randomBytes } from 'node:crypto';
import { rfc5322Date } from '../util/date.js';

/** RFC 3461 parameters of a message (MAIL FROM RET=, ENVID=). */
export interface DsnEnvelope {
  ret?: 'FULL' | 'HDRS';
  envid?: string;
}

/** RFC 3461 parameters of one recipient (RCPT TO NOTIFY=, ORCPT=). */
export interface DsnRecipientParams {
  /** ["NEVER"] or any of SUCCESS, FAILURE, DELAY; absent when not given. */
  notify?: string[];
  /** "addr-type;address", e.g. "rfc822;bob@example.org". */
  orcpt?: string;
}

/**
 * Whether a recipient wants a DSN of this kind. NOTIFY absent: failures and delays
 * (RFC 3461 §4.1 leaves the default to the MTA: "FAILURE" or "FAILURE,DELAY").
 */
export function wants(notify: string[] | undefined, what: 'SUCCESS' | 'FAILURE' | 'DELAY'): boolean {
  if (!notify || notify.length === 0) return what !== 'SUCCESS';
  return notify.includes(what);
}

export type DsnAction = 'failed' | 'delayed' | 'delivered' | 'relayed' | 'expanded';

export interface DsnRecipient {
  rcpt: string;
  action: DsnAction;
  /** RFC 3463 status, e.g. "5.1.1" (from the remote's reply when it gave one), "2.0.0". */
  status: string;
  /** The remote's reply ("550 5.1.1 <bob@b.test>: no such user"), or our own reason. */
  diagnostic?: string;
  /** The remote MTA that answered, if one did. */
  remoteMta?: string;
  /** True when the reply is an SMTP reply from a remote (Diagnostic-Code type smtp). */
  fromRemote?: boolean;
  lastAttempt?: Date;
  /** ORCPT as given ("rfc822;bob@example.org"). */
  orcpt?: string;
  /** For `delayed`: when the queue gives up. */
  willRetryUntil?: Date;
}

/** A recipient that failed for good (kept for callers that only bounce). */
export type FailedRecipient = Omit<DsnRecipient, 'action'> & { action?: 'failed' };

export interface DsnInput {
  reportingMta: string;
  /** The domain of the report's From (MAILER-DAEMON@…): one we sign for; the reporting host by default. */
  fromDomain?: string;
  /** The original envelope sender (the DSN's recipient). */
  to: string;
  arrivalDate: Date;
  recipients: DsnRecipient[];
  /** The original message's header block (bytes up to the blank line). */
  originalHeaders: Buffer;
  /** The whole original message, returned in a failure DSN instead of the headers (RET=FULL). */
  originalMessage?: Buffer;
  /** For failures: "expired" when the queue gave up, for the Subject and the text. */
  reason?: 'failed' | 'expired';
  envid?: string;
  queueId?: string | number;
}

/** A failure DSN returns the whole message (RET=FULL) up to this size; beyond, its headers. */
export const FULL_RETURN_LIMIT = 1024 * 1024;

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

/** The kind of report: the most serious action in it decides. */
function kindOf(d: DsnInput): 'failed' | 'delayed' | 'success' {
  if (d.recipients.some((r) => r.action === 'failed')) return 'failed';
  if (d.recipients.some((r) => r.action === 'delayed')) return 'delayed';
  return 'success';
}

const SUBJECTS = {
  failed: 'Undelivered Mail Returned to Sender',
  expired: 'Undelivered Mail Returned to Sender (delivery time expired)',
  delayed: 'Delayed Mail (still being retried)',
  success: 'Successful Mail Delivery Report',
};

function humanPart(d: DsnInput, kind: 'failed' | 'delayed' | 'success'): string[] {
  const intro =
    kind === 'failed'
      ? d.reason === 'expired'
        ? ['Your message could not be delivered within the time the queue keeps trying;', 'the mail system gave up on the following recipient(s):']
        : ['Your message could not be delivered to one or more recipients.', 'It is attached below; the recipient(s) and the reason(s):']
      : kind === 'delayed'
        ? ['Your message has not been delivered yet to the following recipient(s).', 'The mail system keeps trying; you need not send it again:']
        : ['Your message was delivered (or handed on) as you asked, for the following recipient(s):'];
  const lines = [`This is the mail system at host ${d.reportingMta}.`, '', ...intro, ''];
  for (const r of d.recipients) {
    const what = r.action === 'relayed' ? 'relayed to a server that sends no reports' : r.action === 'expanded' ? 'delivered to the members of a list or alias' : r.action;
    lines.push(`<${r.rcpt}>: ${what}${r.remoteMta ? `; host ${r.remoteMta} said: ` : r.diagnostic ? ': ' : ''}${r.diagnostic ? fold(r.diagnostic) : ''}`);
  }
  lines.push('');
  return lines;
}

/** The message/delivery-status fields (RFC 3464 §2.2 per message, §2.3 per recipient). */
function statusPart(d: DsnInput): string[] {
  const status: string[] = [`Reporting-MTA: dns; ${d.reportingMta}`];
  if (d.envid) status.push(`Original-Envelope-Id: ${fold(d.envid)}`);
  if (d.queueId !== undefined) status.push(`X-Queue-ID: ${d.queueId}`);
  status.push(`Arrival-Date: ${rfc5322Date(d.arrivalDate)}`);
  for (const r of d.recipients) {
    status.push('');
    if (r.orcpt) status.push(`Original-Recipient: ${fold(r.orcpt)}`);
    status.push(`Final-Recipient: rfc822; ${r.rcpt}`);
    status.push(`Action: ${r.action}`);
    status.push(`Status: ${r.status}`);
    if (r.remoteMta) status.push(`Remote-MTA: dns; ${r.remoteMta}`);
    if (r.diagnostic) status.push(`Diagnostic-Code: ${r.fromRemote ? 'smtp' : 'x-unix'}; ${fold(r.diagnostic)}`);
    if (r.lastAttempt) status.push(`Last-Attempt-Date: ${rfc5322Date(r.lastAttempt)}`);
    if (r.willRetryUntil) status.push(`Will-Retry-Until: ${rfc5322Date(r.willRetryUntil)}`);
  }
  return status;
}

/** Builds the DSN message (CRLF line ends), ready to store or send. */
export function buildDsn(d: DsnInput): Buffer {
  const boundary = `=_dsn_${randomBytes(12).toString('hex')}`;
  const msgId = `<dsn.${Date.now().toString(36)}.${randomBytes(6).toString('hex')}@${d.reportingMta}>`;
  const kind = kindOf(d);
  const subject = kind === 'failed' && d.reason === 'expired' ? SUBJECTS.expired : SUBJECTS[kind];
  // RFC 3461 §4.3: RET=FULL returns the message with a failure; otherwise its headers.
  const full = kind === 'failed' && d.originalMessage && d.originalMessage.length <= FULL_RETURN_LIMIT ? d.originalMessage : undefined;

  let headers = d.originalHeaders.toString('utf8').replace(/\r?\n/g, '\r\n');
  if (!headers.endsWith('\r\n')) headers += '\r\n';
  headers = headers.replace(/(\r\n)+$/, '\r\n');

  const lines = [
    `From: Mail Delivery System <MAILER-DAEMON@${d.fromDomain ?? d.reportingMta}>`,
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
    ...humanPart(d, kind),
    `--${boundary}`,
    'Content-Description: Delivery report',
    'Content-Type: message/delivery-status',
    '',
    ...statusPart(d),
    '',
    `--${boundary}`,
    ...(full
      ? ['Content-Description: Undelivered Message', 'Content-Type: message/rfc822', 'Content-Transfer-Encoding: 8bit', '']
      : [`Content-Description: ${kind === 'success' ? 'Message' : 'Undelivered Message'} Headers`, 'Content-Type: text/rfc822-headers', 'Content-Transfer-Encoding: 8bit', '']),
  ];
  const head = Buffer.from(`${lines.join('\r\n')}\r\n`, 'utf8');
  const body = full ? (full.subarray(-2).equals(Buffer.from('\r\n')) ? full : Buffer.concat([full, Buffer.from('\r\n')])) : Buffer.from(headers, 'utf8');
  return Buffer.concat([head, body, Buffer.from(`\r\n--${boundary}--\r\n`)]);
}
