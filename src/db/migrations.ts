/**
 * Numbered schema migrations. Append only; a shipped migration never changes.
 *
 * Numbers are reserved per area so parallel work does not collide:
 * 1–9 core (domains, accounts, aliases, DKIM), 10–19 outbound queue and submission,
 * 20–29 quotas, 30–39 TLS/ACME, 40–49 inbound checks, 50–59 login throttling and bans,
 * 60–69 Sieve, 70–79 spam, 80–89 admin/ops.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'core',
    sql: `
      CREATE TABLE domains (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,          -- normalised: lower-case, IDN as punycode
        quota_bytes INTEGER,                -- total for the domain, NULL = unlimited
        created_at INTEGER NOT NULL
      );
      CREATE TABLE accounts (
        id INTEGER PRIMARY KEY,
        domain_id INTEGER NOT NULL REFERENCES domains(id),
        local TEXT NOT NULL,                -- normalised local part
        address TEXT NOT NULL UNIQUE,       -- local@domain, normalised
        password_hash TEXT NOT NULL,
        quota_bytes INTEGER,                -- NULL = unlimited
        quota_messages INTEGER,             -- NULL = unlimited
        disabled INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        UNIQUE (domain_id, local)
      );
      CREATE TABLE aliases (
        id INTEGER PRIMARY KEY,
        domain_id INTEGER NOT NULL REFERENCES domains(id),
        address TEXT NOT NULL UNIQUE,       -- local@domain, or @domain for a catch-all
        created_at INTEGER NOT NULL
      );
      CREATE TABLE alias_targets (
        alias_id INTEGER NOT NULL REFERENCES aliases(id) ON DELETE CASCADE,
        target TEXT NOT NULL,               -- normalised address, local or remote
        PRIMARY KEY (alias_id, target)
      );
      CREATE TABLE dkim_keys (
        id INTEGER PRIMARY KEY,
        domain_id INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
        selector TEXT NOT NULL,
        algorithm TEXT NOT NULL,            -- rsa-2048 | ed25519
        private_key TEXT NOT NULL,          -- PEM; never logged
        public_key TEXT NOT NULL,           -- base64 for the p= tag
        status TEXT NOT NULL DEFAULT 'active', -- active | retiring
        created_at INTEGER NOT NULL,
        UNIQUE (domain_id, selector)
      );
    `,
  },
  {
    version: 10,
    name: 'outbound queue',
    sql: `
      -- One row per queued message; the body is a file under <data>/queue/ (spool_path
      -- is relative to the data root), fsynced before the row is committed.
      CREATE TABLE queue_messages (
        id INTEGER PRIMARY KEY,
        spool_path TEXT NOT NULL,
        mail_from TEXT NOT NULL,            -- envelope sender; '' = null sender (a DSN)
        account TEXT,                       -- submitting account, NULL for server-made mail
        size INTEGER NOT NULL,
        header_message_id TEXT,
        created_at INTEGER NOT NULL         -- ms; the lifetime counts from here
      );
      -- One row per recipient: its own state, attempts, next try and the last reply.
      CREATE TABLE queue_recipients (
        id INTEGER PRIMARY KEY,
        message_id INTEGER NOT NULL REFERENCES queue_messages(id) ON DELETE CASCADE,
        rcpt TEXT NOT NULL,
        domain TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'queued', -- queued | delivered | failed
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        last_attempt_at INTEGER,
        last_reply TEXT,
        last_host TEXT,
        updated_at INTEGER NOT NULL
      );
      CREATE INDEX queue_recipients_due ON queue_recipients (state, next_attempt_at);
      CREATE INDEX queue_recipients_message ON queue_recipients (message_id);
    `,
  },
  {
    version: 11,
    name: 'queue DSN parameters',
    sql: `
      -- RFC 3461 parameters given at MAIL FROM / RCPT TO, kept for the bounces, delay
      -- notices and success reports, and passed on to a next hop that offers DSN.
      ALTER TABLE queue_messages ADD COLUMN dsn_ret TEXT;      -- FULL | HDRS | NULL (not given)
      ALTER TABLE queue_messages ADD COLUMN dsn_envid TEXT;    -- ENVID, xtext decoded
      ALTER TABLE queue_recipients ADD COLUMN dsn_notify TEXT; -- NEVER | SUCCESS,FAILURE,DELAY (any of) | NULL
      ALTER TABLE queue_recipients ADD COLUMN dsn_orcpt TEXT;  -- ORCPT "addr-type;address", decoded
      ALTER TABLE queue_recipients ADD COLUMN delay_notified INTEGER NOT NULL DEFAULT 0; -- a "delayed" DSN went out
    `,
  },
  {
    version: 20,
    name: 'quota warnings',
    sql: `
      -- Accounts that got the "mailbox almost full" warning (src/quota/): a row exists
      -- from the crossing of quota.warn_percent until usage falls below it again, so
      -- the warning goes out once per crossing, across restarts.
      CREATE TABLE quota_warnings (
        account TEXT PRIMARY KEY,           -- canonical address
        warned_at INTEGER NOT NULL          -- ms
      );
    `,
  },
  {
    version: 50,
    name: 'login bans',
    sql: `
      -- Client addresses refused on every listener until "until" (src/accounts/bans.ts):
      -- set after too many failed logins (auth.ban_*) or by "mailserver ban add".
      CREATE TABLE auth_bans (
        client TEXT PRIMARY KEY,            -- an IPv4 address, or an IPv6 /64 as "2001:db8:1:2::/64"
        until INTEGER NOT NULL,             -- ms
        failures INTEGER NOT NULL,          -- failed logins that led to it (0: added by hand)
        reason TEXT NOT NULL,
        created_at INTEGER NOT NULL         -- ms
      );
    `,
  },
  {
    version: 60,
    name: 'sieve',
    sql: `
      -- Sieve scripts per account (src/sieve/store.ts): ManageSieve and the CLI write
      -- them, delivery runs the active one. At most one active script per account.
      CREATE TABLE sieve_scripts (
        id INTEGER PRIMARY KEY,
        account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        name TEXT NOT NULL,                 -- RFC 5804 §1.6 script name
        content TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 0,
        updated_at INTEGER NOT NULL,        -- ms, raised on every change of content: with id, the key of the compiled-script cache
        UNIQUE (account_id, name)
      );
      CREATE UNIQUE INDEX sieve_scripts_active ON sieve_scripts (account_id) WHERE active = 1;
      -- The vacation auto-reply an admin sets with "mailserver vacation" (or the web
      -- admin): run after the user's own script.
      CREATE TABLE sieve_vacation (
        account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
        enabled INTEGER NOT NULL,
        subject TEXT,
        message TEXT NOT NULL,
        days INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      -- RFC 5230 §4.2: one reply per sender and handle per period.
      CREATE TABLE sieve_vacation_sent (
        account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        handle TEXT NOT NULL,
        sender TEXT NOT NULL,               -- lower-cased envelope sender
        expires_at INTEGER NOT NULL,        -- ms: no new reply to this sender before
        PRIMARY KEY (account_id, handle, sender)
      );
      CREATE INDEX sieve_vacation_sent_expiry ON sieve_vacation_sent (expires_at);
      -- Keys of the Sender Rewriting Scheme (src/sieve/srs.ts): the newest signs, all verify.
      CREATE TABLE srs_keys (
        id INTEGER PRIMARY KEY,
        secret TEXT NOT NULL,               -- base64, 32 random bytes; never logged
        created_at INTEGER NOT NULL
      );
    `,
  },
  {
    version: 70,
    name: 'spam settings and greylisting',
    sql: `
      -- Per-account overrides of the [spam] config (src/spam/settings.ts); NULL = the default.
      -- The classifier's own data is in each account's spam.sqlite (src/spam/db.ts).
      CREATE TABLE spam_settings (
        account TEXT PRIMARY KEY,           -- canonical address
        enabled INTEGER,                    -- 0: this account's mail is not scored
        junk_threshold REAL,
        reject_threshold REAL,
        greylist INTEGER,
        updated_at INTEGER NOT NULL
      );
      -- Greylisting triplets (src/spam/greylist.ts): client network, envelope sender, recipient.
      CREATE TABLE spam_greylist (
        ip TEXT NOT NULL,                   -- /24 (IPv4) or /64 (IPv6) prefix
        sender TEXT NOT NULL,               -- lower-case MAIL FROM, '' for the null sender
        rcpt TEXT NOT NULL,
        first_seen INTEGER NOT NULL,        -- ms
        last_seen INTEGER NOT NULL,
        passed INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (ip, sender, rcpt)
      ) WITHOUT ROWID;
      CREATE INDEX spam_greylist_last_seen ON spam_greylist (last_seen);
    `,
  },
  {
    version: 80,
    name: 'admin flag',
    sql: `
      -- Accounts that may log in to the web admin (/admin); set with "mailserver account admin <address> on".
      ALTER TABLE accounts ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;
    `,
  },
];
