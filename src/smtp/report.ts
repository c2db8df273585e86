/**
 * Sending reports (DSNs, src/queue/dsn.ts) to an envelope sender: into the sender's own
 * mailbox when the sender is one of our addresses, else queued with the null sender
 * (RFC 5321 §4.5.5) to the sender's server. Used by the queue (bounces, delay notices,
 * "relayed" reports) and by SMTP delivery (success reports for local mailboxes,
 * RFC 3461 NOTIFY=SUCCESS).
 *
 * A message whose sender is null never gets a report (no bounce of a bounce).
 *
 * A report leaving for another server is DKIM-signed (RFC 6376) as MAILER-DAEMON@ the
 * server's own domain (the local domain holding the host name, see postmaster.ts): its
 * sender is null, so SPF can only check the HELO name, and a receiver applying DMARC
 * p=reject to our domain (ours included) would refuse an unsigned one.
 */
import { open } from 'node:fs/promises';
import type { ServerContext } from '../context.js';
import type { Logger } from '../log.js';
import { resolveTargets } from './deliver.js';
import { headerEnd } from './spool.js';
import { serverDomain } from './postmaster.js';
import { signMessage } from '../dkim/sign.js';
import { buildDsn, FULL_RETURN_LIMIT, type DsnEnvelope, type DsnInput, type DsnRecipient } from '../queue/dsn.js';
import { insertMessage } from '../queue/repo.js';
import { removeQueueFile, writeQueueFile } from '../queue/spool.js';

type ReportContext = Pick<ServerContext, 'config' | 'db' | 'accounts' | 'store' | 'queue'>;

/** The first `max` bytes of a file (all of it when smaller), or nothing when it cannot be read. */
async function readStart(file: string, max: number): Promise<{ data: Buffer; whole: boolean }> {
  try {
    const fh = await open(file, 'r');
    try {
      const buf = Buffer.alloc(max + 1);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      return { data: buf.subarray(0, Math.min(bytesRead, max)), whole: bytesRead <= max };
    } finally {
      await fh.close();
    }
  } catch {
    return { data: Buffer.alloc(0), whole: false };
  }
}

/**
 * The original message for a report: its header block, and for a failure report with
 * RET=FULL the whole message when it is at most FULL_RETURN_LIMIT bytes.
 */
export async function originalParts(source: { file: string } | { data: Buffer }, full: boolean): Promise<Pick<DsnInput, 'originalHeaders' | 'originalMessage'>> {
  const max = full ? FULL_RETURN_LIMIT : 64 * 1024;
  const { data, whole } = 'data' in source ? { data: source.data.subarray(0, max), whole: source.data.length <= max } : await readStart(source.file, max);
  return { originalHeaders: data.subarray(0, headerEnd(data)), originalMessage: full && whole ? data : undefined };
}

/** The domain a report comes from: the server's own, when it has one we can sign for. */
export function reportDomain(ctx: Pick<ServerContext, 'config' | 'accounts'>): string {
  return serverDomain(ctx.accounts, ctx.config.hostname, ctx.config.adminAddress) ?? ctx.config.hostname;
}

/** Delivers a built report to `to` (the original envelope sender); signed when it leaves. */
export async function sendReport(ctx: ReportContext, to: string, report: Buffer, log: Logger): Promise<void> {
  const { targets, forward } = resolveTargets(ctx as ServerContext, [to]);
  const remote = ctx.accounts.resolveRecipient(to).kind === 'notLocal' ? [to] : forward;
  if (targets.length > 0) {
    // RFC 5321 §4.4: Return-Path at final delivery; a report's is empty.
    await ctx.store.deliver(targets, { data: Buffer.concat([Buffer.from('Return-Path: <>\r\n'), report]) });
    log.info({ to }, 'report delivered to sender');
  }
  if (remote.length > 0) {
    const domain = reportDomain(ctx);
    const signed = await signMessage(ctx.db, domain, report).catch((err: unknown) => log.warn({ err: (err as Error).message, domain }, 'report not signed'));
    const f = await writeQueueFile(ctx.config.dataRoot, signed ? Buffer.concat([Buffer.from(signed.header), report]) : report);
    try {
      const id = insertMessage(ctx.db, { spoolPath: f.rel, mailFrom: '', size: f.size, rcpts: remote });
      log.info({ report: id, to: remote }, 'report queued for the sender');
    } catch (err) {
      await removeQueueFile(ctx.config.dataRoot, f.rel);
      throw err;
    }
    // Due at once; a running queue picks it up at its next look (kick() when it has one).
    (ctx.queue as { kick?(): void } | undefined)?.kick?.();
  }
  if (targets.length === 0 && remote.length === 0) log.warn({ to }, 'report has nowhere to go (sender unknown); dropped');
}

/**
 * Builds and sends a report about `recipients` of a message (a file, or bytes in memory) to
 * its sender. Nothing for the null sender. Errors are logged, not thrown: the
 * recipients' outcome stands either way.
 */
export async function report(
  ctx: ReportContext,
  log: Logger,
  m: { mailFrom: string; original: { file: string } | { data: Buffer }; arrival: Date; dsn: DsnEnvelope; queueId?: string | number; reason?: 'failed' | 'expired' },
  recipients: DsnRecipient[],
): Promise<void> {
  if (recipients.length === 0) return;
  const rcpts = recipients.map((r) => `${r.rcpt}:${r.action}`);
  if (m.mailFrom === '') {
    log.info({ qid: m.queueId, rcpts }, 'message had the null sender: no report');
    return;
  }
  try {
    const original = await originalParts(m.original, m.dsn.ret === 'FULL' && recipients.some((r) => r.action === 'failed'));
    const dsn = buildDsn({ reportingMta: ctx.config.hostname, fromDomain: reportDomain(ctx), to: m.mailFrom, arrivalDate: m.arrival, recipients, ...original, reason: m.reason, envid: m.dsn.envid, queueId: m.queueId });
    await sendReport(ctx, m.mailFrom, dsn, log.child({ qid: m.queueId }));
  } catch (err) {
    // E.g. the sender's mailbox is over quota: the report is lost, and the log says so.
    log.error({ err, qid: m.queueId, to: m.mailFrom, rcpts }, 'report could not be delivered');
  }
}
