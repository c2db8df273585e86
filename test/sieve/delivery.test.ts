// Sieve at delivery over real sockets, one server: port 25 and submission to local
// users, alias expansion, fileinto with :create and flags, discard, reject at end of
// DATA (all recipients → 550, some → the others get it), script failures keep the
// message, redirects queued with an SRS sender and our loop marker, SRS addresses
// accepted for bounces, and vacation's refusals. The two-instance paths (DKIM-signed
// replies, bounces coming back through SRS) are in e2e.test.ts.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { getMessage, listMessages } from '../../src/queue/repo.js';
import { srsOf } from '../../src/sieve/deliver.js';
import { putScript, setVacation } from '../../src/sieve/settings.js';
import { SieveStore } from '../../src/sieve/store.js';
import { maildirFolder } from '../helpers/maildir.js';
import { startTestServer, type TestServer } from '../helpers/servers.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';

let t: TestServer;
const LIMITS = { maxScripts: 20, maxScriptBytes: 65536 };
const A = 'alice@example.test';
const B = 'bob@example.test';
const PASS = 'correct horse battery';

beforeAll(async () => {
  t = await startTestServer({
    configure(c) {
      c.checks.enabled = false;
      c.queue.retryBaseSeconds = 3600; // queued mail stays put for the assertions
    },
  });
  await t.addAccount(A, PASS);
  await t.addAccount(B, PASS);
  t.accounts.addAlias('team@example.test', [A, B]);
});
afterAll(() => t?.close());

beforeEach(() => {
  const s = new SieveStore(t.ctx.db);
  for (const a of [A, B]) {
    s.setActive(a, '');
    for (const x of s.list(a)) s.delete(a, x.name);
    if (s.getVacation(a)) s.setVacation(a, { enabled: false, message: 'x', days: 1 });
  }
  for (const m of listMessages(t.ctx.db)) t.ctx.db.prepare('DELETE FROM queue_messages WHERE id = ?').run(m.id);
});

function script(account: string, text: string): void {
  putScript(t.ctx.db, LIMITS, account, 'test', text, { activate: true });
}

/** Messages in a folder, read from the Maildir, with the flag letters of their file names. */
function folder(address: string, name = ''): Array<{ text: string; flags: string }> {
  return maildirFolder(t.dataRoot, address, name);
}

async function send(opts: { from?: string; to: string[]; subject: string; headers?: Record<string, string>; text?: string }) {
  return nodemailer
    .createTransport({ host: '127.0.0.1', port: t.port('smtp'), secure: false, ignoreTLS: true })
    .sendMail({ envelope: { from: opts.from ?? 'sender@remote.example', to: opts.to }, from: opts.from ?? 'sender@remote.example', to: opts.to.join(', '), subject: opts.subject, headers: opts.headers, text: opts.text ?? 'hello' });
}

describe('port 25', () => {
  it('files into a folder it creates, with the flags the script set (RFC 5490, RFC 5232)', async () => {
    script(A, 'require ["fileinto","mailbox","imap4flags"]; if header :contains "subject" "[list]" { fileinto :create :flags ["\\\\Seen","$Lists"] "Lists/Acme"; }');
    await send({ to: [A], subject: '[list] news' });
    const got = folder(A, 'Lists.Acme');
    expect(got).toHaveLength(1);
    expect(got[0]!.text).toContain('Subject: [list] news');
    const mb = await t.ctx.store.getMailbox(A, 'Lists/Acme');
    const meta = await t.ctx.store.fetchMeta(A, mb.id);
    expect(meta[0]!.flags.sort()).toEqual(['$Lists', '\\Seen']);
    expect(folder(A).some((m) => m.text.includes('[list] news'))).toBe(false);
  });

  it('without :create files into INBOX when the folder is missing (the implicit keep\'s place)', async () => {
    script(A, 'require "fileinto"; fileinto "Nowhere";');
    await send({ to: [A], subject: 'to nowhere' });
    expect(folder(A).some((m) => m.text.includes('Subject: to nowhere'))).toBe(true);
  });

  it('discards, and refuses at end of DATA when every recipient rejects (RFC 5429, no backscatter)', async () => {
    script(A, 'if header :contains "subject" "spam" { discard; }');
    const before = folder(A).length;
    const r = await send({ to: [A], subject: 'spam spam' });
    expect(r.response).toMatch(/^250 /);
    expect(folder(A)).toHaveLength(before);

    script(A, 'require "reject"; reject "I do not want your prize.";');
    script(B, 'require "ereject"; ereject "Not from you.";');
    const c = await SmtpTestClient.connect(t.port('smtp'));
    await c.hello();
    expect((await c.cmd('MAIL FROM:<winner@remote.example>')).code).toBe(250);
    expect((await c.cmd(`RCPT TO:<${A}>`)).code).toBe(250);
    expect((await c.cmd(`RCPT TO:<${B}>`)).code).toBe(250);
    expect((await c.cmd('DATA')).code).toBe(354);
    const refused = await c.cmd('Subject: you won\r\n\r\nprize\r\n.');
    expect(refused.code).toBe(550);
    expect(refused.text).toBe('550 5.7.1 I do not want your prize.');
    await c.cmd('QUIT');
    expect(folder(A).some((m) => m.text.includes('you won'))).toBe(false);
    expect(listMessages(t.ctx.db)).toEqual([]);
  });

  it('when only some recipients reject, accepts for the others and tells nobody (sender unverified)', async () => {
    script(A, 'require "reject"; reject "no thanks";');
    const r = await send({ to: [A, B], subject: 'mixed' });
    expect(r.response).toMatch(/^250 /);
    expect(folder(B).some((m) => m.text.includes('Subject: mixed'))).toBe(true);
    expect(folder(A).some((m) => m.text.includes('Subject: mixed'))).toBe(false);
    expect(listMessages(t.ctx.db)).toEqual([]); // no DSN to a sender nobody verified
  });

  it('runs each member\'s own script for an alias (alias expansion)', async () => {
    script(A, 'require ["fileinto","mailbox"]; fileinto :create "Team";');
    script(B, 'discard;');
    await send({ to: ['team@example.test'], subject: 'team news' });
    expect(folder(A, 'Team').map((m) => m.text.includes('team news'))).toEqual([true]);
    expect(folder(B).some((m) => m.text.includes('team news'))).toBe(false);
  });

  it('keeps the message when the script fails, and says why in the log (RFC 5228 §2.10.6)', async () => {
    script(A, 'redirect "a@x.example"; redirect "b@x.example"; redirect "c@x.example"; redirect "d@x.example"; redirect "e@x.example";');
    await send({ to: [A], subject: 'too many redirects' });
    expect(folder(A).some((m) => m.text.includes('too many redirects'))).toBe(true);
    expect(listMessages(t.ctx.db)).toEqual([]);
  });

  it('redirects through the queue with an SRS sender and our marker, no Return-Path; a second pass through us is a loop', async () => {
    script(A, 'redirect "friend@elsewhere.example";');
    await send({ from: 'orig@sender.example', to: [A], subject: 'pass it on' });
    const [q] = listMessages(t.ctx.db);
    expect(q!.recipients.map((r) => r.rcpt)).toEqual(['friend@elsewhere.example']);
    expect(q!.mailFrom).toMatch(/^SRS0=[a-z2-7]{6}=[a-z2-7]{2}=sender\.example=orig@example\.test$/);
    expect(srsOf(t.ctx).reverse(q!.mailFrom)).toBe('orig@sender.example');
    const file = readFileSync(path.join(t.dataRoot, getMessage(t.ctx.db, q!.id)!.spoolPath), 'utf8');
    // The marker first; then what port 25 put in front (the spam filter's fields), then Received.
    expect(file).toMatch(new RegExp(`^X-Sieve-Redirected-From: ${A}\\r\\n(X-Spam-[^\\r]*\\r\\n([ \\t][^\\r]*\\r\\n)*)*Received: `));
    expect(file).not.toContain('Return-Path:');
    expect(folder(A).some((m) => m.text.includes('pass it on'))).toBe(false);

    // The same message coming back (a forwarding loop): kept, not redirected again.
    await send({ to: [A], subject: 'looping', headers: { 'X-Sieve-Redirected-From': A } });
    expect(listMessages(t.ctx.db)).toHaveLength(1);
    expect(folder(A).some((m) => m.text.includes('Subject: looping'))).toBe(true);
  });

  it('accepts a bounce to a valid SRS address and forwards it to the original sender; refuses forged ones', async () => {
    const srs = srsOf(t.ctx).forward('orig@sender.example', 'example.test');
    const c = await SmtpTestClient.connect(t.port('smtp'));
    await c.hello();
    expect((await c.cmd('MAIL FROM:<>')).code).toBe(250);
    expect((await c.cmd(`RCPT TO:<${srs}>`)).code).toBe(250);
    expect((await c.cmd(`RCPT TO:<${srs.replace(/^SRS0=[a-z2-7]{6}/, 'SRS0=aaaaaa')}>`)).code).toBe(550);
    expect((await c.cmd('DATA')).code).toBe(354);
    expect((await c.cmd('Subject: Undelivered Mail Returned to Sender\r\n\r\nbounce\r\n.')).code).toBe(250);
    await c.cmd('QUIT');
    const [q] = listMessages(t.ctx.db);
    expect([q!.mailFrom, q!.recipients.map((r) => r.rcpt)]).toEqual(['', ['orig@sender.example']]);
  });
});

describe('vacation', () => {
  it('replies once per sender per period, never to lists, auto-replies, bulk, the null sender or Bcc copies', async () => {
    setVacation(t.ctx.db, A, { enabled: true, subject: 'Away', message: 'Back on Monday.', days: 7 });
    const replies = () => listMessages(t.ctx.db).filter((m) => m.mailFrom === '');
    await send({ from: 'friend@remote.example', to: [A], subject: 'first' });
    expect(replies().map((m) => m.recipients[0]!.rcpt)).toEqual(['friend@remote.example']);
    const reply = readFileSync(path.join(t.dataRoot, getMessage(t.ctx.db, replies()[0]!.id)!.spoolPath), 'utf8');
    expect(reply).toMatch(/^Auto-Submitted: auto-replied/m);
    expect(reply).toMatch(/^In-Reply-To: <.+>$/m);
    expect(reply).toMatch(/^Subject: Away$/m);
    await send({ from: 'friend@remote.example', to: [A], subject: 'second' });
    await send({ from: 'list@remote.example', to: [A], subject: 'list', headers: { 'List-Id': '<l.remote.example>' } });
    await send({ from: 'bot@remote.example', to: [A], subject: 'auto', headers: { 'Auto-Submitted': 'auto-replied' } });
    await send({ from: 'news@remote.example', to: [A], subject: 'bulk', headers: { Precedence: 'bulk' } });
    await send({ from: 'MAILER-DAEMON@remote.example', to: [A], subject: 'daemon' });
    await nodemailer
      .createTransport({ host: '127.0.0.1', port: t.port('smtp'), secure: false, ignoreTLS: true })
      .sendMail({ envelope: { from: 'x@remote.example', to: [A] }, from: 'x@remote.example', to: 'someone@else.example', subject: 'bcc', text: 'x' });
    expect(replies()).toHaveLength(1);
    expect(folder(A).filter((m) => /Subject: (first|second|list|auto|bulk|daemon|bcc)/.test(m.text))).toHaveLength(7);
  });
});

describe('submission to local users', () => {
  it('runs the recipient\'s script and refuses with 550 when it rejects', async () => {
    script(B, 'require ["fileinto","mailbox","reject"]; if header :contains "subject" "reject me" { reject "Bob says no."; stop; } fileinto :create "FromAlice";');
    const tr = nodemailer.createTransport({ host: '127.0.0.1', port: t.port('submission'), secure: false, requireTLS: true, tls: { rejectUnauthorized: false }, auth: { user: A, pass: PASS } });
    await tr.sendMail({ from: A, to: B, subject: 'hello bob', text: 'x' });
    expect(folder(B, 'FromAlice').some((m) => m.text.includes('hello bob'))).toBe(true);
    await expect(tr.sendMail({ from: A, to: B, subject: 'reject me', text: 'x' })).rejects.toThrow(/550 5\.7\.1 Bob says no\./);
  });
});
