/**
 * The parts every protocol shares, built once at start in dependency order: store,
 * accounts, quota, TLS, resolver, login throttle, metrics, spam (the ServerContext).
 */
import { BanList } from '../accounts/bans.js';
import { AccountsRepo } from '../accounts/repo.js';
import { LoginThrottle } from '../accounts/throttle.js';
import type { Config } from '../config/index.js';
import type { ServerContext } from '../context.js';
import type { Db } from '../db/index.js';
import { createResolver } from '../dns/resolver.js';
import { analyzeMessage } from '../imap/mime/analyze.js';
import { searchDocument } from '../imap/mime/search-doc.js';
import type { Logger } from '../log.js';
import { Metrics } from '../metrics/index.js';
import { instrumentStore } from '../metrics/store.js';
import { QuotaService } from '../quota/index.js';
import { srsOf } from '../sieve/deliver.js';
import { withSrsRecipients } from '../sieve/srs.js';
import { SpamService } from '../spam/index.js';
import { createStore, type StoreBackend } from '../store/index.js';
import { createTlsHolder } from '../tls/index.js';

export interface Engines {
  ctx: ServerContext;
  /** The repository itself (ctx.accounts wraps it for SRS recipients). */
  accounts: AccountsRepo;
  quota: QuotaService;
  metrics: Metrics;
}

export function buildEngines(config: Config, log: Logger, db: Db, storeBackend: StoreBackend | undefined): Engines {
  const metrics = new Metrics();
  // The store asks the quota service (built right after it) for limits.
  const late: { quota?: QuotaService } = {};
  const store = instrumentStore(
    createStore({
      dataRoot: config.dataRoot,
      backend: storeBackend,
      log: log.child({ component: 'store' }),
      analyzer: analyzeMessage,
      textIndexer: searchDocument,
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
  return { ctx, accounts, quota, metrics };
}
