/**
 * MAIL FROM and RCPT TO parameters: only those of the extensions we advertise are
 * taken. RFC 5321 §4.1.1.11: a parameter that is not recognized gets `555 5.5.4`.
 * RFC 6531 §3.4: an address with non-ASCII characters needs the SMTPUTF8 parameter on
 * MAIL FROM; without it, `553 5.6.7` (RFC 6531 §3.5, X.6.7 "non-ASCII addresses not
 * permitted"). smtp-server checks the syntax of the values it knows (SIZE, BODY, ...).
 */
import type { SMTPServerAddress, SMTPServerSession } from 'smtp-server';
import { Reply, SmtpReject } from './reply.js';

/** SIZE (RFC 1870), BODY (RFC 6152), SMTPUTF8 (RFC 6531). */
const MAIL_PARAMS = ['SIZE', 'BODY', 'SMTPUTF8'];
const RCPT_PARAMS: string[] = [];

const NON_ASCII = /[^\x00-\x7f]/;

function unknownParam(kind: 'MAIL FROM' | 'RCPT TO', name: string): SmtpReject {
  return new SmtpReject(555, '5.5.4', `${kind} parameter ${name} not recognized`);
}

function eightBit(addr: string): SmtpReject {
  return new SmtpReject(Reply.MailboxNameNotAllowed, '5.6.7', `<${addr}>: non-ASCII address without SMTPUTF8`);
}

function paramNames(address: SMTPServerAddress): string[] {
  return Object.keys((address.args as Record<string, unknown> | false) || {});
}

/** MAIL FROM: undefined to go on, else the refusal. `extra`: more names this listener takes (AUTH on submission, RFC 4954 §5). */
export function checkMailParams(address: SMTPServerAddress, extra: readonly string[] = []): SmtpReject | undefined {
  const unknown = paramNames(address).find((k) => !MAIL_PARAMS.includes(k) && !extra.includes(k));
  if (unknown) return unknownParam('MAIL FROM', unknown);
  const utf8 = (address.args as Record<string, unknown> | false || {}).SMTPUTF8 === true;
  if (!utf8 && NON_ASCII.test(address.address)) return eightBit(address.address);
  return undefined;
}

/** RCPT TO: undefined to go on, else the refusal. */
export function checkRcptParams(address: SMTPServerAddress, session: SMTPServerSession): SmtpReject | undefined {
  const unknown = paramNames(address).find((k) => !RCPT_PARAMS.includes(k));
  if (unknown) return unknownParam('RCPT TO', unknown);
  if (!session.envelope.smtpUtf8 && NON_ASCII.test(address.address)) return eightBit(address.address);
  return undefined;
}
