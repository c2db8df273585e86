/**
 * Local delivery: one fsynced spool file → every local recipient's mailbox.
 *
 * Recipients are resolved here (aliases, catch-all, plus-addressing) to accounts,
 * duplicates removed (a message to an alias and to one of its members lands once),
 * and handed to `store.deliver`, which hard-links the file into each Maildir and
 * fsyncs before returning. Addresses an alias forwards to outside are returned for the
 * caller to queue.
 */
import type { ServerContext } from '../context.js';
import type { DeliveryResult, DeliveryTarget } from '../store/types.js';
import { resolveWithPostmaster } from './postmaster.js';

export interface LocalDeliveryRequest {
  /** Envelope recipients, canonical (as accepted at RCPT TO). */
  rcpts: string[];
  /** An fsynced file on the data root's filesystem (from spool.writeFinal). */
  file: string;
  /** Target mailbox in each account (Junk for quarantined mail); INBOX by default. */
  mailbox?: string;
}

export interface LocalDeliveryResult {
  delivered: DeliveryResult[];
  /** Remote addresses that aliases forward to: the caller queues them. */
  forward: string[];
  /** Recipients that no longer resolve (removed between RCPT and DATA). */
  unknown: string[];
}

export function resolveTargets(ctx: ServerContext, rcpts: string[], mailbox?: string): { targets: DeliveryTarget[]; forward: string[]; unknown: string[] } {
  const seen = new Set<string>();
  const targets: DeliveryTarget[] = [];
  const forward = new Set<string>();
  const unknown: string[] = [];
  for (const rcpt of rcpts) {
    const r = resolveWithPostmaster(ctx.accounts, ctx.config, rcpt);
    if (r.kind !== 'deliver') {
      unknown.push(rcpt);
      continue;
    }
    for (const acc of r.accounts) {
      if (seen.has(acc.address)) continue;
      seen.add(acc.address);
      targets.push({ account: acc.address, mailbox });
    }
    for (const f of r.forward) forward.add(f);
  }
  return { targets, forward: [...forward], unknown };
}

export async function deliverLocal(ctx: ServerContext, req: LocalDeliveryRequest): Promise<LocalDeliveryResult> {
  const { targets, forward, unknown } = resolveTargets(ctx, req.rcpts, req.mailbox);
  const delivered = targets.length > 0 ? await ctx.store.deliver(targets, { path: req.file }) : [];
  return { delivered, forward, unknown };
}

