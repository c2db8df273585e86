/**
 * Wire-up only: load config → open the database → store, accounts, TLS, resolver →
 * start every configured listener. `close()` stops accepting, lets running work finish
 * (bounded), and closes the store and database.
 *
 * Each listener is started by its own module's `startX(ctx, { port, … })`; a port of
 * -1 disables it, 0 picks a free one (tests).
 */
import { accessSync, constants, mkdirSync } from 'node:fs';
import path from 'node:path';
import { BanList } from './accounts/bans.js';
import { AccountsRepo } from './accounts/repo.js';
import { LoginThrottle } from './accounts/throttle.js';
import { loadConfig, type Config } from './config/index.js';
import type { Listener, ServerContext } from './context.js';
import { DataRootBusyError, lockDataRoot } from './backup/lock.js';
import { dbPath, HalfMigratedError, MigrationError, openDb, type Db } from './db/index.js';
import type { Migration } from './db/migrations.js';
import { createResolver } from './dns/resolver.js';
import { createServerLogger, type Logger } from './log.js';
import type { AcmeManager } from './acme/index.js';
import type { HttpListener } from './http/index.js';
import { analyzeMessage } from './imap/mime/analyze.js';
import { Metrics } from './metrics/index.js';
import { instrumentStore } from './metrics/store.js';
import { stripForgedAuthResults } from './msgauth/forged-headers.js';
import { startQueue, type QueueRunner } from './queue/index.js';
import { report } from './smtp/report.js';
import { QuotaService } from './quota/index.js';
import { startInbound, type InboundChecks } from './smtp/inbound.js';
import { checkConnection, checkInbound } from './smtp/policy.js';
import { cleanSpool } from './smtp/spool.js';
import { removeStaleFiles } from './util/fs.js';
import { srsOf } from './sieve/deliver.js';
import { withSrsRecipients } from './sieve/srs.js';
import { stripSpamFields } from './spam/decide.js';
import { SpamService } from './spam/index.js';
import { createStore, type StoreBackend } from './store/index.js';
import { createTlsHolder } from './tls/index.js';

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
   * Settings consulted per connection or per message apply at once (HOT_SECTIONS); the
   * others are named in `needsRestart`.
   */
  reload(): ReloadResult;
}

export interface ReloadResult {
  applied: string[];
  needsRestart: string[];
  error?: string;
}

/** Config sections read afresh by every connection, message or queue run. */
const HOT_SECTIONS = ['auth', 'checks', 'submission', 'queue', 'log', 'quota', 'sieve', 'metrics', 'admin', 'spam'] as const;

export class StartupError extends Error {}

type Starter = (ctx: ServerContext, port: number, host: string) => Promise<Listener>;

export async function startServer(opts: StartOptions): Promise<RunningServer> {
  const config = opts.config ?? loadConfig({ dataRoot: opts.dataRoot, dev: opts.dev });
  const logs = opts.log ? undefined : createServerLogger({ level: config.log.level, format: config.log.format, file: config.log.file, dataRoot: config.dataRoot });
  const log = opts.log ?? logs!.log;
  checkDataRoot(config.dataRoot);
  const { db, lock } = openDataRoot(config, log, opts.migrations, () => logs?.flush());
  const metrics = new Metrics();
  // The store asks the quota service (built right after it) for limits.
  const late: { quota?: QuotaService } = {};
  const store = instrumentStore(
    createStore({
      dataRoot: config.dataRoot,
      backend: opts.storeBackend,
      log: log.child({ component: 'store' }),
      analyzer: analyzeMessage,
      quotaOf: (account) => late.quota?.quotaOf(account),
    }),
    metrics,
  );
  // config.auth is replaced in place on reload: hashing cost, cache lifetime, penalty and bans follow it.
  const accounts = new AccountsRepo(db, store, { passwords: () => config.auth });
  const quota = (late.quota = new QuotaService({ db, accounts, store, config, log }));
  const tls = createTlsHolder(config, log);
  const resolver = createResolver({ servers: config.dns.servers, timeoutMs: config.dns.timeoutMs });
  const loginThrottle = new LoginThrottle(config.auth, new BanList(db), log.child({ component: 'auth' }));
  metrics.observeLogins(loginThrottle);
  const ctx: ServerContext = { config, log, db, accounts, store, tls, resolver, quota, loginThrottle, metrics };
  // Sieve redirects send with SRS senders; bounces to those resolve to the original sender.
  ctx.accounts = withSrsRecipients(accounts, srsOf(ctx));
  quota.start().catch((err: unknown) => log.warn({ err }, 'quota usage scan failed'));
  // Trains on the store's changes whatever moves a message; scores port 25's mail.
  ctx.spam = new SpamService({ config, log, db, store });

  // What the temp directories hold belongs to transactions that never got their reply
  // (a crash, a kill): SMTP's spool/tmp and IMAP's tmp/imap (APPEND literals) are
  // emptied before the listeners open; the queue spool's orphans in startQueue.
  const removed = (await cleanSpool(config.dataRoot)) + (await removeStaleFiles(path.join(config.dataRoot, 'tmp', 'imap'), 0));
  if (removed > 0) log.info({ removed }, 'removed unacknowledged temp files left by a previous run');

  const checks: InboundChecks = {
    checkConnection,
    checkInbound,
    filterHeader: (c, header) => {
      const h = stripForgedAuthResults(header, c.config.hostname).header;
      // Only our own X-Spam-* fields may stand in a stored message (src/spam/decide.ts).
      return c.config.spam.enabled ? stripSpamFields(h) : h;
    },
  };

  const listeners = new Map<string, Listener>();
  metrics.watch({ config, db, tls, listeners });
  let http: HttpListener | undefined;
  const starters: Array<[string, number, Starter]> = [
    [
      'http',
      config.ports.http,
      async (c, port, host) => {
        const [{ startHttp }, { registerAutoconfig }] = await Promise.all([import('./http/index.js'), import('./http/autoconfig.js')]);
        http = await startHttp(c, { port, host });
        registerAutoconfig(http.routes, c, (name) => listeners.get(name)?.port ?? config.ports[name]);
        return http;
      },
    ],
    [
      // The same routes over TLS with the server's certificate: MTA-STS policies (RFC 8461
      // §3.3: HTTPS only) and Outlook's autodiscover are fetched over HTTPS.
      'https',
      config.ports.https,
      async (c, port, host) => {
        const { startHttp } = await import('./http/index.js');
        // One route table for both when the HTTP listener runs (started just before).
        if (http) return startHttp(c, { port, host, secure: true, routes: http.routes });
        const { registerAutoconfig } = await import('./http/autoconfig.js');
        const https = await startHttp(c, { port, host, secure: true });
        registerAutoconfig(https.routes, c, (name) => listeners.get(name)?.port ?? config.ports[name]);
        return https;
      },
    ],
    ['smtp', config.ports.smtp, (c, port, host) => startInbound(c, { port, host, checks })],
    // A protocol's modules load only when one of its listeners is enabled (memory).
    ['submission', config.ports.submission, async (c, port, host) => (await import('./smtp/submission.js')).startSubmission(c, { port, host })],
    ['submissions', config.ports.submissions, async (c, port, host) => (await import('./smtp/submission.js')).startSubmission(c, { port, host, implicitTls: true })],
    ['imap', config.ports.imap, async (c, port, host) => (await import('./imap/server.js')).startImap(c, { port, host })],
    ['imaps', config.ports.imaps, async (c, port, host) => (await import('./imap/server.js')).startImap(c, { port, host, implicitTls: true })],
    ['pop3', config.ports.pop3, async (c, port, host) => (await import('./pop3/server.js')).startPop3(c, { port, host })],
    ['pop3s', config.ports.pop3s, async (c, port, host) => (await import('./pop3/server.js')).startPop3(c, { port, host, implicitTls: true })],
    ['managesieve', config.ports.managesieve, async (c, port, host) => (await import('./managesieve/server.js')).startManageSieve(c, { port, host })],
  ];

  let acme: AcmeManager | undefined;
  // The queue runs before the listeners open: submission and forwarding aliases need it.
  const queue: QueueRunner = startQueue(ctx, { report });
  ctx.queue = queue;
  const closeAll = async (graceMs?: number) => {
    await Promise.all([...listeners.values()].map((l) => l.close(graceMs).catch((err) => log.error({ err, listener: l.name }, 'close failed'))));
    listeners.clear();
    await acme?.stop();
    await queue.stop(graceMs);
    tls.close();
    quota.close();
    await quota.settle();
    await ctx.spam?.close();
    await store.close();
    db.close();
    lock.release();
    logs?.flush();
    metrics.close();
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
  const reload = (): ReloadResult => {
    let fresh: Config;
    try {
      fresh = loadConfig({ dataRoot: config.dataRoot, dev: opts.dev });
    } catch (err) {
      log.error({ err: (err as Error).message }, 'config reload failed; keeping the running config');
      return { applied: [], needsRestart: [], error: (err as Error).message };
    }
    const result: ReloadResult = { applied: [], needsRestart: [] };
    const cur = config as unknown as Record<string, unknown>;
    const next = fresh as unknown as Record<string, unknown>;
    for (const key of Object.keys(next)) {
      if (key === 'dev' || JSON.stringify(cur[key]) === JSON.stringify(next[key])) continue;
      if ((HOT_SECTIONS as readonly string[]).includes(key)) {
        // Replace in place: every module holds the same config object.
        Object.assign(cur[key] as object, next[key]);
        result.applied.push(key);
      } else {
        result.needsRestart.push(key);
      }
    }
    if (result.applied.includes('log')) log.level = config.log.level;
    // logrotate moved the file: write to a new one under the configured name.
    logs?.reopen();
    log.info(result, 'config reloaded');
    return result;
  };
  return { ctx, listeners, close: closeAll, reload };
}

/**
 * Takes the data root (one server per data root: `mailserver.pid`) and opens the
 * database, upgrading its schema behind a snapshot (src/db/upgrade.ts). A failed or
 * half-done upgrade stops the start with one line saying what to do.
 */
function openDataRoot(config: Config, log: Logger, migrations: readonly Migration[] | undefined, flushLog: () => void): { db: Db; lock: { release(): void } } {
  let lock;
  try {
    lock = lockDataRoot(config.dataRoot, 'serve');
  } catch (err) {
    if (err instanceof DataRootBusyError) throw new StartupError(err.message);
    throw err;
  }
  try {
    const db = openDb(dbPath(config.dataRoot), {
      migrations,
      keepSnapshots: config.backup.keepSnapshots,
      onSnapshot: (e) => log.info({ snapshot: e.taken?.name, pruned: e.pruned }, 'database upgraded; snapshot of the previous version kept'),
    });
    return { db, lock };
  } catch (err) {
    lock.release();
    if (err instanceof MigrationError || err instanceof HalfMigratedError) {
      log.fatal({ err: err.message }, 'database upgrade failed; not starting');
      flushLog();
      throw new StartupError(err.message);
    }
    throw err;
  }
}

function checkDataRoot(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK | constants.R_OK);
  } catch (err) {
    throw new StartupError(`data root ${dir} is not writable: ${(err as Error).message}`);
  }
}
