/**
 * Wire-up only: load config → open the database → store, accounts, TLS, resolver
 * (src/startup/engines.ts) → start every configured listener (src/startup/listeners.ts).
 * `close()` stops accepting, lets running work finish (bounded), and closes the store
 * and database.
 */
import path from 'node:path';
import { loadConfig, type Config } from './config/index.js';
import type { Listener, ServerContext } from './context.js';
import type { Migration } from './db/migrations.js';
import { createServerLogger, type Logger } from './log.js';
import type { AcmeManager } from './acme/index.js';
import type { HttpListener } from './http/index.js';
import { stripForgedAuthResults } from './msgauth/forged-headers.js';
import { startQueue } from './queue/index.js';
import { report } from './smtp/report.js';
import type { InboundChecks } from './smtp/inbound.js';
import { checkConnection, checkInbound } from './smtp/policy.js';
import { cleanSpool } from './smtp/spool.js';
import { removeStaleFiles } from './util/fs.js';
import { stripSpamFields } from './spam/decide.js';
import type { StoreBackend } from './store/index.js';
import { checkDataRoot, openDataRoot } from './startup/data-root.js';
import { buildEngines } from './startup/engines.js';
import { StartupError } from './startup/error.js';
import { openListeners } from './startup/listeners.js';
import { reloadConfig, type ReloadResult } from './startup/reload.js';

export { StartupError } from './startup/error.js';
export type { ReloadResult } from './startup/reload.js';

export interface StartOptions {
  dataRoot: string;
  dev?: boolean;
  /** A complete config (tests); otherwise loaded from the data root. */
  config?: Config;
  /** The message store: Maildir (default), or in memory for fast protocol tests (src/store/index.ts). */
  storeBackend?: StoreBackend;
  log?: Logger;
  /** The schema migrations (tests add one that fails); MIGRATIONS by default. */
  migrations?: readonly Migration[];
}

export interface RunningServer {
  ctx: ServerContext;
  listeners: Map<string, Listener>;
  close(graceMs?: number): Promise<void>;
  /**
   * SIGHUP: reads the config again. A bad file is reported and the running config kept.
   * Settings consulted per connection or per message apply at once (src/startup/reload.ts);
   * the others are named in `needsRestart`.
   */
  reload(): ReloadResult;
}

/** Port 25's checks and header filtering (src/smtp/inbound.ts calls them). */
const INBOUND_CHECKS: InboundChecks = {
  checkConnection,
  checkInbound,
  filterHeader: (c, header) => {
    const h = stripForgedAuthResults(header, c.config.hostname).header;
    // Only our own X-Spam-* fields may stand in a stored message (src/spam/decide.ts).
    return c.config.spam.enabled ? stripSpamFields(h) : h;
  },
};

export async function startServer(opts: StartOptions): Promise<RunningServer> {
  const config = opts.config ?? loadConfig({ dataRoot: opts.dataRoot, dev: opts.dev });
  const logs = opts.log ? undefined : createServerLogger({ level: config.log.level, format: config.log.format, file: config.log.file, dataRoot: config.dataRoot });
  const log = opts.log ?? logs!.log;
  checkDataRoot(config.dataRoot);
  const { db, lock } = openDataRoot(config, log, opts.migrations, () => logs?.flush());
  const { ctx, accounts, quota, metrics } = buildEngines(config, log, db, opts.storeBackend);

  // What the temp directories hold belongs to transactions that never got their reply
  // (a crash, a kill): SMTP's spool/tmp and IMAP's tmp/imap (APPEND literals) are
  // emptied before the listeners open; the queue spool's orphans in startQueue.
  const removed = (await cleanSpool(config.dataRoot)) + (await removeStaleFiles(path.join(config.dataRoot, 'tmp', 'imap'), 0));
  if (removed > 0) log.info({ removed }, 'removed unacknowledged temp files left by a previous run');

  const listeners = new Map<string, Listener>();
  metrics.watch({ config, db, tls: ctx.tls, listeners });
  let acme: AcmeManager | undefined;
  // The queue runs before the listeners open: submission and forwarding aliases need it.
  const queue = (ctx.queue = startQueue(ctx, { report }));
  const closeAll = async (graceMs?: number) => {
    await Promise.all([...listeners.values()].map((l) => l.close(graceMs).catch((err) => log.error({ err, listener: l.name }, 'close failed'))));
    listeners.clear();
    await acme?.stop();
    await queue.stop(graceMs);
    ctx.tls.close();
    quota.close();
    await quota.settle();
    await ctx.spam?.close();
    await ctx.store.close();
    db.close();
    lock.release();
    logs?.flush();
    metrics.close();
  };

  try {
    const http = await openListeners(ctx, INBOUND_CHECKS, listeners);
    // /metrics (HTTP and HTTPS) and the web admin (HTTPS only): one route table serves both.
    const web = http ?? (listeners.get('https') as HttpListener | undefined);
    if (web) {
      (await import('./metrics/http.js')).registerMetricsRoute(web.routes, ctx, metrics);
      (await import('./admin/register.js')).registerWebRoutes(web.routes, { ctx, accounts });
    }
    if (config.tls.mode === 'acme') {
      if (!http) throw new StartupError('tls.mode = "acme" needs the HTTP listener for http-01 challenges');
      acme = (await import('./acme/index.js')).startAcme(ctx, http);
    }
  } catch (err) {
    await closeAll(0);
    throw err;
  }
  log.info(
    { hostname: config.hostname, dataRoot: config.dataRoot, listeners: Object.fromEntries([...listeners].map(([n, l]) => [n, l.port])) },
    'mail server started',
  );
  return { ctx, listeners, close: closeAll, reload: () => reloadConfig(config, opts.dev, log, logs) };
}
