/**
 * The last few hundred mail events (messages received or refused over SMTP, outbound
 * attempts of the queue), kept in memory for the web admin's "Recent mail" page. A ring:
 * the oldest event goes when a new one comes; nothing survives a restart (the log
 * keeps the full history).
 */

export type MailEventKind = 'received' | 'refused' | 'delivered' | 'deferred' | 'bounced' | 'expired';

export interface MailEvent {
  at: Date;
  kind: MailEventKind;
  /** 'smtp', 'submission' or 'queue'. */
  protocol: string;
  /** The client's address (SMTP) or the remote host (queue). */
  peer?: string;
  /** The authenticated account (submission). */
  user?: string;
  from?: string;
  to: string[];
  /** The SMTP reply as sent or received. */
  reply: string;
  /** Why it was refused (see rejectionReason in src/metrics/smtp.ts). */
  reason?: string;
  queueId?: number;
}

export class RecentEvents {
  private readonly ring: MailEvent[] = [];
  private next = 0;

  constructor(readonly capacity = 500) {}

  push(e: MailEvent): void {
    if (this.ring.length < this.capacity) this.ring.push(e);
    else this.ring[this.next] = e;
    this.next = (this.next + 1) % this.capacity;
  }

  /** Newest first. */
  list(): MailEvent[] {
    const n = this.ring.length;
    const out: MailEvent[] = [];
    for (let i = 1; i <= n; i++) out.push(this.ring[(this.next - i + n) % n]!);
    return out;
  }
}
