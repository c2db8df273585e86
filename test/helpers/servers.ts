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
import { createLogger } from '../../src/log.js';
import { startServer, type RunningServer } from '../../src/server.js';

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
  const server = await startServer({ dataRoot, config, log: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent') });
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
