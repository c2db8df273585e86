/**
 * One ManageSieve connection: the read loop (one command at a time), writes with
 * backpressure, STARTTLS, timers, and the one place errors become responses.
 *
 * Implementation notes:
 * - Commands are framed by wire.ts (lines and literals, bounded); units pipelined by
 *   the client wait in a short queue and the socket is paused beyond it.
 * - Timers (deadlines, not idle timers): a client has `idleTimeoutMs` between commands
 *   and `commandTimeoutMs` to send a command it has started; one that does not read
 *   our responses is cut off by the same idle timer. Timers destroy the socket whatever
 *   its write buffer holds.
 * - Bad commands (unknown, malformed, in the wrong state, over-long) count against
 *   `limits.maxBadCommands`; past it, BYE.
 * - STARTTLS (RFC 5804 §2.2): anything pipelined after it is discarded, the handshake
 *   runs, and the capabilities are sent again.
 */
import type net from 'node:net';
import type { ServerContext } from '../context.js';
import type { Logger } from '../log.js';
import { Deadline } from '../util/deadline.js';
import { ConnectionClosed, LineConnection } from '../util/line-connection.js';
import { Framer, response, type FramerLimits, type ResponseCode, type Unit } from './wire.js';

export interface ConnectionOptions {
  secure: boolean;
  idleTimeoutMs: number;
  commandTimeoutMs: number;
  limits: FramerLimits;
  log: Logger;
}

/** A NO (or BYE when `bye`) response to the current command. */
export class SieveNo extends Error {
  constructor(
    message: string,
    readonly code?: ResponseCode,
    readonly opts: { bad?: boolean; bye?: boolean } = {},
  ) {
    super(message);
  }
}

export { ConnectionClosed };

const MAX_QUEUED = 16;

export type CommandHandler = (c: MsConnection, args: Unit & { kind: 'command' }) => Promise<void>;

export class MsConnection extends LineConnection<Unit> {
  /** The account after AUTHENTICATE. */
  user: string | undefined;
  authFailures = 0;
  private framer: Framer;
  private badCommands = 0;
  /** The one timer: between commands `idleTimeoutMs`, within one `commandTimeoutMs`; expiry ends the connection. */
  private readonly timer = new Deadline(() => {
    this.log.info('managesieve timeout');
    if (this.socket.writableLength === 0) this.socket.write(response('BYE', 'Disconnected for inactivity'));
    this.socket.destroy();
  });

  constructor(
    ctx: ServerContext,
    socket: net.Socket,
    private readonly opts: ConnectionOptions,
    private readonly dispatch: (c: MsConnection, u: Unit & { kind: 'command' }) => Promise<void>,
  ) {
    super(ctx, socket, opts, MAX_QUEUED);
    this.framer = new Framer(opts.limits);
    this.attach(socket);
  }

  protected override attach(socket: net.Socket): void {
    super.attach(socket);
    this.timer.arm(this.opts.idleTimeoutMs);
  }

  protected received(chunk: Buffer): Unit[] {
    // The deadline of a command runs from its first byte, however slowly the rest comes.
    if (this.framer.idle) this.timer.arm(this.opts.commandTimeoutMs);
    return this.framer.push(chunk);
  }

  protected resetFraming(): void {
    this.framer = new Framer(this.opts.limits);
  }

  protected onClosed(): void {
    this.timer.clear();
  }

  protected override beforeWait(): void {
    if (this.framer.idle) this.timer.arm(this.opts.idleTimeoutMs);
  }

  /** Backpressure: the client must read within the idle time. */
  protected override waitingOnClient(waiting: boolean): void {
    if (waiting) this.timer.arm(this.opts.idleTimeoutMs);
  }

  /** The next unit from the client (a SASL response), or undefined once the connection is gone. */
  next(): Promise<Unit | undefined> {
    return this.nextUnit();
  }

  /** Greets, then runs commands until the connection ends. Never rejects. */
  async run(greeting: () => string): Promise<void> {
    try {
      await this.write(greeting());
      while (!this.closed && !this.closing) {
        const u = await this.nextUnit();
        if (!u) break;
        await this.runUnit(u);
      }
    } catch (err) {
      if (!(err instanceof ConnectionClosed)) this.log.error({ err }, 'managesieve connection failed');
    } finally {
      this.end();
    }
  }

  private async runUnit(u: Unit): Promise<void> {
    if (u.kind === 'fatal') {
      await this.write(response('BYE', u.detail, 'QUOTA/MAXSIZE'));
      this.closing = true;
      return;
    }
    try {
      if (u.kind === 'error') throw new SieveNo(u.detail, u.error === 'literalTooLarge' ? 'QUOTA/MAXSIZE' : undefined, { bad: u.error !== 'literalTooLarge' });
      await this.dispatch(this, u);
    } catch (err) {
      await this.fail(err);
    }
  }

  /** The one place errors become responses; internal errors are logged, never echoed. */
  async fail(err: unknown): Promise<void> {
    if (err instanceof ConnectionClosed) throw err;
    let e: SieveNo;
    if (err instanceof SieveNo) {
      e = err;
    } else {
      this.log.error({ err }, 'managesieve internal error');
      e = new SieveNo('Internal error', 'TRYLATER');
    }
    if (e.opts.bad && ++this.badCommands >= this.ctx.config.limits.maxBadCommands) {
      await this.write(response('BYE', `${e.message}; too many bad commands`));
      this.closing = true;
      return;
    }
    await this.write(response(e.opts.bye ? 'BYE' : 'NO', e.message, e.code));
    if (e.opts.bye) this.closing = true;
  }

  /** RFC 5804 §2.2: the OK, the handshake, then the capabilities again. */
  async startTls(capabilities: () => string): Promise<void> {
    await this.upgradeToTls(response('OK', 'Begin TLS negotiation now'));
    await this.write(capabilities());
  }

  /** Server shutdown: BYE at once when idle between commands, else after this command. */
  shutdown(): void {
    if (this.closed) return;
    this.closing = true;
    if (this.queue.length === 0) {
      this.socket.write(response('BYE', 'Server shutting down'));
      this.end();
    }
  }

  private end(): void {
    this.timer.clear();
    if (this.socket.destroyed) return;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 5000).unref();
  }

  async write(data: string): Promise<void> {
    await this.send(data);
  }
}
