// Sender reputation and greylisting on port 25 with the inbound checks on: the senders'
// SPF and DMARC records come from the loopback DNS server, so From addresses are
// verified as they would be on the internet.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Classifiers } from '../../src/spam/classifier.js';
import { scan } from '../../src/spam/message.js';
import { setSpamSettings } from '../../src/spam/settings.js';
import { trainMessage } from '../../src/spam/train.js';
import type { Uid } from '../../src/store/types.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import type { TestServer } from '../helpers/servers.js';
import { corpus } from './corpus.js';
import { crlf, deliveries, PW, send, smtp, spamServer } from './env.js';

const HOST = 'mx.ours.test';
const U = 'rep@ours.test';
let dns: TestDnsServer;
let t: TestServer;

const zone = (d: string) => ({ [d]: { TXT: ['v=spf1 ip4:127.0.0.1 -all'] }, [`_dmarc.${d}`]: { TXT: ['v=DMARC1; p=none'] } });

/** A corpus message's body under a header of our making. */
function as(from: string, m: Buffer, subject = 'hello'): Buffer {
  const b = crlf(m);
  const body = b.subarray(b.indexOf('\r\n\r\n') + 4);
  return Buffer.concat([Buffer.from(`From: ${from}\r\nTo: ${U}\r\nSubject: ${subject}\r\nMessage-ID: <${Math.random()}@x>\r\n\r\n`), body]);
}

const test = corpus('test', 20);
const spamBody = test.filter((m) => m.spam)[3]!.bytes;
const hamBody = test.filter((m) => !m.spam)[2]!.bytes;

beforeAll(async () => {
  dns = await startDnsServer({ ...zone('friend.test'), ...zone('stranger.test'), ...zone('spammy.test') });
  t = await spamServer((c) => {
    c.hostname = HOST;
    c.checks.enabled = true;
    c.dns.servers = dns.servers;
    c.spam.greylistDelaySeconds = 1;
  });
  await t.addAccount(U, PW);
  // A trained filter: the spam body alone goes to Junk.
  const c = new Classifiers(t.dataRoot);
  for (const m of corpus('train', 60)) trainMessage(c, U, scan(crlf(m.bytes), false, HOST), m.spam ? 'spam' : 'ham', { how: 'imported', implicit: false, hostname: HOST, implicitPerDay: 0 });
  c.close();
});
afterAll(async () => {
  await t?.close();
  await dns?.close();
});

async function deliver(from: string, raw: Buffer): Promise<{ code: number; folder?: string }> {
  const filed = deliveries(t, U);
  await filed.ready;
  const tr = smtp(t);
  try {
    const r = await send(tr, U, raw, from);
    return { code: r.code, folder: filed.names[0] };
  } finally {
    tr.close();
    filed.stop();
  }
}

async function lastInFolder(name: string): Promise<string> {
  const mb = await t.ctx.store.getMailbox(U, name);
  const meta = await t.ctx.store.fetchMeta(U, mb.id, { fields: 'flags' });
  const { stream } = await t.ctx.store.readMessage(U, mb.id, meta.at(-1)!.uid);
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('latin1').replace(/\r\n[ \t]+/g, ' ');
}

describe('sender reputation', () => {
  it('a stranger’s spammy mail goes to Junk; the same from a correspondent the user wrote to stays in INBOX', async () => {
    expect(await deliver('bulk@stranger.test', as('Bulk <bulk@stranger.test>', spamBody))).toEqual({ code: 250, folder: 'Junk' });
    // The user writes to a friend (their client appends the sent copy to Sent).
    await t.ctx.store.append(U, 'Sent', { data: Buffer.from(`From: ${U}\r\nTo: Friend <friend@friend.test>\r\nSubject: hi\r\n\r\nsee this\r\n`) }, { flags: ['\\Seen'] });
    await t.ctx.spam!.idle();
    expect(await deliver('friend@friend.test', as('Friend <friend@friend.test>', spamBody))).toEqual({ code: 250, folder: 'INBOX' });
    const m = await lastInFolder('INBOX');
    expect(m).toMatch(/^Authentication-Results: mx\.ours\.test; .*dmarc=pass/m);
    expect(m).toMatch(/^X-Spam-Status: No, score=0\.\d{3} required=0\.900 tests=BAYES,KNOWN_SENDER$/m);
    expect(m).toMatch(/^X-Spam-Reasons: known sender: sent friend@friend\.test; bayes (0\.9\d\d|1\.000)/m);
  });

  it('a forged From of that correspondent (SPF fails, DMARC fails) is no known sender', async () => {
    // MAIL FROM at another domain whose SPF passes, From: the friend: DMARC not aligned.
    const r = await deliver('bulk@stranger.test', as('Friend <friend@friend.test>', spamBody));
    expect(r).toEqual({ code: 250, folder: 'Junk' });
    expect(await lastInFolder('Junk')).not.toContain('KNOWN_SENDER');
  });

  it('a verified sender the user junked three times goes to Junk, whatever the content', async () => {
    for (let i = 0; i < 3; i++) expect(await deliver('news@spammy.test', as('News <news@spammy.test>', hamBody, `issue ${i}`))).toEqual({ code: 250, folder: 'INBOX' });
    const inbox = await t.ctx.store.getMailbox(U, 'INBOX');
    const uids = (await t.ctx.store.fetchMeta(U, inbox.id, { fields: 'flags' })).slice(-3).map((x) => x.uid);
    await t.ctx.store.move(U, inbox.id, uids as Uid[], 'Junk');
    await t.ctx.spam!.idle();
    expect(await deliver('news@spammy.test', as('News <news@spammy.test>', hamBody, 'issue 4'))).toEqual({ code: 250, folder: 'Junk' });
    expect(await lastInFolder('Junk')).toMatch(/^X-Spam-Reasons: junked sender: from news@spammy\.test 0 ham\/3 spam/m);
  });
});

describe('greylisting (on for this account)', () => {
  it('451 4.7.1 for a new sender until the delay has passed; a known correspondent is never greylisted', async () => {
    setSpamSettings(t.ctx.db, U, { greylist: true });
    try {
      const raw = as('Someone <someone@stranger.test>', hamBody, 'first contact');
      const first = await deliver('someone@stranger.test', raw);
      expect(first.code).toBe(451);
      expect(first.folder).toBeUndefined();
      const tooSoon = await deliver('someone@stranger.test', raw);
      expect(tooSoon.code).toBe(451);
      await new Promise((r) => setTimeout(r, 1200));
      expect((await deliver('someone@stranger.test', raw)).code).toBe(250);
      // Known: passes at once.
      expect((await deliver('friend@friend.test', as('Friend <friend@friend.test>', hamBody))).code).toBe(250);
      const rows = t.ctx.db.prepare('SELECT ip, sender, rcpt, passed FROM spam_greylist ORDER BY first_seen').all();
      expect(rows).toEqual([{ ip: '127.0.0', sender: 'someone@stranger.test', rcpt: U, passed: 1 }]);
    } finally {
      setSpamSettings(t.ctx.db, U, { greylist: null });
    }
  });
});
