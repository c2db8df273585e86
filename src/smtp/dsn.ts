/**
 * RFC 3461 on the SMTP side: what the DSN parameters given at MAIL FROM / RCPT TO mean
 * for local delivery and for the forwards an alias makes (src/queue/dsn.ts builds the
 * reports, src/smtp/report.ts sends them).
 */
import type { ServerContext } from '../context.js';
import type { Logger } from '../log.js';
import { wants, type DsnEnvelope, type DsnRecipient, type DsnRecipientParams } from '../queue/dsn.js';
import { report } from './report.js';
import { resolveWithPostmaster } from './postmaster.js';

/**
 * What RFC 3461 asks of local delivery, per envelope recipient: the NOTIFY/ORCPT that its
 * forwards carry on, and the success reports due now.
 *
 * - An address that becomes one destination (an account, or one forward) is "aliasing"
 *   (§6.2.7.2): a forward carries the parameters unchanged; a mailbox reached with
 *   NOTIFY=SUCCESS is reported "delivered".
 * - An address that becomes several (an alias with several targets) is "expansion"
 *   (§6.2.7.3): it is reported "expanded" when SUCCESS was asked, and its forwards carry
 *   NOTIFY without SUCCESS (NEVER when nothing is left).
 * - A forward's ORCPT is the one given, else the address the sender used (§4.2).
 * Mailboxes in `skipped` (over quota) got no copy and are not reported delivered.
 */
export function dsnPlan(
  ctx: ServerContext,
  rcpts: string[],
  params: ReadonlyMap<string, DsnRecipientParams>,
  skipped: readonly string[] = [],
): { forwardDsn: Map<string, DsnRecipientParams>; success: DsnRecipient[] } {
  const forwardDsn = new Map<string, DsnRecipientParams>();
  const success: DsnRecipient[] = [];
  for (const rcpt of rcpts) {
    const r = resolveWithPostmaster(ctx.accounts, ctx.config, rcpt);
    if (r.kind !== 'deliver') continue;
    const p = params.get(rcpt) ?? {};
    const expanded = r.accounts.length + r.forward.length > 1;
    const notify = expanded && p.notify?.includes('SUCCESS') ? p.notify.filter((n) => n !== 'SUCCESS') : p.notify;
    for (const f of r.forward) {
      if (!forwardDsn.has(f)) forwardDsn.set(f, { notify: notify && notify.length === 0 ? ['NEVER'] : notify, orcpt: p.orcpt ?? `rfc822;${rcpt}` });
    }
    if (!wants(p.notify, 'SUCCESS')) continue;
    if (expanded) success.push({ rcpt, orcpt: p.orcpt, action: 'expanded', status: '2.0.0' });
    else if (r.accounts.length === 1 && !skipped.includes(r.accounts[0]!.address)) success.push({ rcpt, orcpt: p.orcpt, action: 'delivered', status: '2.0.0' });
  }
  return { forwardDsn, success };
}

/**
 * Sends the success reports local delivery owes (NOTIFY=SUCCESS, RFC 3461 §5.2.1) to the
 * envelope sender. Never for the null sender; a failure is logged, the message stays
 * delivered.
 */
export async function reportLocalSuccess(
  ctx: ServerContext,
  log: Logger,
  m: { mailFrom: string; rcpts: string[]; params: ReadonlyMap<string, DsnRecipientParams>; dsn: DsnEnvelope; skipped: readonly string[]; original: { file: string } | { data: Buffer } },
): Promise<void> {
  if (m.params.size === 0 || m.mailFrom === '') return;
  const { success } = dsnPlan(ctx, m.rcpts, m.params, m.skipped);
  await report(ctx, log, { mailFrom: m.mailFrom, original: m.original, arrival: new Date(), dsn: m.dsn }, success);
}
