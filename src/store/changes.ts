/**
 * The change bus (mox store/state.go idea): the store publishes every committed change
 * (messages added, expunged, flags changed, mailboxes added/removed/renamed) to the
 * sessions of that account, synchronously and in commit order, so an IMAP IDLE sees a
 * delivery within the same event-loop turn as the index commit.
 *
 * In-process only: changes made by another process (the CLI) are seen by sessions on
 * their next openMailbox/fetchMeta, not pushed.
 *
 * A listener that throws does not stop the others; the error goes to the log.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../log.js';
import type { AccountId, ChangeBus, StoreChange } from './types.js';

/** The event of subscribeAll (account ids always contain "@"). */
const ALL = '*';

export class InProcessChangeBus implements ChangeBus {
  private readonly emitter = new EventEmitter();

  constructor(private readonly log?: Logger) {
    // Many IMAP sessions of one account may listen; the default limit of 10 warns.
    this.emitter.setMaxListeners(0);
  }

  /** Part of ChangeBus for EventEmitter compatibility; listeners are unlimited by default. */
  setMaxListeners(n: number): EventEmitter {
    return this.emitter.setMaxListeners(n);
  }

  subscribe(account: AccountId, fn: (c: StoreChange) => void): () => void {
    return this.on(account, fn);
  }

  subscribeAll(fn: (c: StoreChange) => void): () => void {
    return this.on(ALL, fn);
  }

  private on(event: string, fn: (c: StoreChange) => void): () => void {
    const wrapped = (c: StoreChange): void => {
      try {
        fn(c);
      } catch (err) {
        this.log?.error({ err, account: c.account }, 'change listener failed');
      }
    };
    this.emitter.on(event, wrapped);
    return () => {
      this.emitter.off(event, wrapped);
    };
  }

  /** Call only after the index transaction that made the change has committed. */
  publish(change: StoreChange): void {
    this.emitter.emit(change.account, change);
    this.emitter.emit(ALL, change);
  }

  listenerCount(account: AccountId): number {
    return this.emitter.listenerCount(account);
  }
}
