/**
 * MAIL FROM and RCPT TO parameters: only those of the extensions we advertise are
 * taken. RFC 5321 §4.1.1.11: a parameter that is not recognized gets `555 5.5.4`.
 * RFC 6531 §3.4: an address with non-ASCII characters needs the SMTPUTF8 parameter on
 * MAIL FROM; without it, `553 5.6.7` (RFC 6531 §3.5, X.6.7 "non-ASCII addresses not
 * permitted"). smtp-server checks the syntax of the values it knows (SIZE, BODY, RET,
 * NOTIFY, the form of ORCPT) and decodes xtext (RFC 3461 §4); the lengths RFC 3461 sets
 * are checked here, and the DSN parameters are read off the session for the queue.
 */
import type { SMTPServerAddress, SMTPServerSession } from 'smtp-server';
import type { DsnEnvelope, DsnRecipientParams } from '../queue/dsn.js';
import { Reply, SmtpReject } from './reply.js';
import { envelopeRecipient } from './postmaster.js';

/** SIZE (RFC 1870), BODY (RFC 6152), SMTPUTF8 (RFC 6531), RET and ENVID (RFC 3461). */
const MAIL_PARAMS = ['SIZE', 'BODY', 'SMTPUTF8', 'RET', 'ENVID'];
/** NOTIFY and ORCPT (RFC 3461). */
const RCPT_PARAMS = ['NOTIFY', 'ORCPT'];
/** RFC 3461 §4.4: ENVID at most 100 characters; §4.2: ORCPT at most 500. */
const MAX_ENVID = 100;
const MAX_ORCPT = 500;

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
  const args = (address.args as Record<string, unknown> | false) || {};
  if (args.SMTPUTF8 !== true && NON_ASCII.test(address.address)) return eightBit(address.address);
  if (typeof args.ENVID === 'string' && args.ENVID.length > MAX_ENVID) return new SmtpReject(Reply.SyntaxError, '5.5.4', `ENVID longer than ${MAX_ENVID} characters`);
  return undefined;
}

/** RCPT TO: undefined to go on, else the refusal. */
export function checkRcptParams(address: SMTPServerAddress, session: SMTPServerSession): SmtpReject | undefined {
  const unknown = paramNames(address).find((k) => !RCPT_PARAMS.includes(k));
  if (unknown) return unknownParam('RCPT TO', unknown);
  if (!session.envelope.smtpUtf8 && NON_ASCII.test(address.address)) return eightBit(address.address);
  const orcpt = ((address.args as Record<string, unknown> | false) || {}).ORCPT;
  if (typeof orcpt === 'string' && orcpt.length > MAX_ORCPT) return new SmtpReject(Reply.SyntaxError, '5.5.4', `ORCPT longer than ${MAX_ORCPT} characters`);
  return undefined;
}

/** The RFC 3461 parameters of the transaction (MAIL FROM RET=, ENVID=), as smtp-server decoded them. */
export function envelopeDsn(session: SMTPServerSession): DsnEnvelope {
  const d = session.envelope.dsn;
  return { ret: d?.ret === 'FULL' || d?.ret === 'HDRS' ? d.ret : undefined, envid: d?.envid ?? undefined };
}

/** NOTIFY and ORCPT per recipient (canonical address), for the recipients that gave any. */
export function recipientsDsn(session: SMTPServerSession): Map<string, DsnRecipientParams> {
  const out = new Map<string, DsnRecipientParams>();
  for (const r of session.envelope.rcptTo) {
    const d = r.dsn;
    if (!d || (!d.notify && !d.orcpt)) continue;
    out.set(envelopeRecipient(r.address), { notify: d.notify?.map((n) => n.toUpperCase()), orcpt: d.orcpt ?? undefined });
  }
  return out;
}
