/**
 * Every configured listener, in order: HTTP first (HTTPS shares its routes), then SMTP,
 * submission, IMAP, POP3, ManageSieve. Each is started by its own module's
 * `startX(ctx, { port, … })`; a port of -1 disables it, 0 picks a free one (tests).
 */
import type { Listener, ServerContext } from '../context.js';
import type { HttpListener } from '../http/index.js';
import { startInbound, type InboundChecks } from '../smtp/inbound.js';
import { StartupError } from './error.js';

type Starter = (ctx: ServerContext, port: number, host: string) => Promise<Listener>;

/**
 * Starts the listeners into `listeners` (the map the caller closes, so a failure half-way
 * leaves nothing open once it has). Returns the plain HTTP listener when there is one.
 */
export async function openListeners(ctx: ServerContext, checks: InboundChecks, listeners: Map<string, Listener>): Promise<HttpListener | undefined> {
  const config = ctx.config;
  const web: { http?: HttpListener } = {};
  for (const [name, port, start] of starters(config.ports, checks, listeners, web)) {
    if (port < 0) continue;
    try {
      listeners.set(name, await start(ctx, port, config.listenAddress));
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'EADDRINUSE') throw new StartupError(`${name}: port ${port} on ${config.listenAddress} is already in use`);
      if (e.code === 'EACCES') throw new StartupError(`${name}: no permission to listen on port ${port} (use ports above 1024, run as root, or grant CAP_NET_BIND_SERVICE)`);
      throw err;
    }
  }
  return web.http;
}

function starters(ports: ServerContext['config']['ports'], checks: InboundChecks, listeners: Map<string, Listener>, web: { http?: HttpListener }): Array<[string, number, Starter]> {
  const portOf = (name: keyof typeof ports): number => listeners.get(name)?.port ?? ports[name];
  return [
    [
      'http',
      ports.http,
      async (c, port, host) => {
        const [{ startHttp }, { registerAutoconfig }] = await Promise.all([import('../http/index.js'), import('../http/autoconfig.js')]);
        const http = (web.http = await startHttp(c, { port, host }));
        registerAutoconfig(http.routes, c, portOf);
        return http;
      },
    ],
    [
      // The same routes over TLS with the server's certificate: MTA-STS policies (RFC 8461
      // §3.3: HTTPS only) and Outlook's autodiscover are fetched over HTTPS.
      'https',
      ports.https,
      async (c, port, host) => {
        const { startHttp } = await import('../http/index.js');
        // One route table for both when the HTTP listener runs (started just before).
        if (web.http) return startHttp(c, { port, host, secure: true, routes: web.http.routes });
        const { registerAutoconfig } = await import('../http/autoconfig.js');
        const https = await startHttp(c, { port, host, secure: true });
        registerAutoconfig(https.routes, c, portOf);
        return https;
      },
    ],
    ['smtp', ports.smtp, (c, port, host) => startInbound(c, { port, host, checks })],
    // A protocol's modules load only when one of its listeners is enabled (memory).
    ['submission', ports.submission, async (c, port, host) => (await import('../smtp/submission.js')).startSubmission(c, { port, host })],
    ['submissions', ports.submissions, async (c, port, host) => (await import('../smtp/submission.js')).startSubmission(c, { port, host, implicitTls: true })],
    ['imap', ports.imap, async (c, port, host) => (await import('../imap/server.js')).startImap(c, { port, host })],
    ['imaps', ports.imaps, async (c, port, host) => (await import('../imap/server.js')).startImap(c, { port, host, implicitTls: true })],
    ['pop3', ports.pop3, async (c, port, host) => (await import('../pop3/server.js')).startPop3(c, { port, host })],
    ['pop3s', ports.pop3s, async (c, port, host) => (await import('../pop3/server.js')).startPop3(c, { port, host, implicitTls: true })],
    ['managesieve', ports.managesieve, async (c, port, host) => (await import('../managesieve/server.js')).startManageSieve(c, { port, host })],
  ];
}
