/**
 * What every listener is given at start: the configuration, the logger, the account
 * database, the message store, the TLS holder and the DNS resolver. main/server.ts
 * builds it once; tests build it with a temp data root and port 0.
 */
import type { LoginThrottle } from './accounts/throttle.js';
import type { Accounts } from './accounts/types.js';
import type { Config } from './config/index.js';
import type { Db } from './db/index.js';
import type { Resolver } from './dns/resolver.js';
import type { Logger } from './log.js';
import type { DsnEnvelope, DsnRecipientParams } from './queue/dsn.js';
import type { Metrics } from './metrics/index.js';
import type { QuotaService } from './quota/index.js';
import type { SpoolSinkFactory } from './smtp/spool.js';
import type { SpamService } from './spam/index.js';
import type { MailStore } from './store/types.js';
import type { TlsContextHolder } from './tls/index.js';

export interface ServerContext {
  config: Config;
  log: Logger;
  db: Db;
  accounts: Accounts;
  store: MailStore;
  tls: TlsContextHolder;
  resolver: Resolver;
  /**
   * The outbound queue, when running (src/queue/). Port 25 uses it for aliases that
   * forward outside; submission for remote recipients. `file` is an fsynced spool file
   * that enqueue links or copies into the queue's own spool before resolving.
   */
  queue?: OutboundQueue;
  /** Mailbox quotas (src/quota/): limits, usage, SMTP decisions; absent = no quota checks beyond the store's. */
  quota?: QuotaService;
  /** Login penalty, serialisation and bans per client across protocols (src/accounts/throttle.ts); absent = none. */
  loginThrottle?: LoginThrottle;
  /** How SMTP writes its spool files (src/smtp/spool.ts); absent = plain descriptors. Tests put a stalling one here. */
  spoolSink?: SpoolSinkFactory;
  /** Counters and timings for /metrics (src/metrics/); absent = nothing counted. */
  metrics?: Metrics;
  /** Spam scoring for port 25 and training from the user's moves (src/spam/); absent = none. */
  spam?: SpamService;
}

/** What a message to queue carries besides its file: the envelope and its RFC 3461 parameters. */
export interface QueueRequest {
  mailFrom: string;
  rcpts: string[];
  file: string;
  dsn?: DsnEnvelope;
  rcptDsn?: ReadonlyMap<string, DsnRecipientParams>;
}

export interface OutboundQueue {
  enqueue(req: QueueRequest): Promise<void>;
  /**
   * Queues durably but holds the message until `release(id)`; `discard(id)` takes it
   * back. Port 25 queues an alias's remote forwards this way before storing the local
   * copies, so that a failure of either answers 451 with nothing left behind.
   */
  hold(req: QueueRequest): Promise<number>;
  /** Lets a held message go (throws if the database refuses). */
  release(id: number): void;
  discard(id: number): Promise<void>;
}

/** A started listener: its bound port, and how to stop it (stop accepting, drain, close). */
export interface Listener {
  name: string;
  port: number;
  close(graceMs?: number): Promise<void>;
}
