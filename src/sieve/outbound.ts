/**
 * Mail the Sieve engine sends: redirected copies (held in the queue with an SRS
 * envelope sender until the delivery commits) and server-made messages (vacation
 * replies, rejection notices), DKIM-signed like submission signs and sent with the null
 * envelope sender: into the local mailbox when the recipient is ours, through the
 * outbound queue otherwise.
 *
 * Files for the queue are written fsynced into the SMTP spool (`<data>/spool/tmp/`,
 * which a restart cleans) and adopted by the queue, which links them into its own spool.
 */
import { createReadStream } from 'node:fs';
import { mkdir, open, unlink } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { ServerContext } from '../context.js';
import { signMessage } from '../dkim/sign.js';
import type { Logger } from '../log.js';
import { spoolDir, spoolName } from '../smtp/spool.js';
import type { MessageSource } from '../store/types.js';

/** Writes `head` + the source's bytes from `skip` on to a new fsynced spool file. */
export async function spoolFile(dataRoot: string, head: Buffer, source: MessageSource, skip = 0): Promise<string> {
  const dir = path.join(spoolDir(dataRoot), 'tmp');
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `${spoolName()}.sieve`);
  const fh = await open(file, 'wx', 0o640);
  try {
    await fh.write(head);
    if ('data' in source) {
      await fh.write(source.data.subarray(skip));
    } else {
      await pipeline(createReadStream(source.path, { start: skip, highWaterMark: 256 * 1024 }), fh.createWriteStream({ autoClose: false }));
    }
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await unlink(file).catch(() => undefined);
    throw err;
  }
  await fh.close();
  return file;
}

/** The first `max` bytes of a message (its header and, for the body test, what follows). */
export async function readHead(source: MessageSource, max: number): Promise<{ header: Buffer; raw: Buffer }> {
  if ('data' in source) {
    const b = source.data.subarray(0, max);
    return { header: b, raw: b };
  }
  const fh = await open(source.path, 'r');
  try {
    const buf = Buffer.alloc(max);
    const { bytesRead } = await fh.read(buf, 0, max, 0);
    const b = buf.subarray(0, bytesRead);
    return { header: b, raw: b };
  } finally {
    await fh.close();
  }
}

/** Length of a leading "Return-Path:" field: it belongs to final delivery, not to a redirect (RFC 5321 §4.4). */
export function returnPathLength(header: Buffer): number {
  if (!/^return-path:/i.test(header.subarray(0, 12).toString('latin1'))) return 0;
  let i = header.indexOf('\n');
  // Folded continuation lines belong to the field too.
  while (i >= 0 && (header[i + 1] === 0x20 || header[i + 1] === 0x09)) i = header.indexOf('\n', i + 1);
  return i < 0 ? 0 : i + 1;
}

/**
 * Sends a server-made message (CRLF line ends, no DKIM signature yet) to `to` with the
 * null envelope sender, signed with `signDomain`'s key when it has one.
 */
export async function sendGenerated(ctx: ServerContext, opts: { to: string; data: Buffer; signDomain: string; log: Logger }): Promise<void> {
  let data = opts.data;
  try {
    const signed = await signMessage(ctx.db, opts.signDomain, data);
    if (signed) data = Buffer.concat([Buffer.from(signed.header), data]);
    else opts.log.warn({ domain: opts.signDomain }, 'no DKIM key for the domain; sending unsigned');
  } catch (err) {
    opts.log.error({ domain: opts.signDomain, err: (err as Error).message }, 'DKIM signing failed; sending unsigned');
  }
  const r = ctx.accounts.resolveRecipient(opts.to);
  if (r.kind === 'deliver' && r.accounts.length > 0) {
    // RFC 5321 §4.4: Return-Path at final delivery; ours is the null sender.
    await ctx.store.deliver(
      r.accounts.map((a) => ({ account: a.address })),
      { data: Buffer.concat([Buffer.from('Return-Path: <>\r\n'), data]) },
    );
  }
  const remote = r.kind === 'notLocal' ? [opts.to] : r.kind === 'deliver' ? r.forward : [];
  if (remote.length === 0) return;
  if (!ctx.queue) throw new Error('the outbound queue is not running');
  const file = await spoolFile(ctx.config.dataRoot, Buffer.alloc(0), { data });
  try {
    await ctx.queue.enqueue({ mailFrom: '', rcpts: remote, file });
  } finally {
    await unlink(file).catch(() => undefined);
  }
}
