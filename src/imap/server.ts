/**
 * IMAP listeners: 143 with STARTTLS and 993 with implicit TLS (RFC 8314 §3.3), using the
 * shared TLS holder (SNI callback, so a renewed certificate applies to new connections
 * without a restart). Each accepted socket becomes an ImapConnection; closing the
 * listener stops accepting, says BYE to sessions between commands, lets a command under
 * way (an APPEND literal half sent) finish and then says BYE, and waits up to `graceMs`.
 */
import net from 'node:net';
import tls from 'node:tls';
import { BANNED_TEXT, connectRefusal } from '../accounts/login.js';
import type { Listener, ServerContext } from '../context.js';
import { newCid, type Logger } from '../log.js';
import { DEFAULT_TIMEOUTS, ImapConnection, type ImapTimeouts } from './connection.js';
import { listen } from '../util/listener.js';
import { PerIpLimit } from '../util/per-ip-limit.js';

export interface ImapListenOptions {
  port: number;
  implicitTls?: boolean;
  host?: string;
  /** Test hook: shorter timers. */
  timeouts?: Partial<ImapTimeouts>;
  /** LITERAL- instead of LITERAL+ (RFC 7888 §5): non-synchronizing literals up to 4096 octets only. */
  literalMinus?: boolean;
}

export async function startImap(ctx: ServerContext, opts: ImapListenOptions): Promise<Listener> {
  const name = opts.implicitTls ? 'imaps' : 'imap';
  const log = ctx.log.child({ proto: name });
  const conns = new Set<ImapConnection>();
  const onSocket = acceptor(ctx, opts, name, log, conns);
  const server = opts.implicitTls
    ? tls.createServer({ ...ctx.tls.serverOptions() }, onSocket)
    : net.createServer(onSocket);
  server.on('tlsClientError', (err) => log.debug({ err: err.message }, 'TLS handshake failed'));
  server.maxConnections = 10_000;
  // Clients without SNI (connecting by IP address) never reach the SNICallback: the
  // implicit-TLS server's default context must follow certificate reloads too.
  const detach = server instanceof tls.Server ? ctx.tls.attachServer(server) : () => undefined;
  const port = await listen(server, opts.port, opts.host ?? ctx.config.listenAddress, log, name);

  return {
    name,
    port,
    async close(graceMs = 1000): Promise<void> {
      detach();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const c of conns) c.shutdown('Server shutting down');
      const deadline = Date.now() + graceMs;
      while (conns.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      for (const c of conns) c.destroy();
      await closed;
    },
  };
}

/** Each accepted socket: the per-address limit, the ban list, then an ImapConnection in `conns` until it closes. */
function acceptor(ctx: ServerContext, opts: ImapListenOptions, name: string, log: Logger, conns: Set<ImapConnection>): (socket: net.Socket) => void {
  const perIp = new PerIpLimit(() => ctx.config.limits.maxConnectionsPerIp);
  const l = ctx.config.limits;
  const fromConfig = { loginDeadlineMs: l.loginDeadlineMs, commandDeadlineMs: l.commandDeadlineMs, literalMinRate: l.literalMinRate };
  const timeouts = { ...DEFAULT_TIMEOUTS, ...fromConfig, ...opts.timeouts };
  const appendLimit = ctx.config.limits.maxMessageSize;
  const limits = { implicitTls: !!opts.implicitTls, timeouts, appendLimit, maxLine: 64 * 1024, maxLiteral: 64 * 1024, spoolThreshold: 256 * 1024, literalMinus: !!opts.literalMinus };
  return (socket) => {
    const remote = socket.remoteAddress ?? '';
    const cid = newCid();
    const clog = log.child({ cid });
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    // Connections per client, an IPv6 client per /64 (src/util/per-ip-limit.ts).
    if (!perIp.enter(cid, remote)) {
      socket.end('* BYE Too many connections from your address\r\n');
      return;
    }
    // A banned client (src/accounts/bans.ts): BYE instead of the greeting (RFC 9051 §7.1.5).
    if (connectRefusal(ctx, remote, name)) {
      perIp.leave(cid);
      socket.end(`* BYE ${BANNED_TEXT}\r\n`);
      return;
    }
    clog.info({ remote, tls: !!opts.implicitTls }, 'connect');
    const conn = new ImapConnection(ctx, socket, limits, clog, remote, (c) => {
      conns.delete(c);
      perIp.leave(cid);
      clog.info('close');
    });
    conns.add(conn);
    void conn.greet();
  };
}
