/**
 * Quota test environment: the whole server on loopback (startTestServer) with inbound
 * checks off (they have their own tests), no grace and no warnings unless a test asks,
 * plus helpers to build messages of an exact size and to talk SMTP line by line.
 */
import type { Config } from '../../src/config/index.js';
import type { MailboxId } from '../../src/store/types.js';
import { SmtpTestClient, type SmtpReply } from '../helpers/smtp-client.js';
import { startTestServer, type TestServer } from '../helpers/servers.js';

export const PW = 'secret-password';

export async function quotaServer(configure?: (c: Config) => void): Promise<TestServer> {
  return startTestServer({
    configure: (c) => {
      c.checks.enabled = false;
      c.quota.gracePercent = 0;
      c.quota.warnPercent = 0;
      configure?.(c);
    },
  });
}

/** An RFC 5322 message of exactly `size` bytes (CRLF line ends, at least ~100 bytes). */
export function message(size: number, subject = 'test'): Buffer {
  const head = `From: <sender@remote.test>\r\nTo: <rcpt@example.test>\r\nSubject: ${subject}\r\nMessage-ID: <${Math.random().toString(36).slice(2)}@remote.test>\r\n\r\n`;
  let body = '';
  const need = size - head.length;
  if (need < 2) throw new Error(`message too small: ${size}`);
  const line = 'x'.repeat(76) + '\r\n';
  while (body.length + line.length <= need - 2) body += line;
  body += 'y'.repeat(need - 2 - body.length) + '\r\n';
  const out = Buffer.from(head + body);
  if (out.length !== size) throw new Error(`built ${out.length}, wanted ${size}`);
  return out;
}

/** Appends straight through the store (setup only; the protocol under test is elsewhere). */
export async function fill(t: TestServer, account: string, sizes: number[], mailbox = 'INBOX'): Promise<void> {
  for (const s of sizes) await t.ctx.store.append(account, mailbox, { data: message(s) });
}

export async function usage(t: TestServer, account: string): Promise<{ bytes: number; messages: number }> {
  return t.ctx.store.usage(account);
}

export async function inboxCount(t: TestServer, account: string, mailbox = 'INBOX'): Promise<number> {
  return (await t.ctx.store.getMailbox(account, mailbox)).messages;
}

export async function inboxId(t: TestServer, account: string, mailbox = 'INBOX'): Promise<MailboxId> {
  return (await t.ctx.store.getMailbox(account, mailbox)).id;
}

/** One SMTP session on port 25 (or submission with `auth`): the replies of each step. */
export async function smtpSession(
  port: number,
  steps: { from: string; size?: number; rcpts: string[]; data?: Buffer; auth?: { user: string; pass: string } },
): Promise<{ mail: SmtpReply; rcpts: SmtpReply[]; data?: SmtpReply }> {
  const c = await SmtpTestClient.connect(port);
  try {
    const ehlo = await c.hello();
    if (ehlo.code !== 250) throw new Error(ehlo.text);
    if (steps.auth) {
      const token = Buffer.from(`\0${steps.auth.user}\0${steps.auth.pass}`).toString('base64');
      const a = await c.cmd(`AUTH PLAIN ${token}`);
      if (a.code !== 235) throw new Error(a.text);
    }
    const mail = await c.cmd(`MAIL FROM:<${steps.from}>${steps.size !== undefined ? ` SIZE=${steps.size}` : ''}`);
    const rcpts: SmtpReply[] = [];
    for (const r of steps.rcpts) rcpts.push(await c.cmd(`RCPT TO:<${r}>`));
    let data: SmtpReply | undefined;
    if (steps.data && rcpts.some((r) => r.code === 250)) {
      const go = await c.cmd('DATA');
      if (go.code !== 354) throw new Error(go.text);
      c.write(Buffer.concat([steps.data, Buffer.from('.\r\n')]));
      data = await c.reply();
    }
    await c.cmd('QUIT').catch(() => undefined);
    return { mail, rcpts, data };
  } finally {
    c.close();
  }
}
