/**
 * The shape of the configuration (src/config/index.ts loads it): one section per
 * subsystem, as in config/mailserver.example.toml.
 */
export type TlsMode = 'self-signed' | 'manual' | 'acme';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Ports {
  smtp: number;
  submission: number;
  submissions: number;
  imap: number;
  imaps: number;
  pop3: number;
  pop3s: number;
  http: number;
  https: number;
  /** ManageSieve (RFC 5804). */
  managesieve: number;
}

export interface Config {
  /** Absolute path of the data root. */
  dataRoot: string;
  /** The name this server gives itself: HELO/EHLO, greetings, authserv-id, certificates. */
  hostname: string;
  /**
   * The server's administrator (`quickstart` writes it): where mail to postmaster goes
   * for a domain with no postmaster alias or account of its own (src/smtp/postmaster.ts).
   * Empty: the domain's first account.
   */
  adminAddress: string;
  /** True when the development profile's ports are in force. */
  dev: boolean;
  /** Address every listener binds to. */
  listenAddress: string;
  /** Listener ports; 0 means "any free port" (tests), -1 disables the listener. */
  ports: Ports;
  tls: {
    mode: TlsMode;
    certFile: string;
    keyFile: string;
    minVersion: 'TLSv1.2' | 'TLSv1.3';
    acme: { directoryUrl: string; email: string; extraNames: string[]; caFile: string };
  };
  auth: {
    /** Allow LOGIN/AUTH without TLS from loopback clients. */
    allowPlaintextOnLoopback: boolean;
    /** Delay before answering a failed login, in ms. */
    failureDelayMs: number;
    /**
     * Penalty per client address after failed logins (src/accounts/penalty.ts): the next
     * attempt waits penaltyBaseMs, doubling per failure up to penaltyMaxMs (0 = off).
     */
    penaltyBaseMs: number;
    penaltyMaxMs: number;
    /** Networks never penalised nor banned (a webmail on the same host logs everyone in from there). */
    penaltyExempt: string[];
    /**
     * Temporary ban (src/accounts/throttle.ts): banFailures failed logins from one client
     * within banWindowSeconds ban it for banSeconds on every listener (0 failures = off).
     */
    banFailures: number;
    banWindowSeconds: number;
    banSeconds: number;
    /** scrypt cost of new password hashes (src/accounts/passwords.ts): N = 2^scryptLn, r, p. */
    scryptLn: number;
    scryptR: number;
    scryptP: number;
    /** How long a successful password check is remembered in memory (0 = never; src/accounts/auth-cache.ts). */
    cacheTtlSeconds: number;
  };
  limits: {
    maxMessageSize: number;
    maxRecipients: number;
    maxConnectionsPerIp: number;
    smtpIdleTimeoutMs: number;
    smtpDataTimeoutMs: number;
    /** Connections per listener (SMTP: smtp-server maxClients). */
    maxConnections: number;
    /** DATA must arrive at no less than this many bytes per second (Postfix smtpd_min_data_rate). */
    smtpMinDataRate: number;
    /** Refused recipients per connection before each refusal is delayed (Postfix smtpd_soft_error_limit). */
    smtpSoftErrorLimit: number;
    /** Refused recipients per connection that end it with 421 (Postfix smtpd_hard_error_limit). */
    smtpHardErrorLimit: number;
    /** The delay of each refusal past the soft limit (Postfix smtpd_error_sleep_time). */
    smtpErrorDelayMs: number;
    /** Longest one step of writing a spool file (open, write, fsync, close) may take before the message gets 451. */
    spoolWriteTimeoutMs: number;
    maxBadCommands: number;
    /** IMAP and POP3: log in within this long of connecting, whatever the client sends meanwhile. */
    loginDeadlineMs: number;
    /** IMAP and POP3: a command line must be complete this long after its first byte (IMAP literals get more time, below). */
    commandDeadlineMs: number;
    /** IMAP literals get extra time at this many bytes per second. */
    literalMinRate: number;
    /** IMAP SEARCH: search keys in one command. */
    maxSearchTerms: number;
  };
  dns: {
    /** DNS servers as "ip" or "ip:port"; empty means the system resolver. */
    servers: string[];
    timeoutMs: number;
  };
  log: {
    level: LogLevel;
    /** Also write JSON lines to this file (relative to the data root); empty: standard error only. */
    file: string;
    /** Standard error: "pretty" one-line text, "json", or "auto" (pretty on a terminal). */
    format: 'auto' | 'json' | 'pretty';
  };
  /** Backups and upgrade snapshots (src/backup/). */
  backup: {
    /** Snapshots taken before schema upgrades (`<data>/backups/pre-migrate-*`) kept; older ones are removed. */
    keepSnapshots: number;
  };
  submission: {
    /** Messages an account may submit per rolling hour (452 4.7.0 beyond). */
    maxMessagesPerHour: number;
    /** Recipients per submitted message (452 4.5.3 for the ones beyond). */
    maxRecipientsPerMessage: number;
  };
  queue: {
    /** First retry delay in seconds; doubles each attempt up to retryMaxSeconds. */
    retryBaseSeconds: number;
    retryMaxSeconds: number;
    /** How long a message may stay queued before it bounces, in seconds. */
    lifetimeSeconds: number;
    /** A "delayed" DSN (RFC 3464) goes to the sender once a message has waited this long; 0: never. */
    delayWarningSeconds: number;
    /** Port of remote MX hosts (25; tests point it elsewhere). */
    mxPort: number;
    /** Verify the remote's certificate when using STARTTLS (and require TLS). */
    verifyTls: boolean;
    /** Local address outgoing connections bind to; empty: the system's choice. */
    localAddress: string;
    /** Parallel outgoing deliveries. */
    concurrency: number;
    /** Timeout for connecting and for the greeting, in ms. */
    connectTimeoutMs: number;
    /** Smarthost "host" or "host:port"; empty: deliver to MX hosts directly. */
    relayHost: string;
    /** "starttls" (port 587 style) or "tls" (implicit, port 465 style). */
    relayTls: 'starttls' | 'tls';
    relayUsername: string;
    relayPassword: string;
  };
  /** Inbound checks on port 25 (src/smtp/policy.ts). */
  checks: {
    /** SPF/DKIM/DMARC/ARC and the policy acting on them; false: accept without checking. */
    enabled: boolean;
    /** DMARC p=reject failing → 550 5.7.1 (false: deliver to Junk instead). */
    dmarcReject: boolean;
    /** DMARC p=quarantine failing → the recipient's Junk folder (false: INBOX). */
    dmarcQuarantineToJunk: boolean;
    /** What a DNS temporary error does: 451 so the sender retries, or accept. */
    temperrorAction: 'tempfail' | 'accept';
    /** DNSBL zones to look the client IP up in (e.g. "zen.spamhaus.org"); empty: off. */
    dnsblZones: string[];
    /** CIDRs whose clients skip the checks (empty by default). */
    trustedNetworks: string[];
    /** Upper bound for each check, in ms; beyond it the check counts as a DNS temporary error. */
    timeoutMs: number;
  };
  /** Mailbox quotas (src/quota/): limits are per account and domain in the database. */
  quota: {
    /**
     * Dovecot's quota_grace: a mailbox under its quota may take one last message that
     * brings it over by up to this percentage of the quota; larger messages are refused
     * with 552 5.2.2 (they can never fit).
     */
    gracePercent: number;
    /** Usage (bytes or messages) in percent of the quota that delivers a warning message once; 0 = off. */
    warnPercent: number;
  };
  /** Server-side filtering (src/sieve/) and ManageSieve (src/managesieve/). */
  sieve: {
    /** Scripts an account may keep (ManageSieve PUTSCRIPT answers NO [QUOTA/MAXSCRIPTS] beyond). */
    maxScripts: number;
    /** Largest script in bytes (Pigeonhole's sieve_max_script_size). */
    maxScriptSize: number;
    /** Distinct redirects one message may cause per recipient (Pigeonhole's sieve_max_redirects). */
    maxRedirects: number;
  };
  /** Prometheus metrics at `/metrics` on the HTTP listener (src/metrics/). */
  metrics: {
    enabled: boolean;
    /** Client networks that may fetch /metrics (CIDRs or addresses). */
    allow: string[];
  };
  /** The web admin at `/admin` and the users' `/account` pages on the HTTPS listener (src/admin/). */
  admin: {
    enabled: boolean;
    /** Client networks that may reach the pages; a reverse proxy or an SSH tunnel is the way in from elsewhere. */
    allow: string[];
    /** A session ends after this many minutes without a request. */
    sessionMinutes: number;
    /** Reverse proxies whose X-Forwarded-For names the client (for login throttling and the log). */
    trustedProxies: string[];
  };
  /** Spam filtering on port 25 (src/spam/): the per-account classifier, reputation, Rspamd. */
  spam: {
    /** Score mail arriving on port 25 (false: no scoring, no headers; training still runs). */
    enabled: boolean;
    /** Score at or above which mail goes to Junk (0…1); accounts may override it. */
    junkThreshold: number;
    /** Score at or above which mail is refused at end of DATA with 550 5.7.1; 0 = never refuse (Junk instead). */
    rejectThreshold: number;
    /** Trained ham and spam messages (each) before the classifier's score moves mail at all. */
    minTrained: number;
    /** Bytes of a message read for scoring and training (the rest is not looked at). */
    maxScanSize: number;
    /** Messages per account and day trained as ham from implicit signs (replied to, kept in INBOX, filed). */
    implicitHamPerDay: number;
    /** Days a read message stays in INBOX before it counts as ham. */
    keptInboxDays: number;
    /** Greylisting (451 for the first delivery attempt of an unknown sender); accounts may override it. */
    greylist: boolean;
    greylistDelaySeconds: number;
    /** Days a triplet that passed is remembered after its last message. */
    greylistExpireDays: number;
    /** Rspamd's normal worker, e.g. "http://127.0.0.1:11333" (/checkv2); empty: no Rspamd. */
    rspamdUrl: string;
    /** Rspamd's controller for learning (/learnspam, /learnham), e.g. "http://127.0.0.1:11334"; empty: no learning. */
    rspamdControllerUrl: string;
    /** The controller's password (sent as the Password header); never logged. */
    rspamdPassword: string;
    rspamdTimeoutMs: number;
    /** How long port 25 waits for the scoring thread's verdict (ms); past it the message is delivered unscored. */
    scoreTimeoutMs: number;
  };
}

export class ConfigError extends Error {}
