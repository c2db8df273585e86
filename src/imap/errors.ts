/**
 * IMAP protocol errors. Handlers throw these; dispatch.ts maps them to responses in
 * exactly one place (go-imap readCommand, mox command() recover):
 * - ImapBad → tagged BAD (syntax, RFC 9051 §7.1.3);
 * - ImapNo → tagged NO [CODE] (operational failure, RFC 9051 §7.1.2);
 * - ImapBye → untagged BYE, then the connection closes (RFC 9051 §7.1.5).
 * StoreError from the store is mapped to NO with a response code in dispatch.ts.
 */
import type { ResponseCode } from './wire/types.js';

export class ImapBad extends Error {
  constructor(
    message: string,
    readonly code?: ResponseCode,
  ) {
    super(message);
    this.name = 'ImapBad';
  }
}

export class ImapNo extends Error {
  constructor(
    message: string,
    readonly code?: ResponseCode | string,
  ) {
    super(message);
    this.name = 'ImapNo';
  }
}

export class ImapBye extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImapBye';
  }
}
