/**
 * Quota decisions for mail arriving by SMTP, shared by port 25 (src/smtp/inbound.ts) and
 * the local recipients of submission (src/smtp/submission.ts).
 *
 * RCPT TO (after alias expansion, `rcptQuotaCheck`), with the MAIL FROM SIZE= value
 * (RFC 1870 §6) as the expected size (0 when absent):
 * - every mailbox the recipient reaches is full, or the announced size does not fit
 *   even with the grace → `452 4.2.2` (RFC 3463 "mailbox full", temporary: the sender
 *   retries, nothing is bounced by us);
 * - every mailbox it reaches has a quota (plus grace) smaller than the message →
 *   `552 5.2.2` (RFC 5321 §4.5.3.1.10 / RFC 1870: retrying can never help);
 * - otherwise the recipient is accepted (an alias with some members full is accepted
 *   for the others; see "End of DATA").
 *
 * End of DATA (`deliverWithQuota`), with the real size, for each mailbox: fits, fits
 * within the grace (the mailbox was under quota and the message takes it over by no
 * more than `quota.grace_percent`, Dovecot's quota_grace), or does not fit.
 * smtp-server answers DATA once for all recipients (this is SMTP, not LMTP, which
 * could answer per recipient and let Postfix defer just the full one). So:
 * - no mailbox takes it and nothing else was accepted (no forwards, no remote
 *   recipients) → the whole message is refused with 452 4.2.2 (552 5.2.2 when it can
 *   never fit): the sender keeps it and retries; nothing is lost, nothing bounced;
 * - otherwise the message is accepted for everyone, and the mailboxes that did not
 *   have room get it anyway, over quota (logged at warn). The other choices are
 *   worse: refusing the whole message makes the sender retry for everyone (duplicates
 *   for the recipients that did get it), dropping it loses mail, and a bounce goes to
 *   an envelope sender nobody verified (backscatter). The overrun is bounded: a
 *   recipient that was full at RCPT TO was refused there, so only a mailbox that
 *   filled up during the transaction, a message without SIZE=, or an alias member is
 *   taken over, by one message of at most limits.max_message_size; the next RCPT for a
 *   mailbox over quota gets 452. (The complete fix, a local retry queue per recipient,
 *   is a todo: it needs its own spool and lifetime handling.)
 */
import { stat } from 'node:fs/promises';
import type { SMTPServerSession } from 'smtp-server';
import type { Resolution } from '../accounts/types.js';
import type { ServerContext } from '../context.js';
import type { Logger } from '../log.js';
import { Reply, SmtpReject } from './reply.js';
import { StoreError, type AccountId, type DeliveryResult, type DeliveryTarget, type MessageSource } from '../store/types.js';
import type { Fit } from '../quota/index.js';

export const QuotaRejects = {
  // RFC 3463 §3.3: X.2.2 mailbox full
  mailboxFull: (addr: string) => new SmtpReject(Reply.StorageFull, '4.2.2', `<${addr}>: Mailbox full, try again later`),
  // RFC 3463: 5.2.2 (permanent form): larger than the whole quota
  tooBig: (addr: string) => new SmtpReject(Reply.ExceededStorage, '5.2.2', `<${addr}>: Message exceeds the mailbox quota of the recipient`),
  messageFull: () => new SmtpReject(Reply.StorageFull, '4.2.2', 'Mailbox full, try again later'),
  messageTooBig: () => new SmtpReject(Reply.ExceededStorage, '5.2.2', "Message exceeds the recipient's mailbox quota"),
};

const takes = (f: Fit) => f === 'fits' || f === 'grace';

/** The SIZE= parameter of MAIL FROM (RFC 1870), or 0. */
export function announcedSize(session: SMTPServerSession): number {
  const from = session.envelope.mailFrom;
  const args = from ? (from.args as Record<string, string | undefined> | false) : false;
  const n = args ? Number(args.SIZE) : NaN;
  return Number.isFinite(n) && n > 0 ? n : 0;
}

/**
 * RCPT TO quota check for a recipient already accepted by the address checks:
 * undefined to accept, an SmtpReject (452 4.2.2 / 552 5.2.2) otherwise.
 */
export async function rcptQuotaCheck(ctx: ServerContext, rcpt: string, size: number, resolution?: Resolution): Promise<SmtpReject | undefined> {
  const q = ctx.quota;
  if (!q) return undefined;
  // `resolution`: the caller's own resolution of `rcpt` just now, to avoid a second lookup.
  const r = resolution ?? ctx.accounts.resolveRecipient(rcpt);
  if (r.kind !== 'deliver' || r.accounts.length === 0) return undefined;
  // Forwarded copies leave through the queue; the recipient is accepted for them.
  if (r.forward.length > 0) return undefined;
  const fits = await Promise.all(r.accounts.map((a) => q.fit(a.address, size)));
  if (fits.some(takes)) return undefined;
  return fits.every((f) => f === 'tooBig') ? QuotaRejects.tooBig(rcpt) : QuotaRejects.mailboxFull(rcpt);
}

/**
 * Delivers to local mailboxes with the end-of-DATA rules above. `othersAccepted`: the
 * message is also going somewhere else (forwards, remote recipients), so refusing it
 * is not an option. Throws SmtpReject (452/552) when no mailbox takes it and nothing
 * else does; store errors other than quota pass through.
 */
export async function deliverWithQuota(
  ctx: ServerContext,
  targets: DeliveryTarget[],
  source: MessageSource,
  opts: { othersAccepted: boolean; log?: Logger; /** The source's size when the caller knows it (saves a stat). */ size?: number },
): Promise<{ delivered: DeliveryResult[]; overQuota: AccountId[] }> {
  const q = ctx.quota;
  if (!q || targets.length === 0) return { delivered: targets.length ? await ctx.store.deliver(targets, source) : [], overQuota: [] };
  const size = 'data' in source ? source.data.length : (opts.size ?? (await stat(source.path)).size);
  const accounts = [...new Set(targets.map((t) => t.account))];
  const fits = new Map<AccountId, Fit>();
  await Promise.all(accounts.map(async (a) => fits.set(a, await q.fit(a, size))));
  const refuse = (): SmtpReject => ([...fits.values()].every((f) => f === 'tooBig') ? QuotaRejects.messageTooBig() : QuotaRejects.messageFull());
  if (!opts.othersAccepted && ![...fits.values()].some(takes)) throw refuse();
  // Grace deliveries and (mixed case) mailboxes without room skip the store's check:
  // said in the delivery call itself, for this delivery only.
  const unenforced = new Set(accounts.filter((a) => fits.get(a) !== 'fits'));
  for (let attempt = 0; ; attempt++) {
    try {
      const delivered = await ctx.store.deliver(targets, source, { unenforced: [...unenforced] });
      const overQuota = accounts.filter((a) => !takes(fits.get(a)!));
      if (overQuota.length > 0) opts.log?.warn({ overQuota, size }, 'delivered over quota: the message was accepted for other recipients too');
      return { delivered, overQuota };
    } catch (err) {
      // A mailbox filled up between our look and the store's (concurrent delivery).
      if (!(err instanceof StoreError) || err.kind !== 'overQuota' || !err.account || unenforced.has(err.account) || attempt > accounts.length) throw err;
      fits.set(err.account, 'full');
      if (!opts.othersAccepted && ![...fits.values()].some(takes)) throw refuse();
      unenforced.add(err.account);
    }
  }
}
