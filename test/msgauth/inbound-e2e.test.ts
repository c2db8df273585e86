// End to end over SMTP: the server's port 25 listener as startServer wires it (inbound.ts
// with the checks of src/smtp/policy.ts), the loopback DNS server serving the senders' zones, and
// nodemailer / a raw socket as the sending MTA on 127.0.0.1. Each case asserts the
// headers written into the delivered file and where it ended up (INBOX, Junk, or
// refused with the code).
import dgram from 'node:dgram';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { startTestServer, type TestServer } from '../helpers/servers.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';
import { LOCAL_DOMAIN, makeKeys, message, OUR_HOST, senderZone, signWithDkimpy, signWithMailauth, type Keys } from './fixtures.js';

const RCPT = `user@${LOCAL_DOMAIN}`;

let dns: TestDnsServer;
let keys: Keys;
let t: TestServer;
let smtp: { port: number };

beforeAll(async () => {
  keys = makeKeys();
  dns = await startDnsServer({
    ...senderZone(keys),
    // FCrDNS of the sending client, recorded in Received
    '1.0.0.127.in-addr.arpa': { PTR: ['client.sender.test'] },
    'client.sender.test': { A: ['127.0.0.1'] },
  });
  t = await startTestServer({
    configure: (c) => {
      c.hostname = OUR_HOST;
      c.dns.servers = dns.servers;
      c.dns.timeoutMs = 1000;
      c.checks.timeoutMs = 5000;
    },
  });
  await t.addAccount(RCPT);
  smtp = { port: t.port('smtp') };
});

afterAll(async () => {
  await t?.close();
  await dns?.close();
});

beforeEach(() => {
  t.ctx.config.checks.dnsblZones = [];
});

function files(folder: '' | '.Junk'): string[] {
  const base = path.join(t.dataRoot, 'maildir', LOCAL_DOMAIN, 'user', folder);
  const out: string[] = [];
  for (const sub of ['new', 'cur']) {
    const dir = path.join(base, sub);
    if (existsSync(dir)) for (const f of readdirSync(dir)) out.push(path.join(dir, f));
  }
  return out;
}

/** Sends raw bytes with the given envelope; returns where the message landed. */
async function send(mailFrom: string, raw: string): Promise<{ folder: 'INBOX' | 'Junk'; content: string }> {
  const before = new Set([...files(''), ...files('.Junk')]);
  const tr = nodemailer.createTransport({ host: '127.0.0.1', port: smtp.port, secure: false, ignoreTLS: true, name: 'client.sender.test' });
  try {
    await tr.sendMail({ envelope: { from: mailFrom, to: [RCPT] }, raw });
  } finally {
    tr.close();
  }
  const inbox = files('').filter((f) => !before.has(f));
  const junk = files('.Junk').filter((f) => !before.has(f));
  expect(inbox.length + junk.length).toBe(1);
  return inbox.length ? { folder: 'INBOX', content: readFileSync(inbox[0]!, 'utf8') } : { folder: 'Junk', content: readFileSync(junk[0]!, 'utf8') };
}

async function refused(mailFrom: string, raw: string): Promise<{ responseCode?: number; response?: string }> {
  const before = files('').length + files('.Junk').length;
  const tr = nodemailer.createTransport({ host: '127.0.0.1', port: smtp.port, secure: false, ignoreTLS: true, name: 'client.sender.test' });
  try {
    await tr.sendMail({ envelope: { from: mailFrom, to: [RCPT] }, raw });
    throw new Error('expected the message to be refused');
  } catch (err) {
    expect(files('').length + files('.Junk').length).toBe(before);
    return err as { responseCode?: number; response?: string };
  } finally {
    tr.close();
  }
}

/** Header block of a delivered file, unfolded, one field per entry. */
function headerFields(content: string): string[] {
  const head = content.split(/\r?\n\r?\n/)[0]!;
  return head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/);
}

function ours(content: string): string[] {
  return headerFields(content).filter((h) => h.toLowerCase().startsWith(`authentication-results: ${OUR_HOST}`));
}

describe('port 25 with inbound checks', () => {
  it('SPF + DMARC pass → INBOX, with Received-SPF, Authentication-Results and an FCrDNS Received', async () => {
    const got = await send('a@dmarc-spf.test', message({ from: 'a@dmarc-spf.test' }));
    expect(got.folder).toBe('INBOX');
    const fields = headerFields(got.content);
    expect(fields[0]).toBe('Return-Path: <a@dmarc-spf.test>');
    expect(fields.find((f) => f.startsWith('Received-SPF: '))).toMatch(/^Received-SPF: pass \(.*\) client-ip=127\.0\.0\.1; envelope-from="a@dmarc-spf\.test"; helo=client\.sender\.test; receiver=mx\.ours\.test; identity=mailfrom;$/);
    const ar = ours(got.content);
    expect(ar).toHaveLength(1);
    expect(ar[0]).toMatch(/spf=pass .*smtp\.mailfrom=a@dmarc-spf\.test/);
    expect(ar[0]).toMatch(/dmarc=pass .*header\.from=dmarc-spf\.test/);
    expect(fields.find((f) => f.startsWith('Received: '))).toMatch(/^Received: from client\.sender\.test \(client\.sender\.test \[127\.0\.0\.1\]\) by mx\.ours\.test/);
  });

  it('a message signed by python3-dkim (external signer) → dkim=pass, DMARC pass via DKIM → INBOX', async () => {
    const raw = await signWithDkimpy(message({ from: 'a@dmarc-dkim.test' }), { domain: 'dmarc-dkim.test', selector: 'rsa', keyPem: keys.rsaPem });
    const got = await send('a@dmarc-dkim.test', raw);
    expect(got.folder).toBe('INBOX');
    const ar = ours(got.content)[0]!;
    expect(ar).toMatch(/dkim=pass header\.i=@dmarc-dkim\.test header\.s=rsa/);
    expect(ar).toMatch(/spf=fail/);
    expect(ar).toMatch(/dmarc=pass/);
  });

  it('ed25519-signed mail → dkim=pass in the stored header', async () => {
    const raw = await signWithMailauth(message({ from: 'a@dkim.test' }), { domain: 'dkim.test', selector: 'ed', key: keys.edPem, algorithm: 'ed25519-sha256' });
    const got = await send('a@dkim.test', raw);
    expect(got.folder).toBe('INBOX');
    expect(ours(got.content)[0]).toMatch(/dkim=pass header\.i=@dkim\.test header\.s=ed header\.a=ed25519-sha256/);
  });

  it.each([
    ['pass', 'pass.test'],
    ['fail', 'fail.test'],
    ['softfail', 'soft.test'],
    ['none', 'none.test'],
    ['permerror', 'perm-syntax.test'],
    ['permerror', 'perm-lookups.test'],
  ])('SPF %s (%s), no DMARC record → INBOX with the result in both headers', async (want, domain) => {
    const got = await send(`a@${domain}`, message({ from: `a@${domain}` }));
    expect(got.folder).toBe('INBOX');
    expect(headerFields(got.content).find((f) => f.startsWith('Received-SPF: '))).toMatch(new RegExp(`^Received-SPF: ${want} .*envelope-from="a@${domain}";`));
    expect(ours(got.content)[0]).toMatch(new RegExp(`spf=${want} .*smtp\\.mailfrom=a@${domain}`));
  });

  it.each([
    ['valid', (m: string) => m, 'rsa', /dkim=pass header\.i=@dkim\.test header\.s=rsa/],
    ['body altered', (m: string) => m.replace('this is a test message', 'this is an altered message'), 'rsa', /dkim=neutral \(body hash did not verify\)/],
    ['header altered', (m: string) => m.replace('Subject: inbound checks test', 'Subject: altered'), 'rsa', /dkim=fail \(bad signature\)/],
    ['key missing', (m: string) => m, 'missing', /dkim=neutral \(no key\)/],
    ['key revoked', (m: string) => m, 'revoked', /dkim=neutral \(invalid public key\)/],
  ])('DKIM %s → INBOX with the DKIM result recorded', async (_name, alter, selector, want) => {
    const signed = await signWithMailauth(message({ from: 'a@dkim.test' }), { domain: 'dkim.test', selector: selector as string, key: keys.rsaPem });
    const got = await send('a@dkim.test', (alter as (m: string) => string)(signed));
    expect(got.folder).toBe('INBOX');
    expect(ours(got.content)[0]).toMatch(want as RegExp);
  });

  it('DMARC p=quarantine failing → the Junk folder, with dmarc=fail recorded', async () => {
    const got = await send('a@pquar.test', message({ from: 'a@pquar.test' }));
    expect(got.folder).toBe('Junk');
    expect(ours(got.content)[0]).toMatch(/dmarc=fail \(p=QUARANTINE/);
  });

  it('DMARC p=quarantine for an account whose Junk was renamed → that mailbox (RFC 6154 \\Junk), not INBOX', async () => {
    const user = `renamed@${LOCAL_DOMAIN}`;
    await t.addAccount(user);
    const store = t.ctx.store;
    await store.renameMailbox(user, 'Junk', 'Unwanted');
    const renamed = (await store.listMailboxes(user)).find((m) => m.name === 'Unwanted');
    expect(renamed?.specialUse).toBe('\\Junk');
    // Without the spam filter, which would otherwise pick the mailbox itself (src/spam/roles.ts).
    const spamWas = t.ctx.config.spam.enabled;
    t.ctx.config.spam.enabled = false;
    const tr = nodemailer.createTransport({ host: '127.0.0.1', port: smtp.port, secure: false, ignoreTLS: true, name: 'client.sender.test' });
    try {
      await tr.sendMail({ envelope: { from: 'a@pquar.test', to: [user] }, raw: message({ from: 'a@pquar.test' }) });
    } finally {
      tr.close();
      t.ctx.config.spam.enabled = spamWas;
    }
    expect((await store.getMailbox(user, 'Unwanted')).messages).toBe(1);
    expect((await store.getMailbox(user, 'INBOX')).messages).toBe(0);
    expect((await store.listMailboxes(user)).map((m) => m.name)).not.toContain('Junk');
  });

  it('DMARC p=reject failing → 550 5.7.1 at end of DATA, nothing stored', async () => {
    const err = await refused('a@preject.test', message({ from: 'a@preject.test' }));
    expect(err.responseCode).toBe(550);
    expect(err.response).toMatch(/^550 5\.7\.1 Rejected by the DMARC policy of preject\.test/);
  });

  it('DMARC p=none failing → INBOX', async () => {
    const got = await send('a@pnone.test', message({ from: 'a@pnone.test' }));
    expect(got.folder).toBe('INBOX');
    expect(ours(got.content)[0]).toMatch(/dmarc=fail \(p=NONE/);
  });

  it('subdomain policy sp=reject → 550', async () => {
    const err = await refused('a@sub.org.test', message({ from: 'a@sub.org.test' }));
    expect(err.responseCode).toBe(550);
  });

  it('SPF temperror (unanswered DNS) → 451 4.7.24 so the sender retries', async () => {
    dns.mode('temp.test', 'timeout');
    try {
      const err = await refused('a@temp.test', message({ from: 'a@temp.test' }));
      expect(err.responseCode).toBe(451);
      expect(err.response).toMatch(/^451 4\.7\.24 /);
    } finally {
      dns.mode('temp.test', undefined);
    }
  });

  it('SPF fail without DMARC → INBOX, spf=fail recorded', async () => {
    const got = await send('a@fail.test', message({ from: 'a@fail.test' }));
    expect(got.folder).toBe('INBOX');
    expect(headerFields(got.content).find((f) => f.startsWith('Received-SPF: '))).toMatch(/^Received-SPF: fail /);
  });

  it('forged Authentication-Results claiming our authserv-id are removed; foreign ones kept', async () => {
    const raw = message({
      from: 'a@dmarc-spf.test',
      extraHeaders: [
        `Authentication-Results: ${OUR_HOST}; dkim=pass header.d=bank.test`,
        `Authentication-Results: ${OUR_HOST.toUpperCase()};`,
        '\tdmarc=pass header.from=bank.test',
        'Authentication-Results: relay.other.test; spf=pass smtp.mailfrom=x@other.test',
      ],
    });
    const got = await send('a@dmarc-spf.test', raw);
    const ar = ours(got.content);
    expect(ar).toHaveLength(1); // only the one we wrote
    expect(got.content).not.toContain('bank.test');
    expect(got.content).toContain('Authentication-Results: relay.other.test; spf=pass smtp.mailfrom=x@other.test');
  });

  it('mail claiming our own domain from an unauthorised client → 550 5.7.1 (anti-spoofing)', async () => {
    const err = await refused(`boss@${LOCAL_DOMAIN}`, message({ from: `boss@${LOCAL_DOMAIN}` }));
    expect(err.responseCode).toBe(550);
    expect(err.response).toMatch(/^550 5\.7\.1 Sender domain ours\.test is local/);
  });

  it('DNSBL listing (when configured) → 554 5.7.1 naming the list at connect', async () => {
    dns.set('1.0.0.127.bl.test', 'A', ['127.0.0.2']);
    t.ctx.config.checks.dnsblZones = ['bl.test'];
    const c = await SmtpTestClient.connect(smtp.port);
    try {
      const greeting = await c.reply();
      expect(greeting.code).toBe(554);
      expect(greeting.text).toMatch(/5\.7\.1 .*blocked using bl\.test/);
    } finally {
      c.close();
      dns.remove('1.0.0.127.bl.test');
    }
  });
});

describe('port 25 with a dead DNS server', () => {
  it('the session is delayed by at most the check timeouts, then the message gets 451 (never hangs)', async () => {
    const sink = dgram.createSocket('udp4'); // receives queries, never answers
    await new Promise<void>((r) => sink.bind(0, '127.0.0.1', () => r()));
    const dead = await startTestServer({
      configure: (c) => {
        c.hostname = OUR_HOST;
        c.dns.servers = [`127.0.0.1:${sink.address().port}`];
        c.dns.timeoutMs = 1000;
        c.checks.timeoutMs = 1500;
      },
    });
    try {
      await dead.addAccount(RCPT);
      // A hang would fail by the test's own timeout; the time taken is not asserted
      // (a loaded machine stretches it; speed belongs in bench/).
      const tr = nodemailer.createTransport({ host: '127.0.0.1', port: dead.port('smtp'), secure: false, ignoreTLS: true, name: 'client.sender.test' });
      const err = await tr.sendMail({ envelope: { from: 'a@pass.test', to: [RCPT] }, raw: message({ from: 'a@pass.test' }) }).then(
        () => undefined,
        (e: { responseCode?: number; response?: string }) => e,
      );
      tr.close();
      expect(err?.responseCode).toBe(451);
      expect(err?.response).toMatch(/^451 4\.7\.0 /);
    } finally {
      await dead.close();
      sink.close();
    }
  });
});
