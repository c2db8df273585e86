/**
 * Deadlines, not idle timers (STYLE.md "hardening"; Postfix smtpd_per_record_deadline,
 * Dovecot's login timeouts): a deadline counts from the start of a login or a command
 * line whatever trickles in meanwhile, so one byte a second cannot keep a connection
 * open. And a connection a timer ends is destroyed after a short grace whatever its
 * write buffer holds: a client that never reads cannot keep it (issue 14).
 */
import type net from 'node:net';

/** How long a connection a timer ended may take to flush its last words before it is destroyed. */
export const CLOSE_GRACE_MS = 2000;

export class Deadline {
  private timer: NodeJS.Timeout | undefined;
  /** When it fires (ms since the epoch); 0 when not armed. */
  at = 0;

  constructor(private readonly onExpire: () => void) {}

  get armed(): boolean {
    return this.timer !== undefined;
  }

  /** Fires `ms` from now (replacing an earlier time). */
  arm(ms: number): void {
    this.clear();
    this.at = Date.now() + ms;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.at = 0;
      this.onExpire();
    }, ms);
    this.timer.unref();
  }

  /** Moves the time `ms` later (a literal of known size gets time for its bytes). */
  extend(ms: number): void {
    if (!this.armed) return this.arm(ms);
    this.arm(this.at - Date.now() + ms);
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.at = 0;
  }
}

/**
 * Ends a connection a timer gave up on: the last words are written only when the
 * socket takes them at once (a socket whose writes never drain gets none), then FIN,
 * and the socket is destroyed after the grace whatever is still buffered.
 */
export function endWithin(socket: net.Socket, lastWords: string | undefined, graceMs = CLOSE_GRACE_MS): void {
  if (socket.destroyed) return;
  if (lastWords !== undefined && !socket.writableNeedDrain) socket.write(lastWords);
  socket.pause(); // nothing more is read: what the client still sends waits in its own buffers
  socket.end();
  setTimeout(() => hardClose(socket), graceMs).unref();
}

/**
 * Destroys a socket with a TCP RST when it can (plain TCP), so what the peer never read
 * is dropped at once: a plain close() leaves the kernel holding the unsent bytes of an
 * orphaned socket until the peer reads or the retries give up (minutes).
 */
export function hardClose(socket: net.Socket): void {
  if (socket.destroyed) return;
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy(); // a TLS socket's handle cannot be reset
  }
}
