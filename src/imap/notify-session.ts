/**
 * One session's NOTIFY (RFC 5465): the Notifier the last NOTIFY SET made (notify.ts),
 * and the pushes of what it asks for between commands. One push at a time, later ones
 * folded into one, so STATUS lines come in the order of the counts they show.
 */
import type { MailboxId, StoreChange } from '../store/types.js';
import { statusResponse } from './commands/status.js';
import type { ImapConnection } from './connection.js';
import { flushPending } from './dispatch.js';
import type { Notifier, NotifyHost } from './notify.js';
import type { Encoder } from './wire/encoder.js';

export class NotifySession {
  private notifier: Notifier | undefined;
  private pushChain: Promise<void> = Promise.resolve();
  private pushQueued = false;
  /** Serialized with itself: the IDLE loop and a push may both want to write. */
  private flushChain: Promise<void> = Promise.resolve();

  /** `canPush`: no command is running, being received or idling (its responses come first). */
  constructor(
    private readonly conn: ImapConnection,
    private readonly canPush: () => boolean,
  ) {}

  get active(): boolean {
    return this.notifier !== undefined;
  }

  /** NOTIFY SET replaces what was asked before; NOTIFY NONE (undefined) ends it. */
  set(n: Notifier | undefined): void {
    this.notifier = n;
  }

  /** A store change: true if it may produce output. */
  note(c: StoreChange, selectedId: MailboxId | undefined): boolean {
    return this.notifier?.note(c, selectedId) ?? false;
  }

  initialStatus(enc: Encoder): Promise<void> {
    return this.notifier ? this.notifier.initialStatus(this.host(), enc) : Promise.resolve();
  }

  requestPush(): void {
    if (this.pushQueued) return;
    this.pushQueued = true;
    this.pushChain = this.pushChain
      .then(() => new Promise<void>((r) => setImmediate(r)))
      .then(() => {
        this.pushQueued = false;
        return this.push();
      })
      .catch((err: unknown) => this.conn.log.debug({ err }, 'notify: push failed'));
  }

  /**
   * The selected mailbox's changes at once with SELECTED (expunges too, RFC 5465 §5.1;
   * SELECTED-DELAYED keeps those for the usual places; flag changes alone only with
   * FlagChange), then STATUS/LIST of other mailboxes.
   */
  private async push(): Promise<void> {
    const n = this.notifier;
    if (!n || !this.canPush()) return;
    const sel = n.selected;
    const s = this.conn.state;
    const wanted = s.name === 'selected' && s.view.pending.some((p) => p.kind !== 'flags' || sel?.events.has('FlagChange'));
    if (sel && sel.events.size > 0 && wanted) await flushPending(this.conn, !sel.delayed);
    await this.flush();
  }

  /** STATUS and LIST of what happened elsewhere (also called by the IDLE loop). */
  flush(): Promise<void> {
    this.flushChain = this.flushChain.then(() => this.flushNow());
    return this.flushChain;
  }

  private async flushNow(): Promise<void> {
    const n = this.notifier;
    const s = this.conn.state.name;
    if (!n?.pending || s === 'logout' || s === 'notAuthenticated') return;
    const enc = this.conn.encoder();
    try {
      await n.flush(this.host(), enc);
    } catch (err) {
      this.conn.log.debug({ err }, 'notify: status not available');
    }
    const chunks = enc.done();
    if (chunks.length > 0) await this.conn.write(chunks);
  }

  private host(): NotifyHost {
    const conn = this.conn;
    const st = conn.state;
    const account = st.name === 'selected' || st.name === 'authenticated' ? st.account : '';
    return {
      account,
      selectedId: () => (conn.state.name === 'selected' ? conn.state.view.mailboxId : undefined),
      listMailboxes: () => conn.ctx.store.listMailboxes(account),
      encoder: () => conn.encoder(),
      status: async (name, enc, modseq) => {
        const info = await conn.ctx.store.getMailbox(account, name);
        await statusResponse(conn, account, info, ['MESSAGES', 'UIDNEXT', 'UIDVALIDITY', 'UNSEEN', ...(modseq ? ['HIGHESTMODSEQ'] : [])], enc);
      },
    };
  }
}
