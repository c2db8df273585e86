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
import { once } from 'node:events';
import type net from 'node:net';
import tls from 'node:tls';
import type { ServerContext } from '../context.js';
import type { Logger } from '../log.js';
import { loginAllowed } from '../accounts/login.js';
import { drained } from '../util/net.js';
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

export class ConnectionClosed extends Error {}

const MAX_QUEUED = 16;

export type CommandHandler = (c: MsConnection, args: Unit & { kind: 'command' }) => Promise<void>;

export class MsConnection {
  /** The account after AUTHENTICATE. */
  user: string | undefined;
  log: Logger;
  authFailures = 0;
  readonly remoteAddress: string;
  private socket: net.Socket;
  private framer: Framer;
  private queue: Unit[] = [];
  private wake: (() => void) | undefined;
  private closed = false;
  private closing = false;
  private badCommands = 0;
  private isSecure: boolean;
  private timer: NodeJS.Timeout | undefined;
  private closeWaiters: Array<() => void> = [];

  constructor(
    readonly ctx: ServerContext,
    socket: net.Socket,
    private readonly opts: ConnectionOptions,
    private readonly dispatch: (c: MsConnection, u: Unit & { kind: 'command' }) => Promise<void>,
  ) {
    this.socket = socket;
    this.isSecure = opts.secure;
    this.log = opts.log;
    this.remoteAddress = socket.remoteAddress ?? '';
    this.framer = new Framer(opts.limits);
    this.attach(socket);
  }

  get secure(): boolean {
    return this.isSecure;
  }

  /** Same rule as every protocol (RFC 8314 §3): credentials only over TLS, loopback excepted by config. */
  get authAllowed(): boolean {
    return loginAllowed(this.ctx.config, this.isSecure, this.remoteAddress);
  }

  /** The client has gone (a login waiting its turn is dropped). */
  get gone(): boolean {
    return this.closed;
  }

  whenClosed(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  private attach(socket: net.Socket): void {
    socket.on('data', this.onData);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    socket.setNoDelay(true);
    this.arm(this.opts.idleTimeoutMs);
  }

  private detach(socket: net.Socket): void {
    socket.off('data', this.onData);
    socket.off('error', this.onError);
    socket.off('close', this.onClose);
  }

  /** (Re)starts the one timer: whatever it guards, expiry ends the connection. */
  private arm(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.log.info('managesieve timeout');
      if (this.socket.writableLength === 0) this.socket.write(response('BYE', 'Disconnected for inactivity'));
      this.socket.destroy();
    }, ms);
    this.timer.unref();
  }

  private readonly onData = (chunk: Buffer): void => {
    // The deadline of a command runs from its first byte, however slowly the rest comes.
    if (this.framer.idle) this.arm(this.opts.commandTimeoutMs);
    for (const u of this.framer.push(chunk)) this.queue.push(u);
    if (this.queue.length >= MAX_QUEUED) this.socket.pause();
    this.wakeUp();
  };

  private readonly onError = (err: Error): void => {
    this.log.debug({ err: err.message }, 'managesieve socket error');
  };

  private readonly onClose = (): void => {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.wakeUp();
    for (const w of this.closeWaiters.splice(0)) w();
  };

  private wakeUp(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** The next unit from the client, or undefined once the connection is gone. */
  async next(): Promise<Unit | undefined> {
    for (;;) {
      if (this.closed) return undefined;
      const u = this.queue.shift();
      if (u) {
        if (this.queue.length < MAX_QUEUED / 2 && this.socket.isPaused()) this.socket.resume();
        return u;
      }
      if (this.framer.idle) this.arm(this.opts.idleTimeoutMs);
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** Greets, then runs commands until the connection ends. Never rejects. */
  async run(greeting: () => string): Promise<void> {
    try {
      await this.write(greeting());
      while (!this.closed && !this.closing) {
        const u = await this.next();
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

  closeAfterReply(): void {
    this.closing = true;
  }

  /** RFC 5804 §2.2: the OK, the handshake, then the capabilities again. */
  async startTls(capabilities: () => string): Promise<void> {
    const plain = this.socket;
    this.detach(plain);
    plain.on('error', () => undefined);
    this.queue = [];
    this.framer = new Framer(this.opts.limits);
    await this.write(response('OK', 'Begin TLS negotiation now'), plain);
    const secure = new tls.TLSSocket(plain, { isServer: true, secureContext: this.ctx.tls.current(), SNICallback: this.ctx.tls.sniCallback });
    this.socket = secure;
    this.attach(secure);
    const ok = await Promise.race([once(secure, 'secure').then(() => true), once(secure, 'close').then(() => false), once(secure, 'error').then(() => false, () => false)]).catch(() => false);
    if (!ok || this.closed) {
      secure.destroy();
      throw new ConnectionClosed();
    }
    this.isSecure = true;
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

  destroy(): void {
    this.socket.destroy();
  }

  private end(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.socket.destroyed) return;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 5000).unref();
  }

  async write(data: string, socket: net.Socket = this.socket): Promise<void> {
    if (this.closed || socket.destroyed) throw new ConnectionClosed();
    if (socket.write(data)) return;
    // Backpressure: wait for the client to read (the idle timer still runs).
    this.arm(this.opts.idleTimeoutMs);
    if (!(await drained(socket))) throw new ConnectionClosed();
  }
}
