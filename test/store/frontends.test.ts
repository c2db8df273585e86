// Store errors as each front end answers them: the store's kinds are protocol-neutral
// (src/store/types.ts) and every protocol maps them to its own reply. A mailbox whose
// UIDs are used up (RFC 9051 §2.3.1.1) is not "over quota": IMAP says NO [LIMIT]
// (RFC 5530), SMTP 452 4.2.2, and nothing is stored.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { supportsImport } from '../../src/store/types.js';
import { ImapTestClient } from '../helpers/imap-client.js';
import { startTestServer, type TestServer } from '../helpers/servers.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';

const USER = 'full@example.test';
const PASS = 'full-password-1';
const MAX_UID = 0xffffffff;
let t: TestServer;

beforeAll(async () => {
  t = await startTestServer({
    configure: (c) => {
      c.auth.allowPlaintextOnLoopback = true;
      c.checks.enabled = false; // no DNS here: SPF/DMARC would answer 451 first
    },
  });
  await t.addAccount(USER, PASS);
  const store = t.ctx.store;
  if (!supportsImport(store)) throw new Error('the server store imports');
  // The last UID of INBOX is taken.
  await store.setUidState(USER, 'INBOX', { uidNext: MAX_UID });
  const [r] = await store.deliver([{ account: USER }], { data: Buffer.from('Subject: last\r\n\r\nthe last one\r\n') });
  expect(r!.uid).toBe(MAX_UID);
});
afterAll(async () => {
  await t?.close();
});

describe('a mailbox whose UIDs are used up', () => {
  it('IMAP APPEND: NO [LIMIT], nothing stored', async () => {
    const c = await ImapTestClient.connect(t.port('imap'));
    try {
      await c.login(USER, PASS);
      const { tagged } = await c.transact('no', ['APPEND INBOX ', Buffer.from('Subject: one more\r\n\r\nx\r\n')]);
      expect(tagged.code).toBe('LIMIT');
    } finally {
      await c.close();
    }
    expect((await t.ctx.store.getMailbox(USER, 'INBOX')).messages).toBe(1);
  });

  it('SMTP (port 25): 452 4.2.2 at the end of DATA, nothing stored', async () => {
    const c = await SmtpTestClient.connect(t.port('smtp'));
    try {
      expect((await c.hello()).code).toBe(250);
      expect((await c.cmd('MAIL FROM:<sender@example.org>')).code).toBe(250);
      expect((await c.cmd(`RCPT TO:<${USER}>`)).code).toBe(250);
      expect((await c.cmd('DATA')).code).toBe(354);
      const r = await c.cmd('From: sender@example.org\r\nTo: full@example.test\r\nSubject: one more\r\n\r\nx\r\n.');
      expect(r.code).toBe(452);
      expect(r.text).toMatch(/^452 4\.2\.2 /);
    } finally {
      c.close();
    }
    expect((await t.ctx.store.getMailbox(USER, 'INBOX')).messages).toBe(1);
  });
});
