/**
 * Starts the whole server in-process on loopback port 0 with a temp data root, for
 * tests: `const t = await startTestServer(); await t.addAccount('a@example.test', 'pw');`
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AccountsRepo } from '../../src/accounts/repo.js';
import { defaults, type Config } from '../../src/config/index.js';
import type { ServerContext } from '../../src/context.js';
import { createLogger, type Logger } from '../../src/log.js';
import { startServer, type RunningServer } from '../../src/server.js';
import type { StoreBackend } from '../../src/store/index.js';
import { certsDir, writeFileAtomic } from '../../src/tls/index.js';
import { testCertificate } from './test-certificate.js';

export interface TestServer {
  server: RunningServer;
  ctx: ServerContext;
  config: Config;
  dataRoot: string;
  host: string;
  accounts: AccountsRepo;
  /** The bound port of a listener ('smtp', 'submission', 'submissions', 'imap', 'imaps', 'pop3', 'pop3s', 'http', 'https', 'managesieve'). */
  port(name: string): number;
  /** Adds the domain if needed, then the account. */
  addAccount(address: string, password?: string): Promise<void>;
  close(): Promise<void>;
}

export interface TestServerOptions {
  /** Loopback address to bind (127.0.0.1 by default). */
  host?: string;
  /** Reuse a data root (restart tests); a new temp dir otherwise. */
  dataRoot?: string;
  /** Keep the data root on close (restart tests). */
  keepData?: boolean;
  configure?: (c: Config) => void;
  /**
   * The message store: 'maildir' (default) or 'memory' (src/store/memory/, passes the
   * same contract suite) for protocol tests that do not depend on the disk.
   * MAILSERVER_TEST_STORE=maildir runs those against Maildir too (testStore()).
   */
  store?: StoreBackend;
  /** Let the server make its own self-signed certificate (by default a new data root gets this process's cached one). */
  freshCertificate?: boolean;
  /** The server's logger (default: silent, or TEST_LOG_LEVEL); tests that read the log pass captureLog's. */
  log?: Logger;
}

/**
 * The store a test asked for; MAILSERVER_TEST_STORE=maildir runs the protocol tests
 * that asked for the memory store against Maildir instead (or times them both ways)
 * without editing them.
 */
export function testStore(asked: StoreBackend | undefined): StoreBackend | undefined {
  return asked === 'memory' && process.env.MAILSERVER_TEST_STORE === 'maildir' ? 'maildir' : asked;
}

/**
 * scrypt cost (N = 2^ln) of the password hashes of protocol tests' accounts: each new
 * account hashes and each first login verifies, 60-150 ms apiece at the default 14 on
 * this machine, several seconds a file; at 10 it is 16 times less. What is tested there
 * is the protocol, not the hash (test/accounts/ keeps the default cost).
 */
export const TEST_SCRYPT_LN = 10;

/**
 * Puts the machine's test pair for `hostname` (test-certificate.ts) into a new data root,
 * so the server loads it instead of making one: RSA key generation in JavaScript is
 * seconds per server start (5-11 s measured on a loaded 2-core machine), more than most
 * tests take. The server still reads it the way it reads its own (src/tls, self-signed mode).
 */
function seedCertificate(dataRoot: string, hostname: string): void {
  const pair = testCertificate(hostname);
  writeFileAtomic(path.join(certsDir(dataRoot), 'key.pem'), pair.key, 0o600);
  writeFileAtomic(path.join(certsDir(dataRoot), 'cert.pem'), pair.cert, 0o644);
}

export async function makeTestConfig(dataRoot: string, host = '127.0.0.1'): Promise<Config> {
  const config = defaults(dataRoot, false);
  config.hostname = 'mail.example.test';
  config.listenAddress = host;
  for (const k of Object.keys(config.ports) as Array<keyof Config['ports']>) config.ports[k] = 0;
  config.auth.failureDelayMs = 20;
  config.dns.servers = ['127.0.0.1:9']; // nothing answers there: tests that need DNS start their own server
  config.dns.timeoutMs = 1000;
  config.log.level = 'silent';
  return config;
}

export async function startTestServer(opts: TestServerOptions = {}): Promise<TestServer> {
  const dataRoot = opts.dataRoot ?? (await mkdtemp(path.join(tmpdir(), 'mailserver-test-')));
  const host = opts.host ?? '127.0.0.1';
  const config = await makeTestConfig(dataRoot, host);
  opts.configure?.(config);
  if (!opts.dataRoot && !opts.freshCertificate && config.tls.mode === 'self-signed') seedCertificate(dataRoot, config.hostname);
  const server = await startServer({ dataRoot, config, log: opts.log ?? createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'), storeBackend: testStore(opts.store) });
  const accounts = server.ctx.accounts as AccountsRepo;
  return {
    server,
    ctx: server.ctx,
    config,
    dataRoot,
    host,
    accounts,
    port(name: string) {
      const l = server.listeners.get(name);
      if (!l) throw new Error(`no listener ${name}`);
      return l.port;
    },
    async addAccount(address: string, password = 'secret-password') {
      const domain = address.slice(address.lastIndexOf('@') + 1);
      if (!accounts.listDomains().some((d) => d.name === domain)) accounts.addDomain(domain);
      await accounts.addAccount(address, password);
    },
    async close() {
      await server.close(0);
      if (!opts.keepData) await rm(dataRoot, { recursive: true, force: true });
    },
  };
}
