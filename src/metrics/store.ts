/**
 * The message store, timed: every asynchronous MailStore operation goes through a
 * wrapper that observes its duration (mailserver_store_operation_seconds{op}), counts
 * failures by StoreError kind, and counts the mailboxes a delivery reached. server.ts
 * wraps the store once; everything else (protocols, accounts, quota) gets the wrapper,
 * so the store's own code is untouched.
 */
import { StoreError, type MailStore } from '../store/types.js';
import type { Metrics } from './index.js';

/**
 * The operations timed; all of MailStore's asynchronous methods but close, and those of
 * the optional interfaces (SupportsImport, SupportsSnapshot, SupportsRangeRead). The
 * proxy passes the optional methods through, so their type guards still see them.
 */
const TIMED = new Set<string>([
  'ensureAccount', 'removeAccount', 'listMailboxes', 'getMailbox', 'createMailbox', 'setUidState', 'deleteMailbox', 'renameMailbox',
  'setSubscribed', 'listSubscriptions', 'openMailbox', 'selectMailbox', 'fetchMeta', 'readMessage', 'readMessageRange', 'append',
  'importMessage', 'deliver', 'updateFlags', 'expunge', 'copy', 'move', 'usage', 'reindex',
]);

export function instrumentStore(store: MailStore, metrics: Pick<Metrics, 'storeOperation' | 'localDeliveries'>): MailStore {
  const wrapped = new Map<string | symbol, unknown>();
  const timed = (op: string, fn: (...args: unknown[]) => Promise<unknown>) =>
    async (...args: unknown[]) => {
      const t0 = process.hrtime.bigint();
      const seconds = () => Number(process.hrtime.bigint() - t0) / 1e9;
      try {
        const r = await fn.apply(store, args);
        metrics.storeOperation(op, seconds());
        if (op === 'deliver') metrics.localDeliveries((r as Array<{ mailbox: string }>).map((x) => x.mailbox));
        return r;
      } catch (err) {
        metrics.storeOperation(op, seconds(), err instanceof StoreError ? err.kind : 'error');
        throw err;
      }
    };
  return new Proxy(store, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (typeof v !== 'function') return v;
      let w = wrapped.get(prop);
      if (!w) {
        const fn = v as (...args: unknown[]) => Promise<unknown>;
        w = typeof prop === 'string' && TIMED.has(prop) ? timed(prop, fn) : fn.bind(target);
        wrapped.set(prop, w);
      }
      return w;
    },
  });
}
