/**
 * POP3 listeners: port 110 (plaintext with STLS, RFC 2595 §4) and 995 (implicit TLS,
 * RFC 8314 §3.3). Both take the certificate from the shared TLS holder per connection
 * (SNI callback / current context), so a renewed certificate applies without restart.
 *
 * Per-IP connection limit (`limits.maxConnectionsPerIp`); graceful close: stop
 * accepting, close idle connections at once, let a running command (a RETR, the
 * UPDATE of a QUIT) finish, and destroy whatever is left after the grace period.
 */
import net from 'node:net';
import tls from 'node:tls';
import { BANNED_TEXT, connectRefusal } from '../accounts/login.js';
import type { Listener, ServerContext } from '../context.js';
import { childFor, type Logger } from '../log.js';
import { Pop3Connection } from './connection.js';
import { closeGracefully, listen } from '../util/listener.js';
import { PerIpLimit } from '../util/per-ip-limit.js';
import { CLOSE_GRACE_MS } from '../util/deadline.js';

export interface Pop3ListenOptions {
  port: number;
  /** Port 995 style: TLS from the first byte. */
  implicitTls?: boolean;
  host?: string;
  /** RFC 1939 §3: at least 10 minutes; tests may shorten it. */
  idleTimeoutMs?: number;
  /** Test hook; `limits.login_deadline_ms` otherwise. */
  loginDeadlineMs?: number;
  /** Longest accepted command line, CRLF included. */
  maxLineLength?: number;
  /** How long a connection a timer ended may still drain its output (CLOSE_GRACE_MS otherwise); tests shorten it. */
  closeGraceMs?: number;
}

/** RFC 1939 §3: "an autologout timer ... of at least 10 minutes". */
export const DEFAULT_IDLE_TIMEOUT_MS = 10 * 60_000;
/** RFC 2449 §4 says 255 octets per command; AUTH PLAIN responses and long passwords need more. */
export const DEFAULT_MAX_LINE = 1024;

export async function startPop3(ctx: ServerContext, opts: Pop3ListenOptions): Promise<Listener> {
  const name = opts.implicitTls ? 'pop3s' : 'pop3';
  const log = ctx.log.child({ listener: name });
  const conns = new Set<Pop3Connection>();
  const admit = admitter(ctx, log, !!opts.implicitTls);

  const serve = (socket: net.Socket, secure: boolean): void => {
    // A banned client (src/accounts/bans.ts) is refused before the greeting, over TLS on 995.
    if (connectRefusal(ctx, socket.remoteAddress, name)) {
      socket.end(`-ERR [SYS/TEMP] ${BANNED_TEXT}\r\n`);
      return;
    }
    const clog = childFor(ctx.log, 'pop3');
    clog.info({ remote: socket.remoteAddress, tls: secure }, 'pop3 connect');
    const conn = new Pop3Connection(ctx, socket, {
      secure,
      idleTimeoutMs: opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
      loginDeadlineMs: opts.loginDeadlineMs ?? ctx.config.limits.loginDeadlineMs,
      commandDeadlineMs: ctx.config.limits.commandDeadlineMs,
      maxLineLength: opts.maxLineLength ?? DEFAULT_MAX_LINE,
      closeGraceMs: opts.closeGraceMs ?? CLOSE_GRACE_MS,
      log: clog,
    });
    conns.add(conn);
    void conn.run().finally(() => conns.delete(conn));
  };

  const { server, offReload } = opts.implicitTls ? implicitTlsServer(ctx, log, admit, serve) : plainServer(admit, serve);
  const port = await listen(server, opts.port, opts.host ?? ctx.config.listenAddress, log, 'pop3');
  return {
    name,
    port,
    async close(graceMs = 5000): Promise<void> {
      offReload?.();
      await closeGracefully(server, conns, graceMs);
    },
  };
}

type Admit = (raw: net.Socket) => boolean;
type Serve = (socket: net.Socket, secure: boolean) => void;

/** Counts the raw TCP connection; false (and the socket is closed) when over the per-address limit. */
function admitter(ctx: ServerContext, log: Logger, implicitTls: boolean): Admit {
  const perIp = new PerIpLimit(() => ctx.config.limits.maxConnectionsPerIp);
  let seq = 0;
  return (raw) => {
    const ip = raw.remoteAddress ?? '';
    const id = String(++seq);
    // Connections per client, an IPv6 client per /64 (src/util/per-ip-limit.ts).
    if (!perIp.enter(id, ip)) {
      log.warn({ ip }, 'pop3 too many connections from one address');
      if (!implicitTls) raw.end('-ERR [SYS/TEMP] Too many connections from your address\r\n');
      else raw.destroy();
      return false;
    }
    raw.once('close', () => perIp.leave(id));
    return true;
  };
}

function plainServer(admit: Admit, serve: Serve): { server: net.Server; offReload?: () => void } {
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    if (!admit(socket)) return;
    serve(socket, false);
  });
  return { server };
}

/** Port 995: counted at TCP accept, served once the handshake is done. */
function implicitTlsServer(ctx: ServerContext, log: Logger, admit: Admit, serve: Serve): { server: net.Server; offReload: () => void } {
  const server = tls.createServer({ ...ctx.tls.serverOptions() });
  server.on('connection', (raw: net.Socket) => {
    raw.on('error', () => undefined); // reported by the TLS socket or tlsClientError
    admit(raw);
  });
  server.on('secureConnection', (socket: tls.TLSSocket) => {
    if (socket.destroyed) return;
    serve(socket, true);
  });
  server.on('tlsClientError', (err) => log.debug({ err: err.message }, 'pop3s handshake failed'));
  // Clients that send no SNI (connecting by IP address) get the server's default
  // context, not the SNI callback's: replace it too when the certificate changes.
  const offReload = ctx.tls.onReload(() => server.setSecureContext({ ...ctx.tls.serverOptions() }));
  return { server, offReload };
}
