/**
 * TCP_QUICKACK (Linux, tcp(7)): acknowledge what has arrived now instead of up to 40 ms
 * later (delayed ACK).
 *
 * Why a mail server needs it: a client that writes a command in two pieces without
 * TCP_NODELAY (python imaplib sends an APPEND literal, then the closing CRLF in a second
 * write) holds the second piece back (Nagle) until the first is acknowledged. Having
 * just answered the client ("+ Ready"), the kernel is in its interactive mode and delays
 * that ACK, hoping to carry it on a reply; but no reply can come before the line is
 * complete. Every such command then waits for the delayed-ACK timer: 40 ms per APPEND.
 * Dovecot sets TCP_QUICKACK before each read for this reason; Node has no API for it,
 * so the optional `sockopt` addon does the setsockopt(2). Without it (another OS, or
 * the addon missing) nothing happens and such clients are only slower.
 *
 * The flag is not sticky: the kernel re-enters its delayed mode on the next reply, so
 * callers set it each time they wait for the rest of a command.
 */
import { createRequire } from 'node:module';
import type net from 'node:net';

const IPPROTO_TCP = 6;
const TCP_QUICKACK = 12;

type SockOpt = {
  setsockopt(s: { _handle: { fd: number } }, level: number, opt: number, value: number): void;
  getsockopt(s: { _handle: { fd: number } }, level: number, opt: number): number;
};

let addon: SockOpt | null | undefined;

function load(): SockOpt | null {
  if (addon !== undefined) return addon;
  addon = null;
  if (process.platform !== 'linux') return addon;
  try {
    addon = createRequire(import.meta.url)('sockopt') as SockOpt;
  } catch {
    // optional dependency not installed or not built: no quick ACKs
  }
  return addon;
}

/** The file descriptor under a TCP socket, also through a TLS layer (STARTTLS or a TLS server). */
function fdOf(socket: net.Socket): number | undefined {
  type Inner = { _handle?: { fd?: number } | null; _parent?: Inner | null };
  const s = socket as unknown as Inner;
  for (const fd of [s._handle?.fd, s._parent?._handle?.fd]) if (typeof fd === 'number' && fd >= 0) return fd;
  return undefined;
}

/** Asks the kernel to acknowledge received data at once (see above). Never throws. */
export function quickAck(socket: net.Socket): void {
  const m = load();
  const fd = m && !socket.destroyed ? fdOf(socket) : undefined;
  if (fd === undefined) return;
  try {
    m!.setsockopt({ _handle: { fd } }, IPPROTO_TCP, TCP_QUICKACK, 1);
  } catch {
    // the socket closed meanwhile
  }
}

/** TCP_QUICKACK as the kernel reports it now (1: not delaying ACKs), or undefined where it cannot be read. */
export function quickAckState(socket: net.Socket): number | undefined {
  const m = load();
  const fd = m ? fdOf(socket) : undefined;
  if (fd === undefined) return undefined;
  return m!.getsockopt({ _handle: { fd } }, IPPROTO_TCP, TCP_QUICKACK);
}
