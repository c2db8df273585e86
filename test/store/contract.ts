/**
 * The store contract: one suite every MailStore implementation must pass
 * (`runStoreContract(name, makeStore)`), run over the Maildir store in a temp data root
 * (contract-maildir.test.ts) and over the in-memory store (contract-memory.test.ts).
 * It speaks only the public interface (src/store/types.ts), the optional ones through
 * their type guards, so a new backend (PostgreSQL + S3, docs/scaling.md) is judged by
 * the same tests.
 *
 * Sections (./contract/*.ts): the mailbox tree and names; UIDs; flags, keywords and
 * modseqs; delivery, quota and message bytes; copy/move/expunge; expunged UIDs for
 * QRESYNC (stores made with expungedKept CONTRACT_EXPUNGED_KEPT); the change bus and
 * concurrency; close; import.
 */
import { afterEach, beforeEach, describe } from 'vitest';
import type { AccountId, MailStore, Quota } from '../../src/store/types.js';
import { busAndConcurrency } from './contract/bus.js';
import { deliveryAndBytes } from './contract/delivery.js';
import { flagsAndModseqs } from './contract/flags.js';
import { importAndClose } from './contract/lifecycle.js';
import { transfers } from './contract/transfer.js';
import { treeAndNames } from './contract/tree.js';
import { uids } from './contract/uids.js';
import { searches, textSearches } from './contract/search.js';
import { sorts } from './contract/sort.js';
import { vanishedRecord } from './contract/vanished.js';
import type { Env, MakeStore } from './contract/env.js';

export type { MakeStore, StoreHandle } from './contract/env.js';

export function runStoreContract(name: string, makeStore: MakeStore): void {
  describe(`store contract: ${name}`, () => {
    const quotas = new Map<AccountId, Quota>();
    const env: Env = { store: undefined as unknown as MailStore, quotas, cleanup: async () => undefined };
    beforeEach(async () => {
      quotas.clear();
      const h = await makeStore({ quotaOf: (a) => quotas.get(a) });
      env.store = h.store;
      env.cleanup = h.cleanup;
    });
    afterEach(async () => {
      await env.store.close().catch(() => undefined);
      await env.cleanup();
    });
    treeAndNames(env);
    uids(env);
    flagsAndModseqs(env);
    deliveryAndBytes(env);
    transfers(env);
    vanishedRecord(env);
    busAndConcurrency(env);
    importAndClose(env);
    searches(env);
    sorts(env);
    textSearches(env);
  });
}
