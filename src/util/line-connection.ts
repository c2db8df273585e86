/**
 * The connection plumbing shared by the line protocols that run one command at a time
 * (POP3, ManageSieve): the socket's handlers and their move to TLS, the queue of units
 * the client pipelined (the socket is paused when it grows), writes with backpressure,
 * and the close bookkeeping (`gone`, `whenClosed`). Framing, timers, replies and
 * errors stay with each protocol.
 */
import { once } from 'node:events';
import type net from 'node:net';
import tls from 'node:tls';
import { loginAllowed } from '../accounts/login.js';
import type { ServerContext } from '../context.js';
import type { Logger } from '../log.js';
import { drained } from './net.js';

/** The client has gone (or a timer ended the connection): the command loop stops. */
export class ConnectionClosed extends Error {}

export abstract class LineConnection<Unit> {
  log: Logger;
  readonly remoteAddress: string;
  protected socket: net.Socket;
  protected queue: Unit[] = [];
  protected closed = false;
  /** No command after the current one (QUIT, LOGOUT, too many errors, shutdown). */
  protected closing = false;
  private isSecure: boolean;
  private wake: (() => void) | undefined;
  private closeWaiters: Array<() => void> = [];

  constructor(
    readonly ctx: ServerContext,
    socket: net.Socket,
    opts: { secure: boolean; log: Logger },
    /** Reading pauses when this many units wait, and resumes below half. */
    private readonly maxQueued: number,
  ) {
    this.socket = socket;
    this.isSecure = opts.secure;
    this.log = opts.log;
    this.remoteAddress = socket.remoteAddress ?? '';
  }

  get secure(): boolean {
    return this.isSecure;
  }

  /** Same rule as every protocol (RFC 8314 §3): credentials only over TLS, loopback excepted by config. */
  get loginAllowed(): boolean {
    return loginAllowed(this.ctx.config, this.isSecure, this.remoteAddress);
  }

  /** The client has gone (a login waiting its turn is dropped). */
  get gone(): boolean {
    return this.closed;
  }

  /** Resolves when the connection has closed. */
  whenClosed(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  closeAfterReply(): void {
    this.closing = true;
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** The units a chunk of bytes completes (the protocol's framer), and its timers. */
  protected abstract received(chunk: Buffer): Unit[];
  /** The socket closed: the protocol's own cleanup (timers, locks), once. */
  protected abstract onClosed(): void;
  /** A fresh framer: nothing read on the plaintext socket carries over to TLS. */
  protected abstract resetFraming(): void;
  /** We wait on the client (to read our reply, to finish a TLS handshake), or no longer. */
  protected waitingOnClient(_waiting: boolean): void {}
  /** The queue is empty and the loop is about to wait for the client. */
  protected beforeWait(): void {}

  protected attach(socket: net.Socket): void {
    socket.on('data', this.onData);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    // Replies are written whole, so Nagle would only add a delayed-ACK round trip per
    // command for clients that pipeline.
    socket.setNoDelay(true);
  }

  protected detach(socket: net.Socket): void {
    socket.off('data', this.onData);
    socket.off('error', this.onError);
    socket.off('close', this.onClose);
  }

  private readonly onData = (chunk: Buffer): void => {
    for (const u of this.received(chunk)) this.queue.push(u);
    if (this.queue.length >= this.maxQueued) this.socket.pause();
    this.wakeUp();
  };

  private readonly onError = (err: Error): void => {
    this.log.debug({ err: err.message }, 'client socket error');
  };

  private readonly onClose = (): void => {
    this.markClosed();
  };

  protected markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClosed();
    this.wakeUp();
    for (const w of this.closeWaiters.splice(0)) w();
  }

  private wakeUp(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** The next unit from the client, or undefined once the connection is gone. */
  protected async nextUnit(): Promise<Unit | undefined> {
    for (;;) {
      if (this.closed) return undefined;
      const u = this.queue.shift();
      if (u) {
        if (this.queue.length < this.maxQueued / 2 && this.socket.isPaused()) this.socket.resume();
        return u;
      }
      this.beforeWait();
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /**
   * STLS / STARTTLS: anything pipelined after the command is discarded (plaintext
   * injected before the handshake never runs as a TLS-protected command: RFC 2595 §4,
   * RFC 3207 §6), `okLine` goes out on the plaintext socket, then the handshake. Throws
   * ConnectionClosed when it fails; the connection is secure after it.
   */
  protected async upgradeToTls(okLine: string): Promise<tls.TLSSocket> {
    const plain = this.socket;
    this.detach(plain);
    plain.on('error', () => undefined); // reported through the TLS socket
    this.queue = [];
    this.resetFraming();
    await this.send(okLine, plain);
    const secure = new tls.TLSSocket(plain, { isServer: true, secureContext: this.ctx.tls.current(), SNICallback: this.ctx.tls.sniCallback });
    this.socket = secure;
    this.attach(secure);
    // The handshake ends in 'secure', or in an error/close that ends the connection (the
    // protocol's timer, armed by attach(), covers a client that never completes it).
    this.waitingOnClient(true);
    const ok = await Promise.race([
      once(secure, 'secure').then(() => true),
      once(secure, 'close').then(() => false),
      once(secure, 'error').then(
        () => false,
        () => false,
      ),
    ]).catch(() => false);
    this.waitingOnClient(false);
    if (!ok || this.closed) {
      secure.destroy();
      throw new ConnectionClosed();
    }
    this.isSecure = true;
    return secure;
  }

  /** Writes, waiting for the client to read when the socket's buffer is full. */
  protected async send(data: string | Buffer, socket: net.Socket = this.socket): Promise<void> {
    if (this.closed || socket.destroyed) throw new ConnectionClosed();
    if (socket.write(data)) return;
    this.waitingOnClient(true);
    try {
      if (!(await drained(socket))) throw new ConnectionClosed();
    } finally {
      this.waitingOnClient(false);
    }
  }
}
