// The store contract (./contract.ts) over the Maildir store in a temp data root, with
// real files and real SQLite. fsync is off: the contract is about what the store answers;
// durability has its own tests (test/store/maildir*.test.ts, the SIGKILL tests).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { searchDocument } from '../../src/imap/mime/search-doc.js';
import { createStore } from '../../src/store/index.js';
import { runStoreContract } from './contract.js';
import { CONTRACT_EXPUNGED_KEPT } from './contract/vanished.js';

runStoreContract('maildir', async ({ quotaOf }) => {
  const dataRoot = await mkdtemp(path.join(tmpdir(), 'store-contract-'));
  return { store: createStore({ dataRoot, quotaOf, textIndexer: searchDocument, fsync: false, expungedKept: CONTRACT_EXPUNGED_KEPT }), cleanup: () => rm(dataRoot, { recursive: true, force: true }) };
});
