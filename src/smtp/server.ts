/**
 * smtp-server, adapted in this one place; the rest of src/smtp uses its options and hooks
 * only. smtp-server 3.21 has no option for two things this server needs, so `SmtpServer`
 * makes its connections from a subclass that overrides three public members of
 * SMTPConnection (`send` and the EHLO and AUTH command handlers). Nothing here calls or
 * replaces a private (underscore) member. test/smtp/server-adapter.test.ts pins the
 * smtp-server behaviour this relies on; test/smtp/replies.test.ts the result on the
 * real listeners.
 *
 * 1. Enhanced status codes of our refusals (RFC 3463, RFC 2034). smtp-server answers a
 *    hook error with `send(err.responseCode, err.message)` and puts the code of its own
 *    table for the basic code in front (554 → 5.6.0): a relay denial would read
 *    "554 5.6.0 5.7.1 Relay access denied". A reply text that starts with an enhanced
 *    code (every SmtpReject's does, src/smtp/reply.ts) is sent as it is.
 * 2. AUTH per connection (RFC 8314 §3, RFC 4954 §4). smtp-server decides whether AUTH
 *    may be used from server-wide options (`allowInsecureAuth`); here `authAllowed(secure,
 *    remoteAddress)` decides on each connection, each time: EHLO lists AUTH only when it
 *    may be used (the EHLO reply is built with the session's `disabledCommands`, 3.21,
 *    set to the server's list plus AUTH for that one reply), and AUTH when it may not is
 *    answered `530 5.7.0 Must issue a STARTTLS command first` (RFC 3207 §4) before the
 *    client sends any credentials. MAIL, RCPT and DATA before AUTH stay smtp-server's
 *    `530` (`authOptional: false`).
 */
import type net from 'node:net';
import type tls from 'node:tls';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { SMTPConnection, type SMTPConnectionOptions } from 'smtp-server/lib/smtp-connection.js';

export interface ServerAdaptations {
  /** Whether AUTH may be used on a connection now; absent: as smtp-server's options say. */
  authAllowed?(secure: boolean, remoteAddress: string): boolean;
}

/** A reply text that carries its own enhanced status code (RFC 3463 §2). */
const ENHANCED_PREFIX = /^[245]\.\d{1,3}\.\d{1,3} /;

class Connection extends SMTPConnection {
  constructor(
    private readonly owner: SmtpServer,
    socket: net.Socket | tls.TLSSocket,
    options: SMTPConnectionOptions | null | undefined,
    private readonly adapt: ServerAdaptations,
  ) {
    super(owner, socket, options);
  }

  /** (1) A text with its own enhanced code is sent without smtp-server's. */
  override send(code: number, data?: string | string[] | null, context?: string | false): void {
    if (context === undefined && typeof data === 'string' && ENHANCED_PREFIX.test(data)) return super.send(code, data, false);
    super.send(code, data, context);
  }

  /** (2) EHLO lists AUTH only when it may be used on this connection now. */
  override handler_EHLO(command: Buffer, callback: () => void): void {
    if (this.authAllowed()) return super.handler_EHLO(command, callback);
    const session = this.session;
    const before = session.disabledCommands;
    const restore = () => {
      session.disabledCommands = before;
    };
    // For this reply only: restored before the next command is read.
    session.disabledCommands = [...this.owner.options.disabledCommands, 'AUTH'];
    try {
      super.handler_EHLO(command, () => {
        restore();
        callback();
      });
    } finally {
      restore();
    }
  }

  /** (2) AUTH where it may not be used: refused before any credentials are sent. */
  override handler_AUTH(command: Buffer, callback: () => void): void {
    if (this.authAllowed()) return super.handler_AUTH(command, callback);
    // RFC 3207 §4: 530 5.7.0 Must issue a STARTTLS command first
    this.send(530, '5.7.0 Must issue a STARTTLS command first');
    callback();
  }

  private authAllowed(): boolean {
    return this.adapt.authAllowed?.(this.secure, this.remoteAddress) ?? true;
  }
}

/** smtp-server's SMTPServer, making its connections with the adaptations above. */
export class SmtpServer extends SMTPServer {
  constructor(
    options: SMTPServerOptions,
    private readonly adapt: ServerAdaptations = {},
  ) {
    super(options);
  }

  /**
   * As smtp-server 3.21's own connect() (called by its listener for each accepted socket,
   * after PROXY and implicit TLS), with this module's connection class; its events are
   * re-emitted as SMTPServer's own handlers do (`error`, `connect`).
   */
  override connect(socket: net.Socket | tls.TLSSocket, socketOptions?: SMTPConnectionOptions | null): void {
    const connection = new Connection(this, socket, socketOptions, this.adapt);
    this.connections.add(connection);
    connection.on('error', (err: Error) => this.emit('error', err));
    connection.on('connect', (data: unknown) => this.emit('connect', data));
    connection.init();
  }
}
