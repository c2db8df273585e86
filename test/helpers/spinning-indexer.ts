// A TextIndexer that never returns: the full-text fill's worker stuck in a batch
// (test/store/fts-worker.test.ts: the batch's deadline ends the worker).
import type { TextIndexer } from '../../src/store/types.js';

export const spinningIndexer: TextIndexer = () => {
  for (;;) {
    // never answers
  }
};
spinningIndexer.module = { url: import.meta.url, name: 'spinningIndexer' };
