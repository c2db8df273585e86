/**
 * A protocol session's hold on the store's background work (MailStore.beginWork): on
 * while the session works for its client (a command running, its response being
 * written), off while it waits for the client (between commands, IDLE, a continuation
 * line). The IMAP connection keeps one; POP3, whose commands never wait for the client
 * midway, calls beginWork per command itself.
 */
import type { MailStore } from './types.js';

export class WorkHold {
  private end: (() => void) | undefined;

  constructor(private readonly store: Pick<MailStore, 'beginWork'>) {}

  get held(): boolean {
    return this.end !== undefined;
  }

  on(): void {
    this.end ??= this.store.beginWork();
  }

  off(): void {
    const end = this.end;
    this.end = undefined;
    end?.();
  }

  /** Off while `p` is pending (the session waits for its client), then as it was. */
  waiting<T>(p: Promise<T>): Promise<T> {
    if (!this.held) return p;
    this.off();
    return p.finally(() => this.on());
  }
}
