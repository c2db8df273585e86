/**
 * `GET /metrics`: the Prometheus text exposition of the server's Metrics, on the HTTP
 * listener (and on HTTPS, which shares the route table). Only clients in
 * `metrics.allow` (loopback by default) get it; others get 403, so a scraper elsewhere
 * needs the network listed, a reverse proxy or an SSH tunnel. `metrics.enabled = false`
 * answers 404. Both settings are read per request (config reload applies at once).
 */
import type { ServerContext } from '../context.js';
import { sendText, type HttpRoutes } from '../http/index.js';
import { cachedNetworkMatcher } from '../util/net.js';
import type { Metrics } from './index.js';

export function registerMetricsRoute(routes: HttpRoutes, ctx: Pick<ServerContext, 'config' | 'log'>, metrics: Metrics): () => void {
  const allowed = cachedNetworkMatcher();
  return routes.add('GET', '/metrics', async (req, res) => {
    const cfg = ctx.config.metrics;
    if (!cfg.enabled) return sendText(res, 404, 'not found\n');
    if (!allowed(cfg.allow, req.socket.remoteAddress ?? '')) return sendText(res, 403, 'forbidden: this address is not in metrics.allow\n');
    res.setHeader('Cache-Control', 'no-store');
    sendText(res, 200, await metrics.render(), metrics.contentType);
  });
}
