/**
 * Configuration: one TOML file (`<data>/config/mailserver.toml`), environment
 * overrides for the container, and defaults that work with no file at all.
 *
 * Precedence, lowest first: built-in defaults → profile (production ports when root,
 * the development profile otherwise) → the TOML file → MAILSERVER_* environment
 * variables → `--dev` (ports and loopback plaintext login only).
 *
 * Every key is declared once in SCHEMA below with its type and allowed values, so a
 * bad value fails at start with the key, the value and what is allowed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { SCRYPT_MAXMEM, scryptMemory } from '../accounts/passwords.js';

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
  };
}

export class ConfigError extends Error {}

type Kind =
  | { type: 'string'; allowed?: readonly string[] }
  | { type: 'int'; min?: number; max?: number }
  | { type: 'number'; min?: number; max?: number }
  | { type: 'bool' }
  | { type: 'size' }
  | { type: 'stringList' }
  /** Addresses and CIDR networks ("127.0.0.0/8", "::1"). */
  | { type: 'networkList' };

interface Key {
  /** Dotted path in the TOML file, e.g. "limits.max_message_size". */
  toml: string;
  /** Path in the Config object. */
  prop: string;
  kind: Kind;
  env?: string;
}

const port: Kind = { type: 'int', min: -1, max: 65535 };

/** Every configurable key, once. Keep config/mailserver.example.toml in step. */
export const SCHEMA: readonly Key[] = [
  { toml: 'hostname', prop: 'hostname', kind: { type: 'string' }, env: 'MAILSERVER_HOSTNAME' },
  { toml: 'admin_address', prop: 'adminAddress', kind: { type: 'string' }, env: 'MAILSERVER_ADMIN_ADDRESS' },
  { toml: 'listen.address', prop: 'listenAddress', kind: { type: 'string' }, env: 'MAILSERVER_LISTEN_ADDRESS' },
  { toml: 'listen.smtp', prop: 'ports.smtp', kind: port, env: 'MAILSERVER_PORT_SMTP' },
  { toml: 'listen.submission', prop: 'ports.submission', kind: port, env: 'MAILSERVER_PORT_SUBMISSION' },
  { toml: 'listen.submissions', prop: 'ports.submissions', kind: port, env: 'MAILSERVER_PORT_SUBMISSIONS' },
  { toml: 'listen.imap', prop: 'ports.imap', kind: port, env: 'MAILSERVER_PORT_IMAP' },
  { toml: 'listen.imaps', prop: 'ports.imaps', kind: port, env: 'MAILSERVER_PORT_IMAPS' },
  { toml: 'listen.pop3', prop: 'ports.pop3', kind: port, env: 'MAILSERVER_PORT_POP3' },
  { toml: 'listen.pop3s', prop: 'ports.pop3s', kind: port, env: 'MAILSERVER_PORT_POP3S' },
  { toml: 'listen.http', prop: 'ports.http', kind: port, env: 'MAILSERVER_PORT_HTTP' },
  { toml: 'listen.https', prop: 'ports.https', kind: port, env: 'MAILSERVER_PORT_HTTPS' },
  { toml: 'listen.managesieve', prop: 'ports.managesieve', kind: port, env: 'MAILSERVER_PORT_MANAGESIEVE' },
  { toml: 'tls.mode', prop: 'tls.mode', kind: { type: 'string', allowed: ['self-signed', 'manual', 'acme'] }, env: 'MAILSERVER_TLS_MODE' },
  { toml: 'tls.cert_file', prop: 'tls.certFile', kind: { type: 'string' }, env: 'MAILSERVER_TLS_CERT_FILE' },
  { toml: 'tls.key_file', prop: 'tls.keyFile', kind: { type: 'string' }, env: 'MAILSERVER_TLS_KEY_FILE' },
  { toml: 'tls.min_version', prop: 'tls.minVersion', kind: { type: 'string', allowed: ['TLSv1.2', 'TLSv1.3'] } },
  { toml: 'tls.acme.directory_url', prop: 'tls.acme.directoryUrl', kind: { type: 'string' }, env: 'MAILSERVER_ACME_DIRECTORY' },
  { toml: 'tls.acme.email', prop: 'tls.acme.email', kind: { type: 'string' }, env: 'MAILSERVER_ACME_EMAIL' },
  { toml: 'tls.acme.extra_names', prop: 'tls.acme.extraNames', kind: { type: 'stringList' } },
  { toml: 'tls.acme.ca_file', prop: 'tls.acme.caFile', kind: { type: 'string' } },
  { toml: 'auth.allow_plaintext_on_loopback', prop: 'auth.allowPlaintextOnLoopback', kind: { type: 'bool' }, env: 'MAILSERVER_ALLOW_PLAINTEXT_LOOPBACK' },
  { toml: 'auth.failure_delay_ms', prop: 'auth.failureDelayMs', kind: { type: 'int', min: 0, max: 60_000 } },
  { toml: 'auth.penalty_base_ms', prop: 'auth.penaltyBaseMs', kind: { type: 'int', min: 0, max: 60_000 } },
  { toml: 'auth.penalty_max_ms', prop: 'auth.penaltyMaxMs', kind: { type: 'int', min: 0, max: 600_000 } },
  { toml: 'auth.penalty_exempt', prop: 'auth.penaltyExempt', kind: { type: 'stringList' } },
  { toml: 'auth.ban_failures', prop: 'auth.banFailures', kind: { type: 'int', min: 0, max: 10_000 } },
  { toml: 'auth.ban_window_seconds', prop: 'auth.banWindowSeconds', kind: { type: 'int', min: 1, max: 7 * 86_400 } },
  { toml: 'auth.ban_seconds', prop: 'auth.banSeconds', kind: { type: 'int', min: 1, max: 365 * 86_400 } },
  { toml: 'auth.scrypt_ln', prop: 'auth.scryptLn', kind: { type: 'int', min: 10, max: 20 } },
  { toml: 'auth.scrypt_r', prop: 'auth.scryptR', kind: { type: 'int', min: 1, max: 32 } },
  { toml: 'auth.scrypt_p', prop: 'auth.scryptP', kind: { type: 'int', min: 1, max: 16 } },
  { toml: 'auth.cache_ttl_seconds', prop: 'auth.cacheTtlSeconds', kind: { type: 'int', min: 0, max: 86_400 } },
  { toml: 'limits.max_message_size', prop: 'limits.maxMessageSize', kind: { type: 'size' }, env: 'MAILSERVER_MAX_MESSAGE_SIZE' },
  { toml: 'limits.max_recipients', prop: 'limits.maxRecipients', kind: { type: 'int', min: 1, max: 100_000 } },
  { toml: 'limits.max_connections_per_ip', prop: 'limits.maxConnectionsPerIp', kind: { type: 'int', min: 1, max: 100_000 } },
  { toml: 'limits.smtp_idle_timeout_ms', prop: 'limits.smtpIdleTimeoutMs', kind: { type: 'int', min: 1000 } },
  { toml: 'limits.smtp_data_timeout_ms', prop: 'limits.smtpDataTimeoutMs', kind: { type: 'int', min: 1000 } },
  { toml: 'limits.max_connections', prop: 'limits.maxConnections', kind: { type: 'int', min: 1, max: 1_000_000 } },
  { toml: 'limits.smtp_min_data_rate', prop: 'limits.smtpMinDataRate', kind: { type: 'int', min: 1 } },
  { toml: 'limits.smtp_soft_error_limit', prop: 'limits.smtpSoftErrorLimit', kind: { type: 'int', min: 0, max: 100_000 } },
  { toml: 'limits.smtp_hard_error_limit', prop: 'limits.smtpHardErrorLimit', kind: { type: 'int', min: 1, max: 100_000 } },
  { toml: 'limits.smtp_error_delay_ms', prop: 'limits.smtpErrorDelayMs', kind: { type: 'int', min: 0, max: 60_000 } },
  { toml: 'limits.spool_write_timeout_ms', prop: 'limits.spoolWriteTimeoutMs', kind: { type: 'int', min: 100 } },
  { toml: 'limits.max_bad_commands', prop: 'limits.maxBadCommands', kind: { type: 'int', min: 1, max: 1000 } },
  { toml: 'limits.login_deadline_ms', prop: 'limits.loginDeadlineMs', kind: { type: 'int', min: 100, max: 3_600_000 } },
  { toml: 'limits.command_deadline_ms', prop: 'limits.commandDeadlineMs', kind: { type: 'int', min: 100, max: 3_600_000 } },
  { toml: 'limits.literal_min_rate', prop: 'limits.literalMinRate', kind: { type: 'int', min: 1 } },
  { toml: 'limits.max_search_terms', prop: 'limits.maxSearchTerms', kind: { type: 'int', min: 1, max: 100_000 } },
  { toml: 'dns.servers', prop: 'dns.servers', kind: { type: 'stringList' }, env: 'MAILSERVER_DNS_SERVERS' },
  { toml: 'dns.timeout_ms', prop: 'dns.timeoutMs', kind: { type: 'int', min: 100, max: 60_000 } },
  { toml: 'log.level', prop: 'log.level', kind: { type: 'string', allowed: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] }, env: 'MAILSERVER_LOG_LEVEL' },
  { toml: 'log.file', prop: 'log.file', kind: { type: 'string' }, env: 'MAILSERVER_LOG_FILE' },
  { toml: 'log.format', prop: 'log.format', kind: { type: 'string', allowed: ['auto', 'json', 'pretty'] }, env: 'MAILSERVER_LOG_FORMAT' },
  { toml: 'backup.keep_snapshots', prop: 'backup.keepSnapshots', kind: { type: 'int', min: 1, max: 1000 } },
  { toml: 'submission.max_messages_per_hour', prop: 'submission.maxMessagesPerHour', kind: { type: 'int', min: 1 } },
  { toml: 'submission.max_recipients_per_message', prop: 'submission.maxRecipientsPerMessage', kind: { type: 'int', min: 1, max: 100_000 } },
  { toml: 'queue.retry_base_seconds', prop: 'queue.retryBaseSeconds', kind: { type: 'int', min: 1 } },
  { toml: 'queue.retry_max_seconds', prop: 'queue.retryMaxSeconds', kind: { type: 'int', min: 1 } },
  { toml: 'queue.lifetime_seconds', prop: 'queue.lifetimeSeconds', kind: { type: 'int', min: 1 } },
  { toml: 'queue.delay_warning_seconds', prop: 'queue.delayWarningSeconds', kind: { type: 'int', min: 0 } },
  { toml: 'queue.mx_port', prop: 'queue.mxPort', kind: { type: 'int', min: 1, max: 65535 } },
  { toml: 'queue.verify_tls', prop: 'queue.verifyTls', kind: { type: 'bool' } },
  { toml: 'queue.local_address', prop: 'queue.localAddress', kind: { type: 'string' } },
  { toml: 'queue.concurrency', prop: 'queue.concurrency', kind: { type: 'int', min: 1, max: 1000 } },
  { toml: 'queue.connect_timeout_ms', prop: 'queue.connectTimeoutMs', kind: { type: 'int', min: 100 } },
  { toml: 'queue.relay_host', prop: 'queue.relayHost', kind: { type: 'string' }, env: 'MAILSERVER_RELAY_HOST' },
  { toml: 'queue.relay_tls', prop: 'queue.relayTls', kind: { type: 'string', allowed: ['starttls', 'tls'] } },
  { toml: 'queue.relay_username', prop: 'queue.relayUsername', kind: { type: 'string' }, env: 'MAILSERVER_RELAY_USERNAME' },
  { toml: 'queue.relay_password', prop: 'queue.relayPassword', kind: { type: 'string' }, env: 'MAILSERVER_RELAY_PASSWORD' },
  { toml: 'checks.enabled', prop: 'checks.enabled', kind: { type: 'bool' }, env: 'MAILSERVER_CHECKS_ENABLED' },
  { toml: 'checks.dmarc_reject', prop: 'checks.dmarcReject', kind: { type: 'bool' } },
  { toml: 'checks.dmarc_quarantine_to_junk', prop: 'checks.dmarcQuarantineToJunk', kind: { type: 'bool' } },
  { toml: 'checks.temperror_action', prop: 'checks.temperrorAction', kind: { type: 'string', allowed: ['tempfail', 'accept'] } },
  { toml: 'checks.dnsbl_zones', prop: 'checks.dnsblZones', kind: { type: 'stringList' } },
  { toml: 'checks.trusted_networks', prop: 'checks.trustedNetworks', kind: { type: 'stringList' } },
  { toml: 'checks.timeout_ms', prop: 'checks.timeoutMs', kind: { type: 'int', min: 100, max: 120_000 } },
  { toml: 'quota.grace_percent', prop: 'quota.gracePercent', kind: { type: 'int', min: 0, max: 100 } },
  { toml: 'quota.warn_percent', prop: 'quota.warnPercent', kind: { type: 'int', min: 0, max: 100 } },
  { toml: 'sieve.max_scripts', prop: 'sieve.maxScripts', kind: { type: 'int', min: 1, max: 1000 } },
  { toml: 'sieve.max_script_size', prop: 'sieve.maxScriptSize', kind: { type: 'size' } },
  { toml: 'sieve.max_redirects', prop: 'sieve.maxRedirects', kind: { type: 'int', min: 0, max: 100 } },
  { toml: 'metrics.enabled', prop: 'metrics.enabled', kind: { type: 'bool' }, env: 'MAILSERVER_METRICS_ENABLED' },
  { toml: 'metrics.allow', prop: 'metrics.allow', kind: { type: 'networkList' }, env: 'MAILSERVER_METRICS_ALLOW' },
  { toml: 'admin.enabled', prop: 'admin.enabled', kind: { type: 'bool' }, env: 'MAILSERVER_ADMIN_ENABLED' },
  { toml: 'admin.allow', prop: 'admin.allow', kind: { type: 'networkList' }, env: 'MAILSERVER_ADMIN_ALLOW' },
  { toml: 'admin.session_minutes', prop: 'admin.sessionMinutes', kind: { type: 'int', min: 1, max: 7 * 24 * 60 } },
  { toml: 'admin.trusted_proxies', prop: 'admin.trustedProxies', kind: { type: 'networkList' } },
  { toml: 'spam.enabled', prop: 'spam.enabled', kind: { type: 'bool' }, env: 'MAILSERVER_SPAM_ENABLED' },
  { toml: 'spam.junk_threshold', prop: 'spam.junkThreshold', kind: { type: 'number', min: 0, max: 1 } },
  { toml: 'spam.reject_threshold', prop: 'spam.rejectThreshold', kind: { type: 'number', min: 0, max: 1 } },
  { toml: 'spam.min_trained', prop: 'spam.minTrained', kind: { type: 'int', min: 0, max: 100_000 } },
  { toml: 'spam.max_scan_size', prop: 'spam.maxScanSize', kind: { type: 'size' } },
  { toml: 'spam.implicit_ham_per_day', prop: 'spam.implicitHamPerDay', kind: { type: 'int', min: 0, max: 10_000 } },
  { toml: 'spam.kept_inbox_days', prop: 'spam.keptInboxDays', kind: { type: 'int', min: 1, max: 365 } },
  { toml: 'spam.greylist', prop: 'spam.greylist', kind: { type: 'bool' } },
  { toml: 'spam.greylist_delay_seconds', prop: 'spam.greylistDelaySeconds', kind: { type: 'int', min: 0, max: 86_400 } },
  { toml: 'spam.greylist_expire_days', prop: 'spam.greylistExpireDays', kind: { type: 'int', min: 1, max: 365 } },
  { toml: 'spam.rspamd_url', prop: 'spam.rspamdUrl', kind: { type: 'string' }, env: 'MAILSERVER_RSPAMD_URL' },
  { toml: 'spam.rspamd_controller_url', prop: 'spam.rspamdControllerUrl', kind: { type: 'string' }, env: 'MAILSERVER_RSPAMD_CONTROLLER_URL' },
  { toml: 'spam.rspamd_password', prop: 'spam.rspamdPassword', kind: { type: 'string' }, env: 'MAILSERVER_RSPAMD_PASSWORD' },
  { toml: 'spam.rspamd_timeout_ms', prop: 'spam.rspamdTimeoutMs', kind: { type: 'int', min: 100, max: 120_000 } },
];

/** Production ports (root, or a container with CAP_NET_BIND_SERVICE). */
export const PRODUCTION_PORTS: Ports = {
  smtp: 25, submission: 587, submissions: 465, imap: 143, imaps: 993, pop3: 110, pop3s: 995, http: 80, https: 443, managesieve: 4190,
};

/** The development profile's ports. Documented and relied on by users' scripts: keep stable. */
export const DEV_PORTS: Ports = {
  smtp: 2525, submission: 2587, submissions: 2465, imap: 1143, imaps: 1993, pop3: 1110, pop3s: 1995, http: 8080, https: 8443, managesieve: 14190,
};

export function defaults(dataRoot: string, production: boolean): Config {
  return {
    dataRoot,
    hostname: production ? osHostname() : 'localhost',
    adminAddress: '',
    dev: !production,
    listenAddress: production ? '0.0.0.0' : '127.0.0.1',
    ports: { ...(production ? PRODUCTION_PORTS : DEV_PORTS) },
    tls: {
      mode: 'self-signed',
      certFile: '',
      keyFile: '',
      minVersion: 'TLSv1.2',
      acme: { directoryUrl: 'https://acme-v02.api.letsencrypt.org/directory', email: '', extraNames: [], caFile: '' },
    },
    auth: {
      allowPlaintextOnLoopback: !production,
      failureDelayMs: 1000,
      // Dovecot's auth_penalty: 2 s doubling to 15 s; ours starts at 1 s after the 1 s failure delay.
      penaltyBaseMs: 1000,
      penaltyMaxMs: 15_000,
      penaltyExempt: ['127.0.0.0/8', '::1'],
      // mailcow's netfilter defaults: 10 failures within 10 minutes ban for 30 minutes.
      banFailures: 10,
      banWindowSeconds: 600,
      banSeconds: 1800,
      // Percival's "interactive login" cost (16 MiB); docs/security.md has the times.
      scryptLn: 14,
      scryptR: 8,
      scryptP: 1,
      cacheTtlSeconds: 300,
    },
    limits: {
      maxMessageSize: 50 * 1024 * 1024,
      maxRecipients: 100,
      maxConnectionsPerIp: 20,
      smtpIdleTimeoutMs: 5 * 60_000,
      smtpDataTimeoutMs: 10 * 60_000,
      maxConnections: 500,
      smtpMinDataRate: 500,
      smtpSoftErrorLimit: 10,
      smtpHardErrorLimit: 20,
      smtpErrorDelayMs: 1000,
      spoolWriteTimeoutMs: 30_000,
      maxBadCommands: 10,
      loginDeadlineMs: 60_000,
      commandDeadlineMs: 60_000,
      literalMinRate: 4096,
      maxSearchTerms: 256,
    },
    dns: { servers: [], timeoutMs: 5000 },
    log: { level: 'info', file: '', format: 'auto' },
    backup: { keepSnapshots: 5 },
    submission: { maxMessagesPerHour: 500, maxRecipientsPerMessage: 100 },
    queue: {
      retryBaseSeconds: 300,
      retryMaxSeconds: 4 * 3600,
      lifetimeSeconds: 5 * 86_400,
      delayWarningSeconds: 4 * 3600,
      mxPort: 25,
      verifyTls: false,
      localAddress: '',
      concurrency: 10,
      connectTimeoutMs: 30_000,
      relayHost: '',
      relayTls: 'starttls',
      relayUsername: '',
      relayPassword: '',
    },
    checks: {
      enabled: true,
      dmarcReject: true,
      dmarcQuarantineToJunk: true,
      temperrorAction: 'tempfail',
      dnsblZones: [],
      trustedNetworks: [],
      timeoutMs: 8000,
    },
    quota: { gracePercent: 10, warnPercent: 90 },
    sieve: { maxScripts: 20, maxScriptSize: 256 * 1024, maxRedirects: 4 },
    metrics: { enabled: true, allow: ['127.0.0.0/8', '::1'] },
    admin: { enabled: false, allow: ['127.0.0.0/8', '::1'], sessionMinutes: 120, trustedProxies: [] },
    spam: {
      enabled: true,
      junkThreshold: 0.9,
      rejectThreshold: 0.9999,
      minTrained: 20,
      maxScanSize: 1024 * 1024,
      implicitHamPerDay: 20,
      keptInboxDays: 7,
      greylist: false,
      greylistDelaySeconds: 300,
      greylistExpireDays: 35,
      rspamdUrl: '',
      rspamdControllerUrl: '',
      rspamdPassword: '',
      rspamdTimeoutMs: 5000,
    },
  };
}

function osHostname(): string {
  // Imported lazily so tests that build configs do not depend on the machine name.
  try {
    return readFileSync('/etc/hostname', 'utf8').trim() || 'localhost';
  } catch {
    return 'localhost';
  }
}

export interface LoadOptions {
  dataRoot: string;
  /** `serve --dev`: development ports and loopback plaintext login, on top of the file. */
  dev?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Treat the process as root (defaults to the real uid). */
  root?: boolean;
  /** Override the config file path (defaults to <data>/config/mailserver.toml). */
  file?: string;
}

export function configPath(dataRoot: string): string {
  return path.join(dataRoot, 'config', 'mailserver.toml');
}

/** Loads, merges and validates the configuration. Throws ConfigError with one clear line. */
export function loadConfig(opts: LoadOptions): Config {
  const dataRoot = path.resolve(opts.dataRoot);
  const env = opts.env ?? process.env;
  // MAILSERVER_PROFILE=production picks the standard ports without root (a container
  // user with CAP_NET_BIND_SERVICE); =dev the development ones even as root.
  const profile = env.MAILSERVER_PROFILE;
  if (profile !== undefined && profile !== '' && profile !== 'production' && profile !== 'dev') {
    throw new ConfigError(`environment MAILSERVER_PROFILE: invalid value ${JSON.stringify(profile)}; allowed: one of "production", "dev"`);
  }
  const root = profile === 'production' ? true : profile === 'dev' ? false : (opts.root ?? (typeof process.getuid === 'function' && process.getuid() === 0));
  const cfg = defaults(dataRoot, root);

  const file = opts.file ?? configPath(dataRoot);
  if (existsSync(file)) {
    let doc: Record<string, unknown>;
    try {
      doc = parseToml(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError(`${file}: ${(err as Error).message.split('\n')[0]}`);
    }
    applyToml(cfg, doc, file);
  }
  for (const key of SCHEMA) {
    if (!key.env) continue;
    const raw = env[key.env];
    if (raw === undefined || raw === '') continue;
    setProp(cfg, key.prop, coerceEnv(key, raw));
  }
  if (opts.dev) {
    cfg.dev = true;
    cfg.ports = { ...DEV_PORTS };
    cfg.auth.allowPlaintextOnLoopback = true;
  }
  if (cfg.tls.mode === 'manual' && (!cfg.tls.certFile || !cfg.tls.keyFile)) {
    throw new ConfigError('tls.mode = "manual" needs tls.cert_file and tls.key_file');
  }
  if (scryptMemory({ ln: cfg.auth.scryptLn, r: cfg.auth.scryptR }) > SCRYPT_MAXMEM) {
    throw new ConfigError(`auth.scrypt_ln = ${cfg.auth.scryptLn} with auth.scrypt_r = ${cfg.auth.scryptR} needs more than ${SCRYPT_MAXMEM / 1048576} MiB per hash; lower one of them`);
  }
  if (cfg.tls.mode === 'acme' && cfg.ports.http < 0) {
    throw new ConfigError('tls.mode = "acme" needs the HTTP listener (listen.http) for http-01 challenges');
  }
  return cfg;
}

function applyToml(cfg: Config, doc: Record<string, unknown>, file: string): void {
  const known = new Map(SCHEMA.map((k) => [k.toml, k]));
  const walk = (obj: Record<string, unknown>, prefix: string) => {
    for (const [k, v] of Object.entries(obj)) {
      const dotted = prefix ? `${prefix}.${k}` : k;
      const key = known.get(dotted);
      if (key) {
        setProp(cfg, key.prop, validate(key, v, `${file}: ${dotted}`));
      } else if (v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date)) {
        walk(v as Record<string, unknown>, dotted);
      } else {
        throw new ConfigError(`${file}: unknown key "${dotted}"`);
      }
    }
  };
  walk(doc, '');
}

function describe(kind: Kind): string {
  switch (kind.type) {
    case 'string':
      return kind.allowed ? `one of ${kind.allowed.map((a) => `"${a}"`).join(', ')}` : 'a string';
    case 'int':
      return `an integer${kind.min !== undefined ? ` >= ${kind.min}` : ''}${kind.max !== undefined ? ` and <= ${kind.max}` : ''}`;
    case 'number':
      return `a number${kind.min !== undefined ? ` >= ${kind.min}` : ''}${kind.max !== undefined ? ` and <= ${kind.max}` : ''}`;
    case 'bool':
      return 'true or false';
    case 'size':
      return 'a size in bytes, or a number with K, M or G (e.g. "50M")';
    case 'stringList':
      return 'a list of strings';
    case 'networkList':
      return 'a list of addresses or CIDR networks, e.g. ["127.0.0.0/8", "::1"]';
  }
}

function bad(where: string, value: unknown, kind: Kind): ConfigError {
  return new ConfigError(`${where}: invalid value ${JSON.stringify(value)}; allowed: ${describe(kind)}`);
}

/** Parses "50M", "2G", "1024" into bytes; undefined when not a size. */
export function parseSize(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  if (typeof v === 'bigint' && v >= 0n) return Number(v);
  if (typeof v !== 'string') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$/i.exec(v);
  if (!m) return undefined;
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.round(Number(m[1]) * mult);
}

function validate(key: Key, v: unknown, where: string): unknown {
  const kind = key.kind;
  switch (kind.type) {
    case 'string':
      if (typeof v !== 'string' || (kind.allowed && !kind.allowed.includes(v))) throw bad(where, v, kind);
      return v;
    case 'int': {
      const n = typeof v === 'bigint' ? Number(v) : v;
      if (typeof n !== 'number' || !Number.isInteger(n)) throw bad(where, v, kind);
      if ((kind.min !== undefined && n < kind.min) || (kind.max !== undefined && n > kind.max)) throw bad(where, v, kind);
      return n;
    }
    case 'number': {
      const n = typeof v === 'bigint' ? Number(v) : v;
      if (typeof n !== 'number' || !Number.isFinite(n)) throw bad(where, v, kind);
      if ((kind.min !== undefined && n < kind.min) || (kind.max !== undefined && n > kind.max)) throw bad(where, v, kind);
      return n;
    }
    case 'bool':
      if (typeof v !== 'boolean') throw bad(where, v, kind);
      return v;
    case 'size': {
      const n = parseSize(v);
      if (n === undefined) throw bad(where, v, kind);
      return n;
    }
    case 'stringList':
      if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw bad(where, v, kind);
      return v;
    case 'networkList':
      if (!Array.isArray(v) || !v.every((s) => typeof s === 'string' && isNetwork(s))) throw bad(where, v, kind);
      return v;
  }
}

function coerceEnv(key: Key, raw: string): unknown {
  const where = `environment ${key.env}`;
  switch (key.kind.type) {
    case 'int':
      if (!/^-?\d+$/.test(raw.trim())) throw bad(where, raw, key.kind);
      return validate(key, Number(raw), where);
    case 'number':
      if (!/^-?\d+(\.\d+)?$/.test(raw.trim())) throw bad(where, raw, key.kind);
      return validate(key, Number(raw), where);
    case 'bool': {
      const b = { true: true, '1': true, yes: true, false: false, '0': false, no: false }[raw.trim().toLowerCase()];
      if (b === undefined) throw bad(where, raw, key.kind);
      return b;
    }
    case 'stringList':
      return raw.split(',').map((s) => s.trim()).filter(Boolean);
    case 'networkList':
      return validate(key, raw.split(',').map((s) => s.trim()).filter(Boolean), where);
    default:
      return validate(key, raw, where);
  }
}

/** "192.0.2.1", "192.0.2.0/24", "2001:db8::/32": an address, or a network with a prefix length in range. */
function isNetwork(s: string): boolean {
  const [addr, bits, extra] = s.trim().split('/');
  const fam = isIP(addr ?? '');
  if (fam === 0 || extra !== undefined) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (fam === 4 ? 32 : 128);
}

function setProp(obj: object, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let cur = obj as Record<string, unknown>;
  for (const p of parts.slice(0, -1)) cur = cur[p] as Record<string, unknown>;
  cur[parts[parts.length - 1]!] = value;
}

/** The data root from `--data`, then MAILSERVER_DATA, then the current directory. */
export function resolveDataRoot(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(flag ?? env.MAILSERVER_DATA ?? process.cwd());
}
