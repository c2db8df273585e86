// The store contract (./contract.ts) over the in-memory store the fast protocol tests use.
import { searchDocument } from '../../src/imap/mime/search-doc.js';
import { createStore } from '../../src/store/index.js';
import { runStoreContract } from './contract.js';
import { CONTRACT_EXPUNGED_KEPT } from './contract/vanished.js';

runStoreContract('memory', async ({ quotaOf }) => ({ store: createStore({ dataRoot: '', backend: 'memory', textIndexer: searchDocument, quotaOf, expungedKept: CONTRACT_EXPUNGED_KEPT }), cleanup: async () => undefined }));
