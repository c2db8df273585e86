/**
 * The messages of the size matrix (issue 12): real MIME built with nodemailer (a JPEG
 * and a PDF from test/fixtures/attachments, a generated binary attachment, a text part
 * with the lines SMTP and POP3 must stuff) at exact sizes around every internal
 * threshold, and the check that a stored copy is the sent bytes behind nothing but the
 * trace header fields a hop adds.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import nodemailer from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { defaults } from '../../src/config/index.js';
import { SPILL_BYTES } from '../../src/smtp/spool.js';
import { SYNC_READ_MAX } from '../../src/store/maildir/mail.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;
/** The configured maximum message size of a server with default settings (50 MB). */
export const MAX = defaults('/nonexistent', false).limits.maxMessageSize;

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'attachments');
export const JPEG = readFileSync(path.join(FIXTURES, 'photo.jpg'));
export const PDF = readFileSync(path.join(FIXTURES, 'doc.pdf'));

export interface SizeCase {
  label: string;
  /** Exact size of the message as sent (DATA / APPEND bytes); 0 = a header block and an empty body. */
  bytes: number;
}

/** Every size: an empty body, small, just under and over the store's blocking-read limit and the spill threshold, big, and the maximum. */
export const SIZES: SizeCase[] = [
  { label: '0-byte body', bytes: 0 },
  { label: '1 KB', bytes: KiB },
  { label: '63 KB', bytes: 63 * KiB },
  { label: '65 KB', bytes: 65 * KiB },
  { label: '511 KB', bytes: 511 * KiB },
  { label: '513 KB', bytes: 513 * KiB },
  { label: '5 MB', bytes: 5 * MiB },
  { label: '25 MB', bytes: 25 * MiB },
  { label: `max (${MAX / MiB} MB)`, bytes: MAX },
];
// The threshold the 511/513 KB rows straddle.
if (!(511 * KiB < SPILL_BYTES && 513 * KiB > SPILL_BYTES)) throw new Error('the 511/513 KB rows no longer straddle SPILL_BYTES');
// The 63/65 KB rows straddle the size up to which the Maildir store reads a message file with blocking calls.
if (!(63 * KiB < SYNC_READ_MAX && 65 * KiB > SYNC_READ_MAX)) throw new Error('the 63/65 KB rows no longer straddle SYNC_READ_MAX');

/** A text body with what transfer layers must get right: dot lines, "From ", long lines. */
function textBody(bytes: number): string {
  const lines = ['Hello,', '.', '..a line that starts with two dots', '.single dot first', 'From the start of a line', 'x'.repeat(76), ''];
  let s = lines.join('\r\n');
  while (s.length < bytes) s += `line ${s.length} of the generated body, plain ASCII\r\n`;
  return s.slice(0, Math.max(0, bytes - 2)) + '\r\n';
}

function headers(o: { from: string; to: string; tag: string }) {
  return {
    from: o.from,
    to: o.to,
    subject: `size matrix ${o.tag}`,
    messageId: `<${o.tag}@sizes.test>`,
    date: new Date('2025-01-02T03:04:05Z'),
  };
}

/** 57 random bytes: one full line of base64 (76 characters, RFC 2045 §6.8). */
const LINE_BYTES = 57;
/** About 1 MiB of random binary as base64 lines, made once; big blobs repeat it. */
const BLOCK = (() => {
  const b64 = randomBytes(LINE_BYTES * 18_000).toString('base64');
  return Buffer.from(b64.replace(/.{76}/g, '$&\r\n'), 'latin1');
})();

function compose(mail: ConstructorParameters<typeof MailComposer>[0]): Promise<Buffer> {
  return new MailComposer(mail).compile().build();
}

/**
 * A message of exactly `bytes` bytes (CRLF line ends, ending in CRLF). Tag names it:
 * Message-ID <tag@sizes.test>, Subject "size matrix <tag>".
 */
export async function buildMessage(bytes: number, who: { from: string; to: string; tag: string }): Promise<Buffer> {
  const h = headers(who);
  if (bytes === 0) {
    const m = await compose({ ...h, text: '' });
    return m.subarray(0, m.indexOf('\r\n\r\n') + 4);
  }
  if (bytes < 64 * KiB) {
    // One text/plain part, 7bit: the body is the text as given, so the size is exact.
    const overhead = (await compose({ ...h, text: textBody(200) })).length - textBody(200).length;
    const m = await compose({ ...h, text: textBody(bytes - overhead) });
    if (m.length !== bytes) throw new Error(`built ${m.length} bytes for ${bytes}`);
    return m;
  }
  // multipart/mixed: text, the JPEG, the PDF and a random binary attachment (base64),
  // then an epilogue (RFC 2046 §5.1.1: ignored by readers) to reach the exact size. The
  // big part is encoded here and put in place of a marker after composing (nodemailer's
  // own streams take seconds for 50 MB; the MIME is the same).
  const marker = `=marker-${who.tag}=`;
  const skeleton = await compose({
    ...h,
    text: textBody(2 * KiB),
    attachments: [
      { filename: 'photo.jpg', content: JPEG, contentType: 'image/jpeg' },
      { filename: 'doc.pdf', content: PDF, contentType: 'application/pdf' },
      { raw: `${marker}\r\n` },
    ],
  });
  const at = skeleton.indexOf(`${marker}\r\n`);
  const head = skeleton.subarray(0, at);
  const tail = skeleton.subarray(at + marker.length + 2);
  const partHead = Buffer.from('Content-Type: application/octet-stream; name=data.bin\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=data.bin\r\n\r\n');
  // base64: 4 characters per 3 bytes, 76 per line + CRLF; aim a little low, pad after.
  const room = bytes - head.length - tail.length - partHead.length - 2 * KiB;
  const blobLines = Math.max(0, Math.floor(room / 78)); // 76 base64 characters + CRLF a line
  const used = head.length + partHead.length + blobLines * 78 + tail.length;
  const pad = bytes - used;
  if (pad < 2) throw new Error(`composed ${used} bytes, over the ${bytes} asked for`);
  // One allocation, filled in place (50 MB copied once).
  const out = Buffer.allocUnsafe(bytes);
  let o = head.copy(out, 0);
  o += partHead.copy(out, o);
  const end = o + blobLines * 78;
  for (; o < end; ) o += BLOCK.copy(out, o, 0, Math.min(BLOCK.length, end - o));
  o += tail.copy(out, o);
  epilogue(pad).copy(out, o);
  return out;
}

/** `n` bytes (n ≥ 2) of epilogue lines, each at most 78 + CRLF. */
function epilogue(n: number): Buffer {
  const out: string[] = [];
  let left = n;
  while (left > 0) {
    const len = Math.min(left, 80);
    // never leave a remainder of 1 byte (a line is at least CRLF)
    const take = left - len === 1 ? len - 1 : len;
    out.push('e'.repeat(take - 2) + '\r\n');
    left -= take;
  }
  return Buffer.from(out.join(''));
}

/** Header field names a hop may put in front of a message it stores or relays (with the spam filter's verdict, src/spam/). */
const TRACE_FIELDS = new Set(['return-path', 'received', 'dkim-signature', 'authentication-results', 'received-spf', 'arc-seal', 'arc-message-signature', 'arc-authentication-results', 'x-spam-status', 'x-spam-score', 'x-spam-reasons']);

/**
 * Checks that `stored` is `sent` behind trace fields only; returns a description of
 * what is wrong, or undefined. (No assertion on 50 MB buffers: a failure message
 * would print them.)
 */
export function traceOnlyDifference(stored: Buffer, sent: Buffer): string | undefined {
  if (stored.length < sent.length) return `stored ${stored.length} bytes, sent ${sent.length}`;
  const cut = stored.length - sent.length;
  if (!stored.subarray(cut).equals(sent)) return `the last ${sent.length} bytes stored differ from the ${sent.length} sent`;
  const prefix = stored.subarray(0, cut).toString('latin1');
  if (prefix && !prefix.endsWith('\r\n')) return 'the added header block does not end with CRLF';
  for (const line of prefix.split('\r\n').slice(0, -1)) {
    if (/^[ \t]/.test(line)) continue; // folded continuation
    const name = line.slice(0, line.indexOf(':')).toLowerCase();
    if (!TRACE_FIELDS.has(name)) return `added a field that is not a trace field: ${JSON.stringify(line.slice(0, 80))}`;
  }
  return undefined;
}

/** The stored file in an account's Maildir (new/ or cur/ of INBOX) whose header names `tag`. */
export function storedMessage(dataRoot: string, address: string, tag: string): Buffer | undefined {
  const [local, domain] = address.split('@') as [string, string];
  const base = path.join(dataRoot, 'maildir', domain, local);
  const needle = Buffer.from(`<${tag}@sizes.test>`); // the Message-ID (swaks spells the field Message-Id)
  for (const sub of ['new', 'cur']) {
    const dir = path.join(base, sub);
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)) {
      const file = path.join(dir, f);
      const fd = openSync(file, 'r');
      const head = Buffer.alloc(32 * KiB);
      const n = readSync(fd, head, 0, head.length, 0);
      closeSync(fd);
      if (head.subarray(0, n).includes(needle)) return readFileSync(file);
    }
  }
  return undefined;
}

/** Files left in the temp directories a message passes through (spool/tmp, tmp/imap, every Maildir tmp/). */
export function leftovers(dataRoot: string): string[] {
  const out: string[] = [];
  const list = (dir: string) => {
    if (existsSync(dir)) out.push(...readdirSync(dir).map((f) => path.relative(dataRoot, path.join(dir, f))));
  };
  const maildirs = (dir: string, depth: number) => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      if (e.name === 'tmp') list(path.join(dir, e.name));
      else if (depth > 0) maildirs(path.join(dir, e.name), depth - 1);
    }
  };
  list(path.join(dataRoot, 'spool', 'tmp'));
  list(path.join(dataRoot, 'tmp', 'imap'));
  maildirs(path.join(dataRoot, 'maildir'), 3); // maildir/<domain>/<local>/[.Folder/]tmp
  return out;
}

/** SMTP dot-stuffing (RFC 5321 §4.5.2) for a raw DATA transfer. */
export function dotStuff(msg: Buffer): Buffer {
  const s = msg.toString('latin1').replace(/(^|\r\n)\./g, '$1..');
  return Buffer.from(s, 'latin1');
}

/** A nodemailer transport for one of a test server's SMTP listeners (25 without AUTH; 587 STARTTLS or 465 with AUTH). */
export function smtpTransport(host: string, port: number, o: { tls?: 'starttls' | 'implicit'; user?: string; pass?: string } = {}) {
  return nodemailer.createTransport({
    host,
    port,
    secure: o.tls === 'implicit',
    requireTLS: o.tls === 'starttls',
    ignoreTLS: !o.tls,
    tls: { rejectUnauthorized: false },
    auth: o.user ? { user: o.user, pass: o.pass ?? '' } : undefined,
    // A 50 MB message is parsed, checked, signed and fsynced before the reply.
    socketTimeout: 120_000,
  });
}

/** Sends raw bytes; the server's reply to the final dot (or the error it gave). */
export async function sendRaw(tr: ReturnType<typeof smtpTransport>, from: string, to: string[], raw: Buffer): Promise<string> {
  try {
    return (await tr.sendMail({ envelope: { from, to }, raw })).response;
  } catch (err) {
    const e = err as { response?: string; message: string };
    return e.response ?? `error: ${e.message}`;
  } finally {
    tr.close();
  }
}

/** What the generated attachment (data.bin) of a multipart message decodes to; undefined for a text-only one. */
export function generatedAttachment(raw: Buffer): Buffer | undefined {
  const start = raw.indexOf('filename=data.bin\r\n\r\n');
  if (start < 0) return undefined;
  const from = start + 'filename=data.bin\r\n\r\n'.length;
  return Buffer.from(raw.subarray(from, raw.indexOf('\r\n--', from)).toString('latin1'), 'base64');
}
