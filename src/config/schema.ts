/**
 * Every configurable key, once, with its type and allowed values: the TOML path, the
 * Config property and the MAILSERVER_* variable that may override it.
 */
export type Kind =
  | { type: 'string'; allowed?: readonly string[] }
  | { type: 'int'; min?: number; max?: number }
  | { type: 'number'; min?: number; max?: number }
  | { type: 'bool' }
  | { type: 'size' }
  | { type: 'stringList' }
  /** Addresses and CIDR networks ("127.0.0.0/8", "::1"). */
  | { type: 'networkList' };

export interface Key {
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
  { toml: 'spam.score_timeout_ms', prop: 'spam.scoreTimeoutMs', kind: { type: 'int', min: 100, max: 120_000 } },
];

