/**
 * One SMTP listener for port 25 (src/smtp/inbound.ts) and submission on 587/465
 * (src/smtp/submission.ts): smtp-server with the options both share, smtp-server's
 * callback hooks wrapped once in async style (a hook throws `SmtpReject` to refuse;
 * anything else is logged and answered `451 4.3.0`), and the rules every listener keeps:
 *
 * - connections: per client address (IPv6 per /64, src/util/per-ip-limit.ts) →
 *   `421 4.7.0` before the greeting; per listener (`limits.max_connections`, smtp-server's
 *   `maxClients`) → `421`;
 * - deadlines (src/smtp/guard.ts): each command line and the TLS handshake within the
 *   command timeout, DATA at a minimum rate, and a socket that never drains destroyed;
 * - failed recipients (Postfix `smtpd_soft_error_limit` / `smtpd_hard_error_limit`):
 *   after the soft limit each refusal is answered `limits.smtp_error_delay_ms` late; at
 *   the hard limit the refusal is `421 4.7.0` and the connection is closed;
 * - shutdown: `close(graceMs)` stops accepting, lets transactions under way finish for
 *   graceMs (smtp-server answers new commands `421`), then ends what is left (`421`, and
 *   the socket destroyed after the guard's grace).
 */
import type { Readable } from 'node:stream';
import type { SMTPServerAddress, SMTPServerAuthentication, SMTPServerAuthenticationResponse, SMTPServerDataStream, SMTPServerOptions, SMTPServerSession } from 'smtp-server';
import type { Config } from '../config/index.js';
import type { Listener, ServerContext } from '../context.js';
import type { Logger } from '../log.js';
import { TLS12_CIPHERS } from '../tls/index.js';
import { PerIpLimit } from '../util/per-ip-limit.js';
import { ListenerGuards, type ConnectionGuard } from './guard.js';
import { Rejects, Reply, SmtpReject, replyFromData } from './reply.js';
import { SmtpServer } from './server.js';

/** What a listener keeps per connection (outside smtp-server's free-form session). */
export interface SmtpConn<Extra> {
  log: Logger;
  /** Transactions so far (the `tx` of log lines). */
  tx: number;
  /** The client has gone. */
  closed: boolean;
  guard?: ConnectionGuard;
  failedRcpts: number;
  extra: Extra;
}

/** The hooks a listener implements; each throws SmtpReject to refuse. */
export interface SmtpHooks<Extra> {
  /** After the per-address limit; undefined to greet the client. */
  connect?(session: SMTPServerSession, conn: SmtpConn<Extra>): Promise<void>;
  auth?(auth: SMTPServerAuthentication, session: SMTPServerSession, conn: SmtpConn<Extra>): Promise<SMTPServerAuthenticationResponse>;
  mailFrom(address: SMTPServerAddress, session: SMTPServerSession, conn: SmtpConn<Extra>): Promise<void>;
  rcptTo(address: SMTPServerAddress, session: SMTPServerSession, conn: SmtpConn<Extra>): Promise<void>;
  /** The whole DATA phase; resolves with the 250 text. */
  data(stream: SMTPServerDataStream, session: SMTPServerSession, conn: SmtpConn<Extra>): Promise<string>;
}

export interface SmtpListenerSpec<Extra> {
  name: 'smtp' | 'submission' | 'submissions';
  port: number;
  host?: string;
  /** The options that differ between listeners (banner, secure, AUTH, STARTTLS...). */
  options: Partial<SMTPServerOptions>;
  hooks: SmtpHooks<Extra>;
  extra(): Extra;
  /** Whether AUTH may be used on a connection now (submission: TLS, or loopback by config); src/smtp/server.ts. */
  authAllowed?(secure: boolean, remoteAddress: string): boolean;
}

/** Runs `hook`, answering smtp-server's callback; the guard does not count the time. */
function answer<T>(conn: SmtpConn<unknown>, what: string, run: () => Promise<T>, cb: (err?: Error | null, value?: T) => void): void {
  const done = conn.guard?.working() ?? (() => undefined);
  run().then(
    (v) => {
      done();
      cb(null, v);
    },
    (err: unknown) => {
      done();
      if (err instanceof SmtpReject) return cb(err);
      conn.log.error({ err }, `${what} failed`);
      cb(Rejects.localError());
    },
  );
}

/**
 * Postfix smtpd_soft_error_limit / smtpd_hard_error_limit, for recipients refused
 * "without delivering mail" (an accepted message starts the count again). Recipients
 * over the per-message limit (4.5.3) are not errors: the client sends them in the next
 * transaction (RFC 5321 §4.5.3.1.10).
 */
function rcptRefused(limits: Config['limits'], c: SmtpConn<unknown>, err: SmtpReject, cb: (err?: Error | null) => void): void {
  if (err.enhanced === '4.5.3') return cb(err);
  c.failedRcpts++;
  if (c.failedRcpts >= limits.smtpHardErrorLimit) {
    c.log.warn({ failed: c.failedRcpts }, 'too many refused recipients; closing');
    // RFC 5321 §3.8: 421, and smtp-server closes the connection after it.
    return cb(new SmtpReject(Reply.ServiceClosing, '4.7.0', 'Too many errors, closing connection'));
  }
  if (c.failedRcpts <= limits.smtpSoftErrorLimit) return cb(err);
  const done = c.guard?.working();
  setTimeout(() => {
    done?.();
    cb(err);
  }, limits.smtpErrorDelayMs).unref();
}

/** The smtp-server options every SMTP listener shares. */
function sharedOptions(ctx: ServerContext, name: SmtpListenerSpec<unknown>['name']): SMTPServerOptions {
  const { config } = ctx;
  const limits = config.limits;
  const pair = ctx.tls.currentPair();
  return {
    name: config.hostname,
    key: pair.key,
    cert: pair.cert,
    minVersion: ctx.tls.minVersion,
    ciphers: TLS12_CIPHERS,
    // RFC 2034: every reply carries its enhanced status code (552 5.3.4, 530 5.7.0, ...).
    hideENHANCEDSTATUSCODES: false,
    // REQUIRETLS (RFC 8689) binds every later hop to verified TLS; the queue does not
    // enforce that, so it is not offered.
    hideREQUIRETLS: true,
    // DSN (RFC 3461): RET, ENVID, NOTIFY, ORCPT, checked by smtp-server and src/smtp/params.ts.
    hideDSN: false,
    size: limits.maxMessageSize,
    rejectOversized: true,
    // The guard's deadlines end connections first; smtp-server's idle timer is the backstop.
    socketTimeout: limits.smtpIdleTimeoutMs * 2,
    // Shutdown is ended by the listener's close(), after its grace, not by smtp-server's timer.
    closeTimeout: 24 * 3600_000,
    maxClients: limits.maxConnections,
    disableReverseLookup: true,
    logger: ctx.metrics?.smtpLogger(name === 'smtp' ? 'smtp' : 'submission') ?? false,
  };
}

/** smtp-server's callback hooks, each wrapped once around the listener's async hook. */
function wrappedHooks<Extra>(
  ctx: ServerContext,
  hooks: SmtpHooks<Extra>,
  conns: ConnTable<Extra>,
  perIp: PerIpLimit,
): Pick<SMTPServerOptions, 'onConnect' | 'onSecure' | 'onClose' | 'onAuth' | 'onMailFrom' | 'onRcptTo' | 'onData'> {
  const limits = ctx.config.limits;
  return {
    onConnect(session, cb) {
      const c = conns.get(session);
      if (!perIp.enter(session.id, session.remoteAddress)) {
        c.log.warn({ ip: session.remoteAddress }, 'too many connections from this address');
        return cb(Rejects.tooManyConnections());
      }
      c.log.info({ ip: session.remoteAddress }, 'connect');
      if (!hooks.connect) return cb();
      answer(c, 'connection check', () => hooks.connect!(session, c), cb);
    },
    onSecure(socket, session, cb) {
      const c = conns.get(session);
      if (c.guard) c.guard.app = socket as never;
      cb();
    },
    onClose(session) {
      perIp.leave(session.id);
      conns.drop(session);
    },
    onAuth(auth, session, cb) {
      const c = conns.get(session);
      if (!hooks.auth) return cb(new SmtpReject(502, '5.5.1', 'AUTH not available here'));
      answer(c, 'login', () => hooks.auth!(auth, session, c), cb as (err?: Error | null, v?: SMTPServerAuthenticationResponse) => void);
    },
    onMailFrom(address, session, cb) {
      const c = conns.get(session);
      answer(c, 'sender check', () => hooks.mailFrom(address, session, c), cb);
    },
    onRcptTo(address, session, cb) {
      const c = conns.get(session);
      answer(c, 'recipient check', () => hooks.rcptTo(address, session, c), (err) => {
        if (err instanceof SmtpReject) return rcptRefused(limits, c, err, cb);
        cb(err);
      });
    },
    onData(stream, session, cb) {
      const c = conns.get(session);
      const g = c.guard;
      g?.dataStarted();
      let done: (() => void) | undefined;
      // The final dot: from here the server works on the answer.
      (stream as Readable).once('end', () => {
        g?.dataEnded();
        done = g?.working();
      });
      replyFromData(hooks.data(stream, session, c), stream, c.log, (err, reply) => {
        done?.();
        if (!err) c.failedRcpts = 0;
        cb(err, reply);
      });
    },
  };
}

/** The listener's per-connection state, by smtp-server session id (cleared at close). */
class ConnTable<Extra> {
  private readonly conns = new Map<string, SmtpConn<Extra>>();
  constructor(
    private readonly log: Logger,
    private readonly guards: ListenerGuards,
    private readonly extra: () => Extra,
  ) {}

  get(session: SMTPServerSession): SmtpConn<Extra> {
    let c = this.conns.get(session.id);
    if (!c) {
      c = { log: this.log.child({ cid: session.id }), tx: 0, closed: false, failedRcpts: 0, extra: this.extra() };
      c.guard = this.guards.find(session.remoteAddress, session.remotePort);
      this.conns.set(session.id, c);
    }
    return c;
  }

  drop(session: SMTPServerSession): void {
    const c = this.conns.get(session.id);
    if (!c) return;
    c.closed = true;
    c.log.info('close');
    this.conns.delete(session.id);
  }
}

/** Starts an SMTP listener; resolves once it listens. */
export async function startSmtpListener<Extra>(ctx: ServerContext, spec: SmtpListenerSpec<Extra>): Promise<Listener> {
  const { config } = ctx;
  const limits = config.limits;
  const baseLog = ctx.log.child({ proto: spec.name });
  const guards = new ListenerGuards(
    () => ({ commandTimeoutMs: limits.smtpIdleTimeoutMs, minDataRate: limits.smtpMinDataRate, dataTimeoutMs: limits.smtpDataTimeoutMs }),
    baseLog,
    config.hostname,
  );
  const conns = new ConnTable<Extra>(baseLog, guards, spec.extra);
  const perIp = new PerIpLimit(() => limits.maxConnectionsPerIp);
  const server = new SmtpServer({ ...sharedOptions(ctx, spec.name), ...spec.options, ...wrappedHooks(ctx, spec.hooks, conns, perIp) }, { authAllowed: spec.authAllowed });
  // Every socket, from its accept (before any TLS handshake), is under the guard.
  server.server.on('connection', (socket) => guards.accept(socket));

  // A failed listen (port taken) rejects here and is reported once by the caller;
  // smtp-server re-emits the net server's errors on itself.
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(spec.port, spec.host ?? config.listenAddress, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => baseLog.error({ err }, 'smtp server error'));
  const off = ctx.tls.onReload((p) => server.updateSecureContext({ key: p.key, cert: p.cert }));
  const addr = server.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : spec.port;
  baseLog.info({ port }, `${spec.name} listening`);

  return {
    name: spec.name,
    port,
    close: (graceMs = 5000) =>
      new Promise<void>((resolve) => {
        off();
        // Transactions under way get graceMs to finish (smtp-server answers new commands
        // 421 meanwhile); then the rest are ended, and destroyed after the guard's grace.
        const ending = setTimeout(() => guards.endAll('4.3.2 Server shutting down'), Math.max(0, graceMs));
        ending.unref();
        server.close(() => {
          clearTimeout(ending);
          resolve();
        });
      }),
  };
}
