/**
 * The ManageSieve listener (RFC 5804), port 4190 (development profile 14190):
 * plaintext with STARTTLS (§2.2), then AUTHENTICATE PLAIN; mail clients (Roundcube's
 * managesieve plugin, Thunderbird's Sieve add-on, KMail, sieve-connect) upload, list,
 * activate and check the account's Sieve scripts with it.
 *
 * Limits: connections per client IP (`limits.max_connections_per_ip`), command lines of
 * MAX_LINE bytes, literals up to the script size limit (larger ones are read and
 * dropped, then refused with NO (QUOTA/MAXSIZE); absurd ones end the connection),
 * an idle timeout between commands and a deadline per command, bad commands
 * (`limits.max_bad_commands`) and three failed logins per connection.
 *
 * Graceful close: stop accepting, BYE to idle connections, let a running command
 * finish, destroy what is left after the grace period.
 */
import net from 'node:net';
import { BANNED_TEXT, connectRefusal } from '../accounts/login.js';
import type { Listener, ServerContext } from '../context.js';
import { childFor } from '../log.js';
import { closeGracefully, listen } from '../util/listener.js';
import { PerIpLimit } from '../util/per-ip-limit.js';
import { capabilities, dispatch } from './commands.js';
import { MsConnection } from './connection.js';

export interface ManageSieveOptions {
  port: number;
  host?: string;
  idleTimeoutMs?: number;
  commandTimeoutMs?: number;
}

/** Command lines (without literals): AUTHENTICATE with a long password fits easily. */
export const MAX_LINE = 8 * 1024;
export const DEFAULT_IDLE_TIMEOUT_MS = 10 * 60_000;
export const DEFAULT_COMMAND_TIMEOUT_MS = 60_000;

export async function startManageSieve(ctx: ServerContext, opts: ManageSieveOptions): Promise<Listener> {
  const log = ctx.log.child({ listener: 'managesieve' });
  const conns = new Set<MsConnection>();
  const perIp = new PerIpLimit(() => ctx.config.limits.maxConnectionsPerIp);
  let seq = 0;

  /** Counts the connection in (out at close); false, and a BYE, when its address is at the limit. */
  const admit = (socket: net.Socket): boolean => {
    const id = String(++seq);
    const ip = socket.remoteAddress ?? '';
    if (!perIp.enter(id, ip)) {
      log.warn({ ip }, 'managesieve too many connections from one address');
      socket.end('BYE (TRYLATER) "Too many connections from your address"\r\n');
      return false;
    }
    socket.once('close', () => perIp.leave(id));
    return true;
  };

  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    // A banned client is told so and let go before anything else (src/accounts/bans.ts).
    if (connectRefusal(ctx, socket.remoteAddress, 'managesieve')) {
      socket.end(`BYE (TRYLATER) "${BANNED_TEXT}"\r\n`);
      return;
    }
    if (!admit(socket)) return;
    const clog = childFor(ctx.log, 'managesieve');
    clog.info({ remote: socket.remoteAddress }, 'managesieve connect');
    const max = ctx.config.sieve.maxScriptSize;
    const conn = new MsConnection(
      ctx,
      socket,
      {
        secure: false,
        idleTimeoutMs: opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
        commandTimeoutMs: opts.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
        limits: { maxLine: MAX_LINE, maxLiteral: max, maxDiscard: Math.max(16 * max, 16 * 1024 * 1024) },
        log: clog,
      },
      dispatch,
    );
    conns.add(conn);
    void conn.run(() => capabilities(conn)).finally(() => {
      conns.delete(conn);
      clog.info('managesieve close');
    });
  });

  const port = await listen(server, opts.port, opts.host ?? ctx.config.listenAddress, log, 'managesieve');
  return {
    name: 'managesieve',
    port,
    close: (graceMs = 5000) => closeGracefully(server, conns, graceMs),
  };
}
