// Stopping the IMAP listener: sessions between commands get BYE at once; a session in
// the middle of an APPEND (literal half sent) is let finish within the grace, gets its
// tagged OK and the message is stored, then BYE.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImapTestClient } from '../helpers/imap-client.js';
import { startTestServer, TEST_SCRYPT_LN, type TestServer } from '../helpers/servers.js';

const USER = 'ann@example.test';
const PASS = 'ann password';
let t: TestServer;

beforeAll(async () => {
  t = await startTestServer({
    store: 'memory',
    configure: (c) => {
      c.auth.allowPlaintextOnLoopback = true;
      c.auth.scryptLn = TEST_SCRYPT_LN;
    },
  });
  await t.addAccount(USER, PASS);
});
afterAll(async () => {
  await t?.close();
});

describe('IMAP stop', () => {
  it('lets an APPEND under way finish and store its message; idle sessions get BYE at once', async () => {
    const idle = await ImapTestClient.connect(t.port('imap'));
    await idle.login(USER, PASS);
    const c = await ImapTestClient.connect(t.port('imap'));
    await c.login(USER, PASS);
    const msg = Buffer.from('From: ann@example.test\r\nSubject: saved while stopping\r\n\r\n' + 'x'.repeat(4000) + '\r\n');
    c.write(`a1 APPEND Sent (\\Seen) {${msg.length}}\r\n`);
    expect((await c.readResponse()).tag).toBe('+');
    c.write(msg.subarray(0, 1000));

    const closing = t.server.listeners.get('imap')!.close(5000);
    const bye = await idle.readResponse();
    expect(bye.type).toBe('BYE');

    c.write(msg.subarray(1000));
    c.write('\r\n');
    const tagged = await c.readResponse();
    expect(tagged.tag).toBe('a1');
    expect(tagged.type).toBe('OK');
    expect((await c.readResponse()).type).toBe('BYE');
    await closing;
    expect((await t.ctx.store.getMailbox(USER, 'Sent')).messages).toBe(1);
  });
});
