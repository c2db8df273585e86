/**
 * Numbered schema migrations. Append only; a shipped migration never changes.
 *
 * Numbers are reserved per area so parallel work does not collide:
 * 1–9 core (domains, accounts, aliases, DKIM), 10–19 outbound queue and submission,
 * 20–29 quotas, 30–39 TLS/ACME, 40–49 inbound checks.
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
];
