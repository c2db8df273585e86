/**
 * Deadlines of SMTP connections (port 25, 587, 465), counted from the server's side of
 * the socket so that neither a slow writer nor a client that never reads can hold a
 * connection open.
 *
 * - Command lines: Postfix `smtpd_timeout` with `smtpd_per_record_deadline = yes`. Each
 *   complete command gets a reply, so a client that makes progress makes the server write.
 *   From the last byte the server wrote (or the accept), the next command line, or the
 *   TLS handshake, must be complete within `limits.smtp_idle_timeout_ms`, whatever
 *   trickles in meanwhile: one byte a second no longer keeps a session alive (an idle
 *   timer, which every byte resets, did). Time the server itself spends on an answer
 *   (a DNS check, a login delay, delivery after the final dot) does not count.
 * - DATA: Postfix `smtpd_min_data_rate`. From the 354 on, the message must arrive at no
 *   less than `limits.smtp_min_data_rate` bytes a second, after an allowance of one
 *   command timeout: at t seconds into DATA with N bytes received, the deadline is
 *   `timeout + N / rate`. `limits.smtp_data_timeout_ms` stays the cap for the whole phase.
 * - Ending: a connection past a deadline gets `421 4.4.2` and its side is closed; the
 *   socket is destroyed `CLOSE_GRACE_MS` later whatever its write buffer holds (a client
 *   that never reads never drains it). DESIGN.md: timers end connections whatever their
 *   write buffers hold.
 *
 * Every accepted socket is seen here first (the net server's `connection` event, before
 * any TLS), so the implicit-TLS handshake on 465 is under the same deadline. One timer
 * per listener checks all its connections a few times per timeout.
 */
import type net from 'node:net';
import type { Logger } from '../log.js';
import { plainIp } from '../util/net.js';

/** How long a connection told 421 may take to go before its socket is destroyed. */
export const CLOSE_GRACE_MS = 1000;

export interface GuardLimits {
  commandTimeoutMs: number;
  /** Bytes per second during DATA. */
  minDataRate: number;
  dataTimeoutMs: number;
}

/** One connection's deadlines. */
export class ConnectionGuard {
  /** The socket replies go to: the raw one, or the TLS socket over it once TLS is up. */
  app: net.Socket;
  private written = 0;
  private since = Date.now();
  private busy = 0;
  private data?: { start: number; read: number };
  private ended = false;

  constructor(
    readonly raw: net.Socket,
    private readonly log: Logger,
    private readonly host: string,
  ) {
    this.app = raw;
  }

  /** The server works on an answer until the returned function is called (time not counted). */
  working(): () => void {
    this.busy++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.busy--;
      this.since = Date.now();
    };
  }

  /** DATA began (after 354): the rate floor applies until `dataEnded`. */
  dataStarted(): void {
    this.data = { start: Date.now(), read: this.raw.bytesRead };
  }

  dataEnded(): void {
    this.data = undefined;
    this.since = Date.now();
  }

  /** Checks the deadlines at `now`; ends the connection when one has passed. */
  check(now: number, limits: GuardLimits): void {
    if (this.ended) return;
    const w = this.raw.bytesWritten;
    if (w !== this.written) {
      // A reply went out: the client finished a command (or the handshake progressed).
      this.written = w;
      this.since = now;
    }
    if (this.data) {
      const elapsed = now - this.data.start;
      const got = this.raw.bytesRead - this.data.read;
      // Postfix smtpd_min_data_rate: timeout + N / rate.
      const allowed = limits.commandTimeoutMs + (got / limits.minDataRate) * 1000;
      if (elapsed > allowed) return this.end('DATA slower than the minimum rate', { elapsed, bytes: got });
      if (elapsed > limits.dataTimeoutMs) return this.end('DATA took too long', { elapsed, bytes: got });
      return;
    }
    if (this.busy > 0) {
      this.since = now;
      return;
    }
    if (now - this.since > limits.commandTimeoutMs) this.end('command not complete in time', { waited: now - this.since });
  }

  /**
   * Ends the connection: `421` and our side closed, then the socket destroyed after
   * CLOSE_GRACE_MS whatever it still holds. `text` is the reply text after the codes.
   */
  end(why: string, fields: Record<string, unknown> = {}, reply = '4.4.2 Error: timeout exceeded'): void {
    if (this.ended) return;
    this.ended = true;
    this.log.info({ ...fields, why, pending: this.app.writableLength }, 'connection ended');
    const app = this.app;
    if (!app.destroyed && app.writable) {
      // RFC 5321 §4.2.2 / §3.8: 421 before the server closes the channel.
      app.write(`421 ${reply} ${this.host} closing connection\r\n`);
      app.end();
    }
    const timer = setTimeout(() => {
      app.destroy();
      this.raw.destroy();
    }, CLOSE_GRACE_MS);
    timer.unref();
    this.raw.once('close', () => clearTimeout(timer));
  }

  get closed(): boolean {
    return this.ended || this.raw.destroyed;
  }
}

/** The guards of one listener: created at accept, found again by the session's address and port. */
export class ListenerGuards {
  private readonly all = new Set<ConnectionGuard>();
  private readonly byPort = new Map<number, ConnectionGuard[]>();
  private ticker?: NodeJS.Timeout;

  constructor(
    private readonly limits: () => GuardLimits,
    private readonly log: Logger,
    private readonly host: string,
  ) {}

  /** Watches a socket just accepted (the net server's `connection` event). */
  accept(raw: net.Socket): void {
    const g = new ConnectionGuard(raw, this.log, this.host);
    const port = raw.remotePort ?? 0;
    this.all.add(g);
    const list = this.byPort.get(port) ?? [];
    list.push(g);
    this.byPort.set(port, list);
    raw.once('close', () => {
      this.all.delete(g);
      const l = (this.byPort.get(port) ?? []).filter((x) => x !== g);
      if (l.length) this.byPort.set(port, l);
      else this.byPort.delete(port);
      if (this.all.size === 0) this.stop();
    });
    this.start();
  }

  /** The guard of a session (smtp-server's session carries the client's address and port). */
  find(remoteAddress: string, remotePort: number): ConnectionGuard | undefined {
    const list = this.byPort.get(remotePort);
    if (!list) return undefined;
    const want = plainIp(remoteAddress).toLowerCase();
    return list.find((g) => plainIp(g.raw.remoteAddress ?? '').toLowerCase() === want) ?? (list.length === 1 ? list[0] : undefined);
  }

  /** Ends every connection still open (shutdown, after its grace). */
  endAll(reply: string): void {
    for (const g of this.all) g.end('server shutting down', {}, reply);
  }

  get size(): number {
    return this.all.size;
  }

  private start(): void {
    if (this.ticker) return;
    // A few checks per timeout: a deadline is noticed within a quarter of it.
    const every = Math.min(1000, Math.max(50, Math.floor(this.limits().commandTimeoutMs / 4)));
    this.ticker = setInterval(() => {
      const now = Date.now();
      const limits = this.limits();
      for (const g of this.all) g.check(now, limits);
    }, every);
    this.ticker.unref();
  }

  private stop(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
  }
}
