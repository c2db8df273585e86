/**
 * Helpers of the spam tests: a server with an account, an imapflow client, a pooled
 * nodemailer transport to port 25, and where port 25 filed each message.
 */
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import type { Config } from '../../src/config/index.js';
import type { Logger } from '../../src/log.js';
import { baseDbPath, Classifiers } from '../../src/spam/classifier.js';
import { SpamDb } from '../../src/spam/db.js';
import { scan } from '../../src/spam/message.js';
import { trainMessage } from '../../src/spam/train.js';
import type { AccountId, MailboxId, StoreChange } from '../../src/store/types.js';
import { startTestServer, type TestServer } from '../helpers/servers.js';
import { corpus } from './corpus.js';

export const PW = 'spam-test-password';

export async function spamServer(configure?: (c: Config) => void, log?: Logger): Promise<TestServer> {
  return startTestServer({
    log,
    configure: (c) => {
      // No DNS in these tests: SPF/DKIM/DMARC are tested in test/msgauth; scoring is separate.
      c.checks.enabled = false;
      configure?.(c);
    },
  });
}

export function imap(t: TestServer, user: string): ImapFlow {
  return new ImapFlow({ host: '127.0.0.1', port: t.port('imap'), secure: false, auth: { user, pass: PW }, logger: false, tls: { rejectUnauthorized: false } });
}

/** CRLF line ends (the corpus files have bare LFs), 8-bit bytes kept. */
export function crlf(b: Buffer): Buffer {
  return Buffer.from(b.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
}

/** Records the mailbox name each delivery to `account` went to, in order. */
export function deliveries(t: TestServer, account: AccountId): { names: string[]; stop: () => void; ready: Promise<void> } {
  const names: string[] = [];
  const ids = new Map<number, string>();
  const ready = t.ctx.store.listMailboxes(account).then((list) => {
    for (const m of list) ids.set(m.id, m.name);
  });
  const stop = t.ctx.store.changes.subscribe(account, (c: StoreChange) => {
    if (c.kind === 'added' && c.origin?.via === 'deliver') names.push(ids.get(c.mailboxId as MailboxId) ?? String(c.mailboxId));
  });
  return { names, stop, ready };
}

/** A pooled SMTP client on port 25 (one connection: deliveries stay in order). */
export function smtp(t: TestServer) {
  return nodemailer.createTransport({ host: '127.0.0.1', port: t.port('smtp'), secure: false, ignoreTLS: true, pool: true, maxConnections: 1, maxMessages: Infinity });
}

export async function send(tr: ReturnType<typeof smtp>, to: string, raw: Buffer, from = 'sender@remote.example'): Promise<{ code: number; response: string }> {
  try {
    const info = await tr.sendMail({ envelope: { from, to: [to] }, raw });
    return { code: Number(info.response.slice(0, 3)), response: info.response };
  } catch (err) {
    const e = err as { responseCode?: number; response?: string };
    if (e.responseCode) return { code: e.responseCode, response: e.response ?? '' };
    throw err;
  }
}

/** Seeds the shared base with `n` ham and `n` spam of the corpus's training half, as `mailserver spam seed` does. */
export function seedBase(dataRoot: string, n: number): void {
  new SpamDb(baseDbPath(dataRoot), { create: true }).close();
  const seed = new Classifiers(dataRoot);
  seed.useBaseAsAccount('base');
  const o = { how: 'imported', implicit: false, hostname: 'mx.test', implicitPerDay: 0 };
  for (const m of corpus('train', n)) trainMessage(seed, 'base', scan(crlf(m.bytes), false, 'mx.test'), m.spam ? 'spam' : 'ham', o);
  seed.close();
}
