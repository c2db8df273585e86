/**
 * Trace headers (RFC 5321 §4.4): Return-Path at final delivery and one Received line
 * per hop, and the transaction ids they carry. Shared by port 25 and submission.
 */
import { randomHex } from '../util/random.js';
import { rfc5322Date } from '../util/date.js';

let txCounter = 0;
/**
 * A transaction id for the Received header and the logs: time, a counter and random
 * hex, upper-case alphanumerics only (it appears after "id" in Received, RFC 5321 §4.4).
 */
export function newQueueId(): string {
  txCounter = (txCounter + 1) % 0x100000;
  return `${Date.now().toString(36)}${txCounter.toString(36).padStart(4, '0')}${randomHex(2)}`.toUpperCase();
}

export interface ReceivedInfo {
  helo: string;
  /** The client's verified reverse name (FCrDNS), if any. */
  clientHostname?: string;
  remoteAddress: string;
  byHostname: string;
  /** RFC 3848 protocol: ESMTP, ESMTPS, ESMTPA, ESMTPSA, UTF8SMTPS … */
  protocol: string;
  id: string;
  /** Only for a single recipient (privacy: never list Bcc recipients of others). */
  forRcpt?: string;
  tls?: { version?: string; cipher?: string };
  date?: Date;
}

/** RFC 5322 date-time, e.g. "Sun, 22 Nov 2026 06:04:31 +0000". */
export { rfc5322Date };

function clean(s: string): string {
  return s.replace(/[\r\n()\\]/g, '').slice(0, 255);
}

/** A folded Received header line, CRLF-terminated. */
export function receivedHeader(r: ReceivedInfo): string {
  const ip = r.remoteAddress.replace(/^::ffff:/, '');
  const from = `from ${clean(r.helo) || '[' + ip + ']'} (${r.clientHostname ? clean(r.clientHostname) + ' ' : ''}[${ip}])`;
  const tls = r.tls?.version ? `\r\n\t(using ${clean(r.tls.version)}${r.tls.cipher ? ' with cipher ' + clean(r.tls.cipher) : ''})` : '';
  const forPart = r.forRcpt ? `\r\n\tfor <${clean(r.forRcpt)}>` : '';
  return `Received: ${from}\r\n\tby ${r.byHostname} with ${r.protocol} id ${r.id}${tls}${forPart};\r\n\t${rfc5322Date(r.date)}\r\n`;
}

/** Return-Path with the envelope sender ("<>" for bounces). */
export function returnPathHeader(mailFrom: string): string {
  return `Return-Path: <${clean(mailFrom)}>\r\n`;
}

/** RFC 3848 "with" keyword. */
export function protocolName(opts: { tls: boolean; auth: boolean; utf8: boolean }): string {
  const base = opts.utf8 ? 'UTF8SMTP' : 'ESMTP';
  return `${base}${opts.tls ? 'S' : ''}${opts.auth ? 'A' : ''}`;
}
