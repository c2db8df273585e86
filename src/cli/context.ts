/**
 * What every CLI verb gets: the data root, the standard streams, and lazily opened
 * resources (the database, the account repository, the message store), closed once at
 * the end of the run. The database is the server's own (WAL), so verbs work while the
 * server runs.
 */
import type { Readable, Writable } from 'node:stream';
import { AccountsRepo } from '../accounts/repo.js';
import { loadConfig, type Config } from '../config/index.js';
import { dbPath, openDb, type Db } from '../db/index.js';
import { silentLogger } from '../log.js';
import type { MailStore } from '../store/types.js';

export interface CliIo {
  stdin: Readable & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  stdout: Writable;
  stderr: Writable;
  env: NodeJS.ProcessEnv;
}

/** A usage or input error: printed as one line, exit status 2 for usage, 1 otherwise. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly usage = false,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export class CliContext {
  private dbHandle?: Db;
  private storeHandle?: MailStore;
  private repoHandle?: AccountsRepo;
  private configHandle?: Config;

  constructor(
    readonly dataRoot: string,
    readonly io: CliIo,
  ) {}

  /** The server database, opened (and migrated, behind a snapshot) on first use. */
  db(): Db {
    if (!this.dbHandle) {
      let keepSnapshots: number | undefined;
      try {
        keepSnapshots = this.config().backup.keepSnapshots;
      } catch {
        // A bad config is reported by the verbs that need it; the default applies here.
      }
      this.dbHandle = openDb(dbPath(this.dataRoot), { keepSnapshots });
    }
    return this.dbHandle;
  }

  /** The configuration of this data root (file and environment), loaded on first use. */
  config(): Config {
    this.configHandle ??= loadConfig({ dataRoot: this.dataRoot, env: this.io.env });
    return this.configHandle;
  }

  /** The message store of this data root, opened on first use. */
  async store(): Promise<MailStore> {
    if (!this.storeHandle) {
      // Loaded on demand so verbs that never touch mail start fast.
      const { createStore } = await import('../store/index.js');
      const { searchDocument } = await import('../imap/mime/search-doc.js');
      this.storeHandle = createStore({ dataRoot: this.dataRoot, log: silentLogger, textIndexer: searchDocument });
    }
    return this.storeHandle;
  }

  /** The account repository; with `withStore`, account changes also create/remove Maildirs. */
  async accounts(opts: { withStore?: boolean } = {}): Promise<AccountsRepo> {
    // New password hashes get the configured scrypt cost (read when one is made).
    const passwords = { passwords: () => this.config().auth };
    if (opts.withStore) return new AccountsRepo(this.db(), await this.store(), passwords);
    this.repoHandle ??= new AccountsRepo(this.db(), undefined, passwords);
    return this.repoHandle;
  }

  out(line = ''): void {
    this.io.stdout.write(`${line}\n`);
  }

  warn(line: string): void {
    this.io.stderr.write(`mailserver: warning: ${line}\n`);
  }

  async close(): Promise<void> {
    try {
      await this.storeHandle?.close();
    } finally {
      this.dbHandle?.close();
    }
  }
}
