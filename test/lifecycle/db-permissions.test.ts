// mailserver.db holds password hashes and DKIM keys: it and SQLite's -wal and -shm files
// are 0640 whatever the umask, and a database an older version left 0644 is tightened.
import { chmodSync, statSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dbPath } from '../../src/db/index.js';
import { startTestServer, type TestServer } from '../helpers/servers.js';

const mode = (f: string): number => statSync(f).mode & 0o777;

describe('database file permissions', () => {
  let umask: number;
  let t: TestServer | undefined;
  beforeEach(() => {
    umask = process.umask(0o022); // the usual umask, under which files are made 0644
  });
  afterEach(async () => {
    await t?.close();
    t = undefined;
    process.umask(umask);
  });

  it('a new database and its -wal and -shm are 0640 under umask 022', async () => {
    t = await startTestServer({ store: 'memory' });
    await t.addAccount('perm@example.test'); // a write, so the WAL has content
    const db = dbPath(t.dataRoot);
    expect(mode(db)).toBe(0o640);
    expect(mode(`${db}-wal`)).toBe(0o640);
    expect(mode(`${db}-shm`)).toBe(0o640);
  });

  it('a database left 0644 by an older version is 0640 after the next start', async () => {
    t = await startTestServer({ store: 'memory', keepData: true });
    const root = t.dataRoot;
    await t.close();
    chmodSync(dbPath(root), 0o644);
    t = await startTestServer({ store: 'memory', dataRoot: root });
    expect(mode(dbPath(root))).toBe(0o640);
    expect(mode(`${dbPath(root)}-wal`)).toBe(0o640);
  });
});
