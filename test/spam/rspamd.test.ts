// Optional Rspamd (Debian package rspamd, with redis-server for its statistics), started
// by the test on free loopback ports: its verdict and symbols are combined with ours,
// moves to and from Junk are learned there too, and when it goes away mid-test mail
// still flows, scored by the built-in classifier.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rspamdCheck } from '../../src/spam/rspamd.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { captureLog } from '../helpers/log-capture.js';
import { hasPeer, needs } from '../helpers/peers.js';
import { startRspamd, type Rspamd } from '../helpers/rspamd.js';
import type { TestServer } from '../helpers/servers.js';
import { corpus } from './corpus.js';
import { crlf, deliveries, imap, PW, send, smtp, spamServer } from './env.js';

const redis = hasPeer('redis-server');

const U = 'rs@example.test';
const GTUBE = 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X';
let dns: TestDnsServer;
let rs: Rspamd;
let t: TestServer;
const captured = captureLog('info');

// A message Rspamd's own rules dislike with nothing to do with our classifier: no Date,
// no Message-ID, an all-capitals subject, HTML only.
const shouty = Buffer.from(
  `From: "WINNER" <promo@remote.example>\r\nTo: ${U}\r\nSubject: YOU HAVE WON A FREE PRIZE CLAIM NOW\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n` +
    '<html><body><p>CLICK <a href="http://192.0.2.7/claim">HERE</a> TO CLAIM YOUR PRIZE!!!</p></body></html>\r\n',
);

describe('Rspamd', needs('rspamd'), () => {
  beforeAll(async () => {
    dns = await startDnsServer({});
    // The package's actions, but "add header" low enough for the test message above.
    rs = await startRspamd({ dns: dns.servers[0]!, redis, actions: { add_header: 4, reject: 50, greylist: null } });
    t = await spamServer((c) => {
      c.spam.rspamdUrl = rs.url;
      c.spam.rspamdControllerUrl = rs.controllerUrl;
      c.spam.rspamdTimeoutMs = 5000;
    }, captured.log);
    await t.addAccount(U, PW);
  }, 200_000);
  afterAll(async () => {
    await t?.close();
    await rs?.close();
    await dns?.close();
  });

  async function deliver(raw: Buffer): Promise<{ code: number; response: string; folder?: string; content?: string }> {
    const filed = deliveries(t, U);
    await filed.ready;
    const tr = smtp(t);
    try {
      const r = await send(tr, U, raw);
      const folder = filed.names[0];
      let content: string | undefined;
      if (folder) {
        const mb = await t.ctx.store.getMailbox(U, folder);
        const meta = await t.ctx.store.fetchMeta(U, mb.id, { fields: 'flags' });
        const { stream } = await t.ctx.store.readMessage(U, mb.id, meta.at(-1)!.uid);
        const chunks: Buffer[] = [];
        for await (const c of stream) chunks.push(c as Buffer);
        content = Buffer.concat(chunks).toString('latin1').replace(/\r\n[ \t]+/g, ' ');
      }
      return { ...r, folder, content };
    } finally {
      tr.close();
      filed.stop();
    }
  }

  it('its "add header" files to Junk an untrained account’s mail, with Rspamd’s symbols in X-Spam-Reasons', async () => {
    const direct = await rspamdCheck(rs.url, shouty, { ip: '127.0.0.1', helo: 'client.example', from: 'promo@remote.example', rcpts: [U] }, 5000);
    expect(direct.action).toBe('add header');
    const r = await deliver(shouty);
    expect(r.code).toBe(250);
    expect(r.folder).toBe('Junk');
    expect(r.content).toMatch(/^X-Spam-Status: Yes, score=0\.900 required=0\.900 tests=RSPAMD$/m);
    expect(r.content).toMatch(/^X-Spam-Reasons: bayes not used: .*; rspamd add header \d+\.\d\d\/50\.00: [A-Z_]+ \d/m);
  });

  it('its reject refuses at end of DATA (GTUBE)', async () => {
    const r = await deliver(Buffer.from(`From: a@remote.example\r\nTo: ${U}\r\nSubject: t\r\n\r\n${GTUBE}\r\n`));
    expect(r.code).toBe(550);
    expect(r.folder).toBeUndefined();
  });

  it('a MOVE into Junk and one out of it are learned by Rspamd too', needs('redis-server'), async () => {
    // The controller counts the messages it learned (its statfiles' counters lag behind Redis).
    const learned = async () => ((await (await fetch(`${rs.controllerUrl}/stat`)).json()) as { learned: number }).learned;
    const before = await learned();
    const [ham, spam] = [corpus('train', 4).find((m) => !m.spam)!, corpus('train', 4).find((m) => m.spam)!];
    const hamUid = (await t.ctx.store.deliver([{ account: U, mailbox: 'Junk' }], { data: crlf(ham.bytes) }))[0]!.uid;
    const spamUid = (await t.ctx.store.deliver([{ account: U }], { data: crlf(spam.bytes) }))[0]!.uid;
    const c = imap(t, U);
    await c.connect();
    try {
      await c.mailboxOpen('INBOX');
      await c.messageMove(String(spamUid), 'Junk', { uid: true });
      await c.mailboxOpen('Junk');
      await c.messageMove(String(hamUid), 'INBOX', { uid: true });
    } finally {
      await c.logout();
    }
    await t.ctx.spam!.idle();
    // Learning is asynchronous (after our own training): wait for Rspamd's counters.
    const deadline = Date.now() + 10_000;
    let now = await learned();
    while (now < before + 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      now = await learned();
    }
    expect(now).toBe(before + 2);
  });

  it('Rspamd down mid-test: mail still flows, scored by the built-in classifier', async () => {
    await rs.stop();
    const r = await deliver(shouty);
    expect(r.code).toBe(250);
    expect(r.folder).toBe('INBOX'); // our classifier alone does not know this sender or text
    expect(r.content).toMatch(/^X-Spam-Reasons: .*rspamd unavailable \(ECONNREFUSED\): built-in classifier only/m);
    const gt = await deliver(Buffer.from(`From: a@remote.example\r\nTo: ${U}\r\nSubject: t\r\n\r\n${GTUBE}\r\n`));
    expect(gt.code).toBe(550); // our own GTUBE check
    const down = captured.lines.filter((l) => l.msg === 'Rspamd unavailable; scoring with the built-in classifier');
    expect(down).toHaveLength(1); // once a minute at most, not per message
    expect(down[0]).toMatchObject({ level: 40, component: 'spam', url: rs.url });  });
});
