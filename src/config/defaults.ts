/**
 * Built-in defaults: a configuration that works with no file at all, in the production
 * profile (root) or the development one.
 */
import { readFileSync } from 'node:fs';
import type { Config, Ports } from './types.js';

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
    limits: limitDefaults(),
    dns: { servers: [], timeoutMs: 5000 },
    log: { level: 'info', file: '', format: 'auto' },
    backup: { keepSnapshots: 5 },
    submission: { maxMessagesPerHour: 500, maxRecipientsPerMessage: 100 },
    queue: queueDefaults(),
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
    spam: spamDefaults(),
  };
}

function limitDefaults(): Config['limits'] {
  return {
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
  };
}

function queueDefaults(): Config['queue'] {
  return {
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
  };
}

function spamDefaults(): Config['spam'] {
  return {
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
    scoreTimeoutMs: 10_000,
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
