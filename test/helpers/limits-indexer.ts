// A TextIndexer that writes, as each message's body, the resource limits of the thread it
// runs in: the full-text fill's worker is started with a bounded young generation
// (test/store/fts-worker.test.ts).
import { isMainThread, resourceLimits } from 'node:worker_threads';
import type { TextIndexer } from '../../src/store/types.js';

export const limitsIndexer: TextIndexer = () => ({
  head: '',
  addrs: '',
  parts: '',
  body: isMainThread ? 'main thread' : `young ${resourceLimits.maxYoungGenerationSizeMb ?? 'unset'} MB`,
});
limitsIndexer.module = { url: import.meta.url, name: 'limitsIndexer' };
