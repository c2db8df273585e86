// A TextIndexer that ends the thread it runs in at its first message: the full-text
// fill's worker dying under a search (test/store/fts-worker.test.ts).
import type { TextIndexer } from '../../src/store/types.js';

export const crashingIndexer: TextIndexer = () => process.exit(3);
crashingIndexer.module = { url: import.meta.url, name: 'crashingIndexer' };
