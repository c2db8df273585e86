// Quotas and POP3: DELE takes effect at QUIT (RFC 1939 §6), and only then does usage go
// down; a dropped connection frees nothing. A mailbox made full is open again after it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pop3Client } from '../helpers/pop3-client.js';
import type { TestServer } from '../helpers/servers.js';
import { fill, message, PW, quotaServer, smtpSession, usage } from './env.js';

let t: TestServer;
beforeAll(async () => {
  t = await quotaServer();
});
afterAll(async () => {
  await t?.close();
});

describe('POP3 and quota usage', () => {
  it('usage goes down by the deleted sizes after DELE+QUIT, not after a dropped connection; SMTP is accepted again', async () => {
    const a = 'pop@example.test';
    await t.addAccount(a, PW);
    t.accounts.setAccountQuota(a, { bytes: 5000, messages: 3 });
    await fill(t, a, [1000, 1500, 2500]);
    expect(await usage(t, a)).toEqual({ bytes: 5000, messages: 3 });
    const refused = await smtpSession(t.port('smtp'), { from: 's@remote.test', rcpts: [a], data: message(500) });
    expect(refused.rcpts[0]!.text).toMatch(/^452 4\.2\.2 /);

    // DELE, then the connection drops: nothing is deleted (RFC 1939 §6: only QUIT updates).
    const dropped = await Pop3Client.connect(t.port('pop3'));
    expect((await dropped.login(a, PW)).ok).toBe(true);
    expect((await dropped.cmd('DELE 2')).ok).toBe(true);
    dropped.destroy();
    // The server releases the maildrop when it sees the close; a new login waits for that.
    let p: Pop3Client | undefined;
    for (let i = 0; i < 50 && !p; i++) {
      const c = await Pop3Client.connect(t.port('pop3'));
      if ((await c.login(a, PW)).ok) p = c;
      else {
        await c.quit().catch(() => undefined);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    expect(p).toBeDefined();
    expect(await usage(t, a)).toEqual({ bytes: 5000, messages: 3 });

    const stat = await p!.cmd('STAT');
    expect(stat.text).toBe('3 5000');
    expect((await p!.cmd('DELE 2')).ok).toBe(true);
    expect((await p!.quit()).ok).toBe(true);
    expect(await usage(t, a)).toEqual({ bytes: 3500, messages: 2 });

    const ok = await smtpSession(t.port('smtp'), { from: 's@remote.test', rcpts: [a], data: message(500) });
    expect(ok.rcpts[0]!.code).toBe(250);
    expect(ok.data!.code).toBe(250);
    expect((await usage(t, a)).messages).toBe(3);
  });
});
