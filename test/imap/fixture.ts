/**
 * IMAP test fixture: a ServerContext with a temp data root, the real SQLite accounts
 * database and Maildir store, and IMAP listeners (143-style STARTTLS and 993-style
 * implicit TLS) on loopback port 0. `client()` gives a logged-in ImapTestClient.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { afterAll, beforeAll } from 'vitest';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AccountsRepo } from '../../src/accounts/repo.js';
import { defaults, type Config } from '../../src/config/index.js';
import type { Listener, ServerContext } from '../../src/context.js';
import { dbPath, openDb } from '../../src/db/index.js';
import { createResolver } from '../../src/dns/resolver.js';
import { createLogger } from '../../src/log.js';
import { analyzeMessage, searchDocument } from '../../src/imap/mime/index.js';
import { startImap, type ImapListenOptions } from '../../src/imap/server.js';
import { createStore, type StoreBackend } from '../../src/store/index.js';
import { TlsContextHolder } from '../../src/tls/index.js';
import { ImapTestClient } from '../helpers/imap-client.js';
import { TEST_SCRYPT_LN, testStore } from '../helpers/servers.js';
import { testCertificate } from '../helpers/test-certificate.js';

export interface ImapFixture {
  ctx: ServerContext;
  port: number;
  tlsPort: number;
  dataRoot: string;
  accounts: AccountsRepo;
  addAccount(address: string, password?: string): Promise<void>;
  /** A connected, logged-in client (user defaults to the first account). */
  client(user?: string, password?: string): Promise<ImapTestClient>;
  /** A connected client; strict (imap-checker.ts) unless `strict: false`. */
  connect(opts?: { tls?: boolean; strict?: boolean }): Promise<ImapTestClient>;
  /** Stores a message in a mailbox the way SMTP delivery does. */
  deliver(account: string, message: string | Buffer, mailbox?: string): Promise<void>;
  close(): Promise<void>;
}

export const USER = 'mjl@example.test';
export const PASS = 'test-password';

export interface ImapFixtureOptions {
  configure?: (c: Config) => void;
  listen?: Partial<ImapListenOptions>;
  /** 'memory' for tests that do not depend on the disk (test/helpers/servers.ts); Maildir by default. */
  store?: StoreBackend;
  /** Expunges the store remembers per mailbox for QRESYNC (store default otherwise). */
  expungedKept?: number;
  /** false: no full-text index, SEARCH reads the messages (the reference the index is compared with). */
  fts?: boolean;
  /** The full-text fill's worker thread (Maildir store option ftsWorker; `min: 1` runs every fill in it). */
  ftsWorker?: { idleMs?: number; min?: number };
}

export async function startImapFixture(opts: ImapFixtureOptions = {}): Promise<ImapFixture> {
  const dataRoot = await mkdtemp(path.join(tmpdir(), 'imap-test-'));
  const config = defaults(dataRoot, false);
  config.hostname = 'mail.example.test';
  config.listenAddress = '127.0.0.1';
  config.auth.failureDelayMs = 10;
  config.auth.allowPlaintextOnLoopback = true;
  config.log.level = 'silent';
  config.auth.scryptLn = TEST_SCRYPT_LN;
  opts.configure?.(config);
  const log = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
  const db = openDb(dbPath(dataRoot));
  const textIndexer = opts.fts === false ? undefined : searchDocument;
  const store = createStore({ dataRoot, log, fsync: false, analyzer: analyzeMessage, textIndexer, backend: testStore(opts.store), expungedKept: opts.expungedKept, ftsWorker: opts.ftsWorker });
  const accounts = new AccountsRepo(db, store, { passwords: () => config.auth });
  const tls = new TlsContextHolder(testCertificate(config.hostname));
  const ctx: ServerContext = { config, log, db, accounts, store, tls, resolver: createResolver({ servers: ['127.0.0.1:9'], timeoutMs: 500 }) };
  const listeners: Listener[] = [];
  listeners.push(await startImap(ctx, { port: 0, host: '127.0.0.1', ...opts.listen }));
  listeners.push(await startImap(ctx, { port: 0, host: '127.0.0.1', implicitTls: true, ...opts.listen }));
  const clients: ImapTestClient[] = [];
  const f: ImapFixture = {
    ctx,
    port: listeners[0]!.port,
    tlsPort: listeners[1]!.port,
    dataRoot,
    accounts,
    async addAccount(address, password = PASS) {
      const domain = address.slice(address.lastIndexOf('@') + 1);
      if (!accounts.listDomains().some((d) => d.name === domain)) accounts.addDomain(domain);
      await accounts.addAccount(address, password);
    },
    async connect(o = {}) {
      const c = await ImapTestClient.connect(o.tls ? f.tlsPort : f.port, { tls: o.tls });
      c.strict = o.strict ?? true;
      clients.push(c);
      return c;
    },
    async client(user = USER, password = PASS) {
      const c = await f.connect();
      await c.login(user, password);
      return c;
    },
    async deliver(account, message, mailbox) {
      const data = Buffer.isBuffer(message) ? message : Buffer.from(message.replace(/\r?\n/g, '\r\n'));
      await store.deliver([{ account, mailbox }], { data });
    },
    async close() {
      // Every client's leftovers fail the test file (imap-client.ts leftover()).
      const problems: string[] = [];
      for (const c of clients) {
        try {
          c.leftover();
        } catch (e) {
          problems.push((e as Error).message);
        }
      }
      await Promise.all(clients.map((c) => c.close()));
      await Promise.all(listeners.map((l) => l.close(0)));
      await store.close();
      db.close();
      await rm(dataRoot, { recursive: true, force: true, maxRetries: 5 });
      if (problems.length > 0) throw new Error(problems.join('\n'));
    },
  };
  await f.addAccount(USER);
  return f;
}

/**
 * One fixture for a whole test file (started before its tests, closed after them) and
 * fresh accounts from it: `const t = fixtureForFile(); … const user = await t.account();`
 */
export function fixtureForFile(opts?: Parameters<typeof startImapFixture>[0]): { readonly f: ImapFixture; account(prefix?: string): Promise<string> } {
  let f: ImapFixture | undefined;
  let n = 0;
  beforeAll(async () => {
    f = await startImapFixture(opts);
  });
  afterAll(async () => {
    await f?.close();
  });
  return {
    get f() {
      return f!;
    },
    async account(prefix = 'user') {
      const user = `${prefix}${++n}@example.test`;
      await f!.addAccount(user, 'pw');
      return user;
    },
  };
}

/** A simple RFC 5322 message. */
export function message(n: number, opts: { subject?: string; from?: string; to?: string; body?: string } = {}): string {
  return [
    `From: ${opts.from ?? 'Alice <alice@example.org>'}`,
    `To: ${opts.to ?? USER}`,
    `Subject: ${opts.subject ?? `message ${n}`}`,
    `Date: Mon, 2 Nov 2026 10:00:${String(n % 60).padStart(2, '0')} +0000`,
    `Message-ID: <m${n}@example.org>`,
    '',
    opts.body ?? `Body of message ${n}.`,
    '',
  ].join('\r\n');
}
