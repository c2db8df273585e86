/**
 * The built-in HTTP listener (port 80; 8080 in the development profile).
 *
 * It serves only what a mail server needs over plain HTTP, from a small route table
 * that features register into:
 * - `/.well-known/acme-challenge/<token>`: ACME http-01 answers (RFC 8555 §8.3),
 *   registered by src/acme/ when `tls.mode = "acme"`;
 * - `/health`: 200 `{"status":"ok"}` for container health checks;
 * - client autoconfig and the MTA-STS policy (src/http/autoconfig.ts; RFC 8461 §3.2
 *   wants HTTPS for that one);
 * - `/metrics`: Prometheus metrics, to `metrics.allow` networks (src/metrics/http.ts);
 * - `/admin/…` and `/account/…`: the web admin and the users' pages, HTTPS only, to
 *   `admin.allow` networks, when `admin.enabled` (src/admin/).
 *
 * Routing: `routes.add(method, pathOrPrefix, handler)`. A path ending in `/` is a
 * prefix; the longest matching prefix wins, an exact path beats any prefix. A `GET`
 * route also answers `HEAD` (Node drops the body). Unknown path → 404, known path with
 * another method → 405 with `Allow`. A handler that throws gets a 500 and an error log
 * line; the client never sees the internal message.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Listener, ServerContext } from '../context.js';
import type { Logger } from '../log.js';

export interface RouteMatch {
  /** The request path (no query string), decoded. */
  path: string;
  /** For a prefix route: what follows the prefix; '' for an exact route. */
  rest: string;
  /** The parsed request URL. */
  url: URL;
}

export type HttpHandler = (req: IncomingMessage, res: ServerResponse, match: RouteMatch) => void | Promise<void>;

export interface HttpRoutes {
  /**
   * Registers `handler` for `method` ('GET', 'POST', … or '*') at `pathOrPrefix`
   * (a trailing `/` makes it a prefix). Returns a function that removes the route.
   * A later registration for the same method and path replaces the earlier one.
   */
  add(method: string, pathOrPrefix: string, handler: HttpHandler): () => void;
}

export interface HttpListener extends Listener {
  /** The route table (an HttpRoutes; pass it to a second listener to share it). */
  routes: RouteTable;
}

interface Route {
  method: string;
  path: string;
  prefix: boolean;
  handler: HttpHandler;
}

export class RouteTable implements HttpRoutes {
  private routes: Route[] = [];

  add(method: string, pathOrPrefix: string, handler: HttpHandler): () => void {
    const route: Route = { method: method.toUpperCase(), path: pathOrPrefix, prefix: pathOrPrefix.endsWith('/'), handler };
    this.routes = this.routes.filter((r) => !(r.method === route.method && r.path === route.path));
    this.routes.push(route);
    return () => {
      this.routes = this.routes.filter((r) => r !== route);
    };
  }

  /** The routes whose path matches, best first (exact, then longest prefix). */
  candidates(path: string): Route[] {
    return this.routes
      .filter((r) => (r.prefix ? path.startsWith(r.path) : path === r.path))
      .sort((a, b) => Number(a.prefix) - Number(b.prefix) || b.path.length - a.path.length);
  }
}

function methodMatches(route: Route, method: string): boolean {
  return route.method === '*' || route.method === method || (method === 'HEAD' && route.method === 'GET');
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data), 'Cache-Control': 'no-store' });
  res.end(data);
}

export function sendText(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/** One request: the route for its path and method (404, 405 with Allow), its handler, 500 on a throw. */
async function handleRequest(routes: RouteTable, log: Logger, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const method = (req.method ?? 'GET').toUpperCase();
  let url: URL;
  let path: string;
  try {
    url = new URL(req.url ?? '/', 'http://localhost');
    path = decodeURIComponent(url.pathname);
  } catch {
    sendText(res, 400, 'bad request\n');
    return;
  }
  const found = routes.candidates(path);
  const route = found.find((r) => methodMatches(r, method));
  if (!route) {
    if (found.length > 0) {
      const allow = [...new Set(found.map((r) => r.method))].join(', ');
      res.setHeader('Allow', allow);
      sendText(res, 405, 'method not allowed\n');
    } else {
      sendText(res, 404, 'not found\n');
    }
    log.debug({ method, path, status: res.statusCode, ip: req.socket.remoteAddress }, 'http request');
    return;
  }
  try {
    await route.handler(req, res, { path, rest: route.prefix ? path.slice(route.path.length) : '', url });
    log.debug({ method, path, status: res.statusCode, ip: req.socket.remoteAddress }, 'http request');
  } catch (err) {
    log.error({ method, path, err }, 'http handler failed');
    if (!res.headersSent) sendText(res, 500, 'internal error\n');
    else res.destroy();
  }
}

/**
 * Starts the HTTP listener on `host` (default: `config.listenAddress`) and `port`
 * (0 = any free port). `/health` is registered here; everything else by its feature.
 *
 * With `secure: true` it is an HTTPS listener with the shared TLS holder (`ctx.tls`,
 * reloads included), e.g. on 443 for MTA-STS policies (RFC 8461 §3.2 requires HTTPS);
 * pass the HTTP listener's `routes` to serve the same table on both.
 */
export async function startHttp(
  ctx: Pick<ServerContext, 'config' | 'log'> & Partial<Pick<ServerContext, 'tls'>>,
  opts: { port: number; host?: string; secure?: boolean; routes?: RouteTable },
): Promise<HttpListener> {
  const name = opts.secure ? 'https' : 'http';
  const log = ctx.log.child({ proto: name });
  const routes = opts.routes ?? new RouteTable();
  if (!opts.routes) routes.add('GET', '/health', (_req, res) => sendJson(res, 200, { status: 'ok' }));

  const serverOpts = { requestTimeout: 30_000, headersTimeout: 15_000, keepAliveTimeout: 5_000 };
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    void handleRequest(routes, log, req, res);
  };
  let detach = () => {};
  let server: http.Server;
  if (opts.secure) {
    if (!ctx.tls) throw new Error('startHttp({ secure: true }) needs ctx.tls');
    const s = https.createServer({ ...serverOpts, ...ctx.tls.serverOptions() }, onRequest);
    detach = ctx.tls.attachServer(s);
    s.on('tlsClientError', (err) => log.debug({ err: err.message }, 'tls handshake failed'));
    server = s;
  } else {
    server = http.createServer(serverOpts, onRequest);
  }

  const host = opts.host ?? ctx.config.listenAddress;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => log.error({ err }, `${name} listener error`));
  const port = (server.address() as AddressInfo).port;
  log.info({ host, port }, `${name} listening`);

  return {
    name,
    port,
    routes,
    close(graceMs = 2_000): Promise<void> {
      return new Promise<void>((resolve) => {
        const timer = setTimeout(() => server.closeAllConnections(), graceMs);
        timer.unref();
        detach();
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      });
    },
  };
}
