/**
 * Puts the web admin (/admin) and the account pages (/account) into the HTTP route
 * table. The pages' code (src/admin/app.ts and its pages) loads at the first request
 * while `admin.enabled` is true, so a server that never uses them does not carry them;
 * `admin.enabled` and the other `admin.*` settings are read per request (a config
 * reload switches the pages on or off).
 */
import type { HttpHandler, HttpRoutes } from '../http/index.js';
import { sendText } from '../http/index.js';
import type { WebApp } from './app.js';
import type { WebDeps } from './types.js';

export function registerWebRoutes(routes: HttpRoutes, deps: WebDeps): () => void {
  let app: Promise<WebApp> | undefined;
  const handler: HttpHandler = async (req, res, match) => {
    if (!deps.ctx.config.admin.enabled) return sendText(res, 404, 'not found\n');
    app ??= import('./app.js').then((m) => new m.WebApp(deps));
    await (await app).handle(req, res, match);
  };
  const offs = ['/admin', '/admin/', '/account', '/account/'].map((p) => routes.add('*', p, handler));
  return () => offs.forEach((off) => off());
}
