/**
 * The server's instruments, in Prometheus form (prom-client), served at `/metrics`
 * (src/metrics/http.ts). One Metrics object per running server (`ctx.metrics`), with
 * its own registry, so two servers in one test process do not mix their counts; the
 * process-wide metrics (memory, CPU, event loop, GC) come from one shared registry.
 *
 * How each family is fed, keeping edits to the protocol modules to one line or none:
 * - connections per listener: Node's `net.server.socket` diagnostics channel, matched
 *   to the listener by local address and port (no listener code involved);
 * - SMTP commands, refusals and accepted messages: smtp-server's logger hook
 *   (`smtpLogger`, src/metrics/smtp.ts); IMAP and POP3 commands: one `command()` call
 *   in each dispatcher;
 * - logins and bans: the login throttle's turns and outcomes (src/accounts/throttle.ts:
 *   every login of every protocol and of the web pages takes a turn), its ban list;
 * - local deliveries and store latency: the store, wrapped (src/metrics/store.ts);
 * - outbound attempts: one `queueOutcomes()` call where the queue records an attempt;
 * - queue size and age, TLS certificate expiry: read at scrape time.
 *
 * Why not the pino log: a level above `info` would silently stop the counts.
 */
import diagnostics from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { LoginThrottle, Outcome, Turn } from '../accounts/throttle.js';
import type { Config } from '../config/index.js';
import type { Listener } from '../context.js';
import type { Db } from '../db/index.js';
import { queueStats, type QueueStats, type QueuedRecipient, type RecipientUpdate } from '../queue/repo.js';
import type { TlsContextHolder } from '../tls/index.js';
import { RecentEvents, type MailEvent } from './recent.js';
import { rejectionReason, smtpObserver, type SmtpLogger, type SmtpSink, type SmtpStage } from './smtp.js';

/** Store operations are timed in these buckets (seconds): fsync-bound writes sit in the middle. */
const STORE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

let processRegistry: Registry | undefined;

/** Memory, CPU, file descriptors, event loop lag, GC: once per process. */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/** What the scrape-time gauges read. */
export interface MetricsSources {
  config: Pick<Config, 'listenAddress'>;
  db: Db;
  tls: Pick<TlsContextHolder, 'describe' | 'currentPair'>;
  /** The running listeners by name, filled as they start. */
  listeners: ReadonlyMap<string, Listener>;
}

export class Metrics implements SmtpSink {
  readonly registry = new Registry();
  /** Recent received/refused/outbound events for the web admin. */
  readonly recent = new RecentEvents();

  private readonly connectionsTotal: Counter<'listener'>;
  private readonly connectionsOpen: Gauge<'listener'>;
  private readonly commandsTotal: Counter<'protocol' | 'command'>;
  private readonly rejectionsTotal: Counter<'protocol' | 'stage' | 'reason' | 'status'>;
  private readonly receivedTotal: Counter<'protocol'>;
  private readonly deliveriesTotal: Counter<'destination' | 'result'>;
  private readonly loginsTotal: Counter<'result'>;
  private readonly bansTotal: Counter;
  private readonly storeSeconds: Histogram<'op'>;
  private readonly storeErrors: Counter<'op' | 'kind'>;
  private sources?: MetricsSources;
  private readonly smtpLoggers = new Map<string, SmtpLogger>();
  private readonly onSocket = (msg: unknown) => this.socketAccepted((msg as { socket: Socket }).socket);

  constructor() {
    const registers = [this.registry];
    this.connectionsTotal = new Counter({ name: 'mailserver_connections_total', help: 'Connections accepted, per listener.', labelNames: ['listener'], registers });
    this.connectionsOpen = new Gauge({ name: 'mailserver_connections_open', help: 'Connections open now, per listener.', labelNames: ['listener'], registers });
    this.commandsTotal = new Counter({ name: 'mailserver_commands_total', help: 'Protocol commands received (SMTP, IMAP, POP3), per command.', labelNames: ['protocol', 'command'], registers });
    this.rejectionsTotal = new Counter({
      name: 'mailserver_smtp_rejections_total',
      help: 'SMTP replies 4xx/5xx, by the command they answered, a reason and the enhanced status code (RFC 3463).',
      labelNames: ['protocol', 'stage', 'reason', 'status'],
      registers,
    });
    this.receivedTotal = new Counter({ name: 'mailserver_messages_received_total', help: 'Messages accepted over SMTP (250 after DATA).', labelNames: ['protocol'], registers });
    this.deliveriesTotal = new Counter({
      name: 'mailserver_deliveries_total',
      help: 'Deliveries: into local mailboxes (result delivered or junk), and outbound queue attempts per recipient (delivered, deferred, bounced, expired).',
      labelNames: ['destination', 'result'],
      registers,
    });
    this.loginsTotal = new Counter({
      name: 'mailserver_logins_total',
      help: 'Login attempts of every protocol and the web pages: ok, failed (wrong password or unknown name), neutral (right password of a disabled account, credential store failure), banned (refused unchecked).',
      labelNames: ['result'],
      registers,
    });
    this.bansTotal = new Counter({ name: 'mailserver_login_bans_total', help: 'Clients banned after too many failed logins (auth.ban_failures), since the start.', registers });
    this.storeSeconds = new Histogram({ name: 'mailserver_store_operation_seconds', help: 'Time taken by message store operations.', labelNames: ['op'], buckets: STORE_BUCKETS, registers });
    this.storeErrors = new Counter({ name: 'mailserver_store_errors_total', help: 'Message store operations that failed, by error kind.', labelNames: ['op', 'kind'], registers });
    diagnostics.subscribe('net.server.socket', this.onSocket);
  }

  /** Starts the gauges read at scrape time (queue, TLS) and connection counting per listener. */
  watch(sources: MetricsSources): void {
    this.sources = sources;
    const registers = [this.registry];
    const src = sources;
    // One read of the queue tables per scrape serves the three queue gauges.
    let stats: { at: number; value: QueueStats } | undefined;
    const queue = (): QueueStats => {
      if (!stats || Date.now() - stats.at > 500) stats = { at: Date.now(), value: queueStats(src.db) };
      return stats.value;
    };
    new Gauge({
      name: 'mailserver_queue_messages',
      help: 'Messages in the outbound queue.',
      registers,
      collect() {
        this.set(queue().messages);
      },
    });
    new Gauge({
      name: 'mailserver_queue_recipients',
      help: 'Recipients in the outbound queue, by state.',
      labelNames: ['state'],
      registers,
      collect() {
        this.reset();
        for (const state of ['queued', 'held']) this.set({ state }, 0);
        for (const [state, n] of Object.entries(queue().recipients)) this.set({ state }, n);
      },
    });
    new Gauge({
      name: 'mailserver_queue_oldest_age_seconds',
      help: 'Age of the oldest message still waiting for a delivery attempt (0 when none waits).',
      registers,
      collect() {
        const oldest = queue().oldestWaiting;
        this.set(oldest === undefined ? 0 : Math.max(0, (Date.now() - oldest) / 1000));
      },
    });
    let certFor: string | undefined;
    let notAfter = 0;
    new Gauge({
      name: 'mailserver_tls_certificate_expiry_timestamp_seconds',
      help: 'When the certificate the listeners serve expires (Unix time).',
      registers,
      collect() {
        const pem = src.tls.currentPair().cert;
        if (pem !== certFor) {
          notAfter = src.tls.describe().notAfter.getTime() / 1000;
          certFor = pem;
        }
        this.set(notAfter);
      },
    });
  }

  /** The logger to hand smtp-server, for 'smtp' or 'submission' (see src/metrics/smtp.ts). */
  smtpLogger(protocol: string): SmtpLogger {
    let l = this.smtpLoggers.get(protocol);
    if (!l) this.smtpLoggers.set(protocol, (l = smtpObserver(this, protocol)));
    return l;
  }

  /** One command of `protocol` (IMAP, POP3: the name from the command table, else 'UNKNOWN'). */
  command(protocol: string, verb: string): void {
    this.commandsTotal.inc({ protocol, command: verb });
  }

  refused(protocol: string, stage: SmtpStage, code: number, enhanced: string | undefined, e: Omit<MailEvent, 'kind' | 'protocol' | 'at'>): void {
    const reason = rejectionReason(stage, code, enhanced);
    this.rejectionsTotal.inc({ protocol, stage, reason, status: enhanced ?? String(code) });
    // A refused AUTH is a login failure (counted as such), not mail: keep it out of the events.
    if (stage !== 'auth') this.recent.push({ ...e, kind: 'refused', protocol, reason, at: new Date() });
  }

  received(protocol: string, e: Omit<MailEvent, 'kind' | 'protocol' | 'at'>): void {
    this.receivedTotal.inc({ protocol });
    this.recent.push({ ...e, kind: 'received', protocol, at: new Date() });
  }

  /** Messages stored into local mailboxes (one per mailbox). */
  localDeliveries(mailboxes: string[]): void {
    for (const m of mailboxes) this.deliveriesTotal.inc({ destination: 'local', result: m === 'Junk' ? 'junk' : 'delivered' });
  }

  /** The outcome of one queue attempt for some recipients of a message (src/queue/index.ts). */
  queueOutcomes(msg: { id: number; mailFrom: string }, rcpts: Pick<QueuedRecipient, 'id' | 'rcpt'>[], updates: Pick<RecipientUpdate, 'id' | 'state' | 'reply' | 'host'>[]): void {
    const rcptOf = new Map(rcpts.map((r) => [r.id, r.rcpt]));
    for (const u of updates) {
      // An expired recipient is recorded as failed with this reply prefix (src/queue/index.ts).
      const result = u.state === 'delivered' ? 'delivered' : u.state === 'queued' ? 'deferred' : u.reply.startsWith('expired after') ? 'expired' : 'bounced';
      this.deliveriesTotal.inc({ destination: 'remote', result });
      this.recent.push({ at: new Date(), kind: result, protocol: 'queue', peer: u.host, from: msg.mailFrom, to: [rcptOf.get(u.id) ?? '?'], reply: u.reply, queueId: msg.id });
    }
  }

  /** Times one store operation; `error` is the StoreError kind (or 'error') when it failed. */
  storeOperation(op: string, seconds: number, error?: string): void {
    this.storeSeconds.observe({ op }, seconds);
    if (error) this.storeErrors.inc({ op, kind: error });
  }

  /**
   * Counts logins by outcome and bans, through the throttle every login takes a turn
   * from (src/accounts/login.ts): its turns (a banned client's attempt is refused
   * unchecked), the outcome each attempt reports back, the bans it adds. Also the gauge of
   * bans in force, read from the ban list (those added with `mailserver ban add` too).
   */
  observeLogins(throttle: LoginThrottle): void {
    const turn = throttle.turn.bind(throttle);
    throttle.turn = async (remoteAddress: string, gone?: () => boolean): Promise<Turn> => {
      const t = await turn(remoteAddress, gone);
      if (t.kind === 'banned') this.loginsTotal.inc({ result: 'banned' });
      if (t.kind !== 'go') return t;
      return {
        kind: 'go',
        release: (o: Outcome) => {
          this.loginsTotal.inc({ result: o.kind === 'success' ? 'ok' : o.kind === 'failure' ? 'failed' : 'neutral' });
          t.release(o);
        },
      };
    };
    const bans = throttle.bans;
    const add = bans.add.bind(bans);
    bans.add = (client, opts) => {
      this.bansTotal.inc();
      return add(client, opts);
    };
    new Gauge({
      name: 'mailserver_login_bans_active',
      help: 'Clients banned now (after failed logins or by hand).',
      registers: [this.registry],
      collect() {
        this.set(bans.list().length);
      },
    });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text (Prometheus text format 0.0.4). */
  async render(): Promise<string> {
    return (await processMetrics().metrics()) + (await this.registry.metrics());
  }

  close(): void {
    diagnostics.unsubscribe('net.server.socket', this.onSocket);
  }

  private socketAccepted(socket: Socket): void {
    const name = this.listenerOf(socket);
    if (!name) return;
    this.connectionsTotal.inc({ listener: name });
    this.connectionsOpen.inc({ listener: name });
    socket.once('close', () => this.connectionsOpen.dec({ listener: name }));
  }

  /** The name of our listener that accepted `socket` (by local port and address), if any. */
  private listenerOf(socket: Socket): string | undefined {
    if (!this.sources) return undefined;
    const addr = this.sources.config.listenAddress;
    const wildcard = addr === '0.0.0.0' || addr === '::' || addr === '';
    if (!wildcard && socket.localAddress?.replace(/^::ffff:/, '') !== addr) return undefined;
    for (const [name, l] of this.sources.listeners) if (l.port === socket.localPort) return name;
    return undefined;
  }
}
