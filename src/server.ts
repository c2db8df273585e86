/**
 * Wire-up only: load config → open the database → store, accounts, TLS, resolver →
 * start every configured listener. `close()` stops accepting, lets running work finish
 * (bounded), and closes the store and database.
 *
 * Each listener is started by its own module's `startX(ctx, { port, … })`; a port of
 * -1 disables it, 0 picks a free one (tests).
 */
import { accessSync, constants, mkdirSync } from 'node:fs';
import { AccountsRepo } from './accounts/repo.js';
import { loadConfig, type Config } from './config/index.js';
import type { Listener, ServerContext } from './context.js';
import { dbPath, openDb } from './db/index.js';
import { createResolver } from './dns/resolver.js';
import { createLogger, type Logger } from './log.js';
import { startInbound } from './smtp/inbound.js';
import { cleanSpool } from './smtp/spool.js';
import { createStore } from './store/index.js';
import { loadOrCreateSelfSigned, TlsContextHolder } from './tls/index.js';

export interface StartOptions {
  dataRoot: string;
  dev?: boolean;
  /** A complete config (tests); otherwise loaded from the data root. */
  config?: Config;
  log?: Logger;
}

export interface RunningServer {
  ctx: ServerContext;
  listeners: Map<string, Listener>;
  close(graceMs?: number): Promise<void>;
}

export class StartupError extends Error {}

type Starter = (ctx: ServerContext, port: number, host: string) => Promise<Listener>;

export async function startServer(opts: StartOptions): Promise<RunningServer> {
  const config = opts.config ?? loadConfig({ dataRoot: opts.dataRoot, dev: opts.dev });
  const log = opts.log ?? createLogger(config.log.level);
  checkDataRoot(config.dataRoot);

  const db = openDb(dbPath(config.dataRoot));
  const store = createStore({ dataRoot: config.dataRoot, log: log.child({ component: 'store' }) });
  const accounts = new AccountsRepo(db, store);
  const tls = new TlsContextHolder(loadOrCreateSelfSigned(config.dataRoot, config.hostname), config.tls.minVersion);
  const resolver = createResolver({ servers: config.dns.servers, timeoutMs: config.dns.timeoutMs });
  const ctx: ServerContext = { config, log, db, accounts, store, tls, resolver };

  const removed = await cleanSpool(config.dataRoot);
  if (removed > 0) log.info({ removed }, 'removed unacknowledged spool files left by a previous run');

  const starters: Array<[string, number, Starter]> = [
    ['smtp', config.ports.smtp, (c, port, host) => startInbound(c, { port, host })],
  ];

  const listeners = new Map<string, Listener>();
  const closeAll = async (graceMs?: number) => {
    await Promise.all([...listeners.values()].map((l) => l.close(graceMs).catch((err) => log.error({ err, listener: l.name }, 'close failed'))));
    listeners.clear();
    await store.close();
    db.close();
  };
  try {
    for (const [name, port, start] of starters) {
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
  } catch (err) {
    await closeAll(0);
    throw err;
  }
  log.info(
    { hostname: config.hostname, dataRoot: config.dataRoot, listeners: Object.fromEntries([...listeners].map(([n, l]) => [n, l.port])) },
    'mail server started',
  );
  return { ctx, listeners, close: closeAll };
}

function checkDataRoot(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK | constants.R_OK);
  } catch (err) {
    throw new StartupError(`data root ${dir} is not writable: ${(err as Error).message}`);
  }
}
