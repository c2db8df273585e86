/**
 * Named SMTP replies (mox smtp/codes.go) and the one error type hooks throw.
 *
 * `SmtpReject` carries its own enhanced status code (RFC 3463) in its message ("5.7.1
 * Relay access denied"); the listener's smtp-server (src/smtp/server.ts) sends such a
 * text as it is, instead of putting the code of its table for the basic code alone in
 * front of it (554 → 5.6.0).
 */
import { StoreError } from '../store/types.js';

export const Reply = {
  Ok: 250,
  ServiceClosing: 421,
  MailboxBusy: 450,
  LocalError: 451,
  StorageFull: 452,
  SyntaxError: 501,
  BadSequence: 503,
  AuthRequired: 530,
  AuthFailed: 535,
  MailboxUnavailable: 550,
  ExceededStorage: 552,
  MailboxNameNotAllowed: 553,
  TransactionFailed: 554,
} as const;

/** A refusal from one of our hooks: basic code, enhanced code, human text. */
export class SmtpReject extends Error {
  constructor(
    readonly responseCode: number,
    readonly enhanced: string,
    text: string,
  ) {
    super(`${enhanced} ${text}`);
    this.name = 'SmtpReject';
  }
}

/**
 * The reply for a store error that reached the end of DATA (the store's kinds are
 * protocol-neutral, src/store/types.ts): a mailbox that cannot take more mail is 452
 * 4.2.2 (RFC 3463 "mailbox full": over quota, or its UIDs are used up), a store that is
 * shutting down 451 4.3.2 (RFC 3463 "system not accepting network messages"), anything
 * else undefined (the caller's generic 451).
 */
export function storeReject(err: StoreError): SmtpReject | undefined {
  switch (err.kind) {
    case 'overQuota':
      return new SmtpReject(Reply.StorageFull, '4.2.2', 'Mailbox full, try again later');
    case 'uidsExhausted':
      return new SmtpReject(Reply.StorageFull, '4.2.2', 'Mailbox cannot take more messages, try again later');
    case 'closed':
      return new SmtpReject(Reply.LocalError, '4.3.2', 'Shutting down, try again later');
    default:
      return undefined;
  }
}

/**
 * Answers an smtp-server onData callback from a handler's promise: its reply text on
 * success, an SmtpReject as it is, a store error by its kind (storeReject), and
 * anything else as a logged `451` (a client that went away mid-DATA is logged as such:
 * nothing was stored, nobody is told).
 */
export function replyFromData(
  work: Promise<string>,
  stream: { destroyed: boolean },
  log: { info(msg: string): void; error(obj: object, msg: string): void },
  cb: (err: Error | null, reply?: string) => void,
): void {
  work.then(
    (reply) => cb(null, reply),
    (err: unknown) => {
      if (err instanceof SmtpReject) return cb(err);
      const mapped = err instanceof StoreError ? storeReject(err) : undefined;
      if (mapped) {
        log.error({ err }, `message not accepted: ${mapped.message}`);
        return cb(mapped);
      }
      if (stream.destroyed || (err as NodeJS.ErrnoException)?.code === 'ERR_STREAM_PREMATURE_CLOSE') {
        log.info('client went away during DATA; nothing stored');
        return cb(Rejects.localError());
      }
      log.error({ err }, 'message not accepted: internal error');
      cb(Rejects.localError());
    },
  );
}

/** Common refusals, so handlers read as prose. */
export const Rejects = {
  relayDenied: () => new SmtpReject(Reply.TransactionFailed, '5.7.1', 'Relay access denied'),
  unknownUser: (addr: string) => new SmtpReject(Reply.MailboxUnavailable, '5.1.1', `<${addr}>: Recipient address rejected: no such user here`),
  badAddress: (addr: string) => new SmtpReject(Reply.SyntaxError, '5.1.3', `<${addr}>: bad address syntax`),
  localError: () => new SmtpReject(Reply.LocalError, '4.3.0', 'Local error in processing, try again later'),
  /** RFC 5322 §2.2: CR only as part of CRLF; a header that parsers would split differently is refused. */
  bareCrInHeader: () => new SmtpReject(Reply.TransactionFailed, '5.6.0', 'Message header contains a bare CR (RFC 5322 section 2.2); not accepted'),
  tooManyConnections: () => new SmtpReject(Reply.ServiceClosing, '4.7.0', 'Too many connections from your address, try again later'),
};
