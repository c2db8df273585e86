// checkInbound / checkConnection against the real loopback DNS server: the matrix of
// SPF, DKIM and DMARC outcomes, the headers written and the action taken.
import dgram from 'node:dgram';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaults, type Config } from '../../src/config/index.js';
import type { ServerContext } from '../../src/context.js';
import { createResolver } from '../../src/dns/resolver.js';
import { silentLogger } from '../../src/log.js';
import { checkConnection, checkInbound, filterHeader, type InboundInput } from '../../src/smtp/policy.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { arcSeal, LOCAL_DOMAIN, makeKeys, message, OUR_HOST, senderZone, signWithDkimpy, signWithMailauth, type Keys } from './fixtures.js';
import { needs } from '../helpers/peers.js';

let dns: TestDnsServer;
let keys: Keys;
let dataRoot: string;

beforeAll(async () => {
  keys = makeKeys();
  dns = await startDnsServer(senderZone(keys));
  dataRoot = await mkdtemp(path.join(os.tmpdir(), 'policy-'));
});
afterAll(async () => {
  await dns?.close();
  if (dataRoot) await rm(dataRoot, { recursive: true, force: true });
});

/** A context with only what the checks use: config, log, resolver, isLocalDomain. */
function makeCtx(over: Partial<Config['checks']> = {}, servers = dns.servers, resolverTimeoutMs = 1000): ServerContext {
  const config = defaults(dataRoot, false);
  config.hostname = OUR_HOST;
  config.checks = { ...config.checks, ...over };
  return {
    config,
    log: silentLogger,
    resolver: createResolver({ servers, timeoutMs: resolverTimeoutMs, tries: 1 }),
    accounts: { isLocalDomain: (d: string) => d.toLowerCase() === LOCAL_DOMAIN },
  } as unknown as ServerContext;
}

function input(mailFrom: string, raw: string, over: Partial<InboundInput> = {}): InboundInput {
  return {
    remoteAddress: '127.0.0.1',
    helo: 'client.example',
    mailFrom,
    rcpts: [`user@${LOCAL_DOMAIN}`],
    message: () => Readable.from([Buffer.from(raw)]),
    size: raw.length,
    authenticated: false,
    ...over,
  };
}

/** The Authentication-Results value (unfolded). */
function ar(headers: string): string {
  const m = /^Authentication-Results: ([^]*?)\r\n(?![ \t])/m.exec(headers);
  return (m?.[1] ?? '').replace(/\r\n[ \t]+/g, ' ');
}

describe('SPF (RFC 7208) on MAIL FROM', () => {
  it.each([
    ['pass', 'pass.test'],
    ['fail', 'fail.test'],
    ['softfail', 'soft.test'],
    ['none', 'none.test'],
    ['permerror', 'perm-syntax.test'],
    ['permerror', 'perm-lookups.test'],
  ])('spf=%s for %s → accepted with the result recorded', async (want, domain) => {
    const v = await checkInbound(makeCtx(), input(`a@${domain}`, message({ from: `a@${domain}` })));
    expect(v.action).toBe('accept');
    expect(v.log.spf).toBe(want);
    expect(v.headers).toMatch(new RegExp(`^Received-SPF: ${want} \\(`, 'm'));
    expect(v.headers).toContain(`envelope-from="a@${domain}";`);
    expect(v.headers).toContain('client-ip=127.0.0.1;');
    expect(ar(v.headers)).toMatch(new RegExp(`^${OUR_HOST}; .*spf=${want} .*smtp.mailfrom=a@${domain}`));
    expect(v.headers.endsWith('\r\n')).toBe(true);
  });

  it('too many DNS lookups (RFC 7208 §4.6.4) is permerror, saying why', async () => {
    const v = await checkInbound(makeCtx(), input('a@perm-lookups.test', message({ from: 'a@perm-lookups.test' })));
    expect(v.headers).toMatch(/Too many DNS requests/);
  });

  it('an unanswered SPF record is temperror → 451 4.7.24 (RFC 7208 §8.6), or accepted when configured', async () => {
    dns.mode('temp.test', 'timeout');
    try {
      const v = await checkInbound(makeCtx(), input('a@temp.test', message({ from: 'a@temp.test' })));
      expect(v).toMatchObject({ action: 'tempfail', code: 451, enhanced: '4.7.24' });
      expect(v.log).toMatchObject({ spf: 'temperror', decided_by: 'temperror' });

      const v2 = await checkInbound(makeCtx({ temperrorAction: 'accept' }), input('a@temp.test', message({ from: 'a@temp.test' })));
      expect(v2.action).toBe('accept');
      expect(ar(v2.headers)).toContain('spf=temperror');
    } finally {
      dns.mode('temp.test', undefined);
    }
  });

  it('checks the HELO identity too (RFC 7208 §2.3) and uses it for the null sender', async () => {
    const raw = message({ from: 'a@none.test' });
    const v = await checkInbound(makeCtx(), input('a@none.test', raw, { helo: 'helo.pass.test' }));
    expect(v.log.spf).toBe('none');
    expect(v.log.spf_helo).toBe('pass');
    const bounce = await checkInbound(makeCtx(), input('', raw, { helo: 'helo.pass.test' }));
    expect(bounce.log.spf).toBe('pass');
    expect(bounce.headers).toContain('identity=helo;');
  });
});

describe('DKIM (RFC 6376)', () => {
  const from = 'a@dkim.test';
  const sign = (raw: string, selector = 'rsa', key = keys.rsaPem, algorithm?: string) => signWithMailauth(raw, { domain: 'dkim.test', selector, key, algorithm });

  it('valid RSA signature → dkim=pass', async () => {
    const signed = await sign(message({ from }));
    const v = await checkInbound(makeCtx(), input(from, signed));
    expect(v.log.dkim).toBe('pass');
    expect(v.log.dkim_domains).toBe('dkim.test');
    expect(ar(v.headers)).toMatch(/dkim=pass header\.i=@dkim\.test header\.s=rsa header\.a=rsa-sha256/);
  });

  it('ed25519 signature (RFC 8463) → dkim=pass', async () => {
    const signed = await sign(message({ from }), 'ed', keys.edPem, 'ed25519-sha256');
    const v = await checkInbound(makeCtx(), input(from, signed));
    expect(v.log.dkim).toBe('pass');
    expect(ar(v.headers)).toMatch(/dkim=pass header\.i=@dkim\.test header\.s=ed header\.a=ed25519-sha256/);
  });

  it('body altered after signing → not pass (body hash did not verify)', async () => {
    const signed = await sign(message({ from }));
    const v = await checkInbound(makeCtx(), input(from, signed.replace('this is a test message', 'this is a TAMPERED message')));
    expect(v.log.dkim).toBe('neutral');
    expect(ar(v.headers)).toMatch(/dkim=neutral \(body hash did not verify\)/);
  });

  it('signed header altered → dkim=fail (bad signature)', async () => {
    const signed = await sign(message({ from, subject: 'original' }));
    const v = await checkInbound(makeCtx(), input(from, signed.replace('Subject: original', 'Subject: changed')));
    expect(v.log.dkim).toBe('fail');
    expect(ar(v.headers)).toMatch(/dkim=fail \(bad signature\)/);
  });

  it('key not in DNS → dkim=neutral (no key)', async () => {
    const signed = await sign(message({ from }), 'missing');
    const v = await checkInbound(makeCtx(), input(from, signed));
    expect(v.log.dkim).toBe('neutral');
    expect(ar(v.headers)).toMatch(/dkim=neutral \(no key\)/);
  });

  it('revoked key (empty p=, RFC 6376 §3.6.1) → not pass', async () => {
    const signed = await sign(message({ from }), 'revoked');
    const v = await checkInbound(makeCtx(), input(from, signed));
    expect(v.log.dkim).toBe('neutral');
    expect(ar(v.headers)).toMatch(/dkim=neutral \(invalid public key\) header\.i=@dkim\.test header\.s=revoked/);
  });

  it('a message signed by an external signer (python3-dkim dkimsign) verifies as dkim=pass', needs('dkimsign'), async () => {
    const signed = await signWithDkimpy(message({ from }), { domain: 'dkim.test', selector: 'rsa', keyPem: keys.rsaPem });
    expect(signed).toMatch(/^DKIM-Signature: /);
    const v = await checkInbound(makeCtx(), input(from, signed));
    expect(v.log.dkim).toBe('pass');
    expect(ar(v.headers)).toMatch(/dkim=pass header\.i=@dkim\.test header\.s=rsa/);
  });

  it('no signature → dkim=none', async () => {
    const v = await checkInbound(makeCtx(), input(from, message({ from })));
    expect(v.log.dkim).toBe('none');
    expect(ar(v.headers)).toMatch(/dkim=none/);
  });
});

describe('DMARC (RFC 7489) and its policy', () => {
  it('passes via SPF alone (p=reject, unsigned) → accepted', async () => {
    const v = await checkInbound(makeCtx(), input('a@dmarc-spf.test', message({ from: 'a@dmarc-spf.test' })));
    expect(v.action).toBe('accept');
    expect(v.log).toMatchObject({ spf: 'pass', dkim: 'none', dmarc: 'pass' });
    expect(ar(v.headers)).toMatch(/dmarc=pass \(p=REJECT arc=none\) header\.from=dmarc-spf\.test/);
  });

  it('passes via DKIM alone (SPF fail, p=reject) → accepted', async () => {
    const signed = await signWithMailauth(message({ from: 'a@dmarc-dkim.test' }), { domain: 'dmarc-dkim.test', selector: 'rsa', key: keys.rsaPem });
    const v = await checkInbound(makeCtx(), input('a@dmarc-dkim.test', signed));
    expect(v.action).toBe('accept');
    expect(v.log).toMatchObject({ spf: 'fail', dkim: 'pass', dmarc: 'pass' });
  });

  it('fails with p=none → accepted (INBOX), dmarc=fail recorded', async () => {
    const v = await checkInbound(makeCtx(), input('a@pnone.test', message({ from: 'a@pnone.test' })));
    expect(v.action).toBe('accept');
    expect(v.log).toMatchObject({ dmarc: 'fail', dmarc_policy: 'none', decided_by: 'default' });
    expect(ar(v.headers)).toMatch(/dmarc=fail \(p=NONE arc=none\) header\.from=pnone\.test/);
  });

  it('fails with p=quarantine → Junk', async () => {
    const v = await checkInbound(makeCtx(), input('a@pquar.test', message({ from: 'a@pquar.test' })));
    expect(v.action).toBe('junk');
    expect(v.log).toMatchObject({ dmarc: 'fail', dmarc_policy: 'quarantine', decided_by: 'dmarc', junk: 'dmarc-quarantine' });
    expect(ar(v.headers)).toMatch(/dmarc=fail/);
    const off = await checkInbound(makeCtx({ dmarcQuarantineToJunk: false }), input('a@pquar.test', message({ from: 'a@pquar.test' })));
    expect(off.action).toBe('accept');
  });

  it('fails with p=reject → 550 5.7.1 naming the domain (or Junk when configured)', async () => {
    const v = await checkInbound(makeCtx(), input('a@preject.test', message({ from: 'a@preject.test' })));
    expect(v).toMatchObject({ action: 'reject', code: 550, enhanced: '5.7.1' });
    expect(v.text).toMatch(/DMARC policy of preject\.test/);
    expect(v.log.decided_by).toBe('dmarc');
    const soft = await checkInbound(makeCtx({ dmarcReject: false }), input('a@preject.test', message({ from: 'a@preject.test' })));
    expect(soft.action).toBe('junk');
  });

  it('header From failing with MAIL FROM passing elsewhere is still a DMARC fail (alignment)', async () => {
    const v = await checkInbound(makeCtx(), input('a@pass.test', message({ from: 'ceo@preject.test' })));
    expect(v.log.spf).toBe('pass');
    expect(v).toMatchObject({ action: 'reject', code: 550 });
  });

  it('pct=0 samples p=reject down to quarantine (RFC 7489 §6.6.4) → Junk', async () => {
    const v = await checkInbound(makeCtx(), input('a@pct0.test', message({ from: 'a@pct0.test' })));
    expect(v.action).toBe('junk');
    expect(v.log.dmarc_pct).toBe('sampled-out');
  });

  it('subdomain policy: sp=reject applies to sub.org.test, p=none to org.test', async () => {
    const sub = await checkInbound(makeCtx(), input('a@sub.org.test', message({ from: 'a@sub.org.test' })));
    expect(sub).toMatchObject({ action: 'reject', code: 550, enhanced: '5.7.1' });
    expect(sub.log.dmarc_policy).toBe('reject');
    const org = await checkInbound(makeCtx(), input('a@org.test', message({ from: 'a@org.test' })));
    expect(org.action).toBe('accept');
    expect(org.log.dmarc_policy).toBe('none');
  });

  it('a DMARC record lookup that fails (SERVFAIL) → 451 4.7.0', async () => {
    dns.mode('_dmarc.dmarc-temp.test', 'servfail');
    try {
      const v = await checkInbound(makeCtx(), input('a@dmarc-temp.test', message({ from: 'a@dmarc-temp.test' })));
      expect(v).toMatchObject({ action: 'tempfail', code: 451, enhanced: '4.7.0' });
      expect(v.log.dmarc).toBe('temperror');
    } finally {
      dns.mode('_dmarc.dmarc-temp.test', undefined);
    }
  });
});

describe('ARC (RFC 8617)', () => {
  it('a sealed chain validates (arc=pass); a body changed after sealing fails (arc=fail)', async () => {
    const sealed = await arcSeal(message({ from: 'a@pass.test' }), { domain: 'forwarder.test', selector: 'arc', key: keys.rsaPem });
    expect(sealed).toMatch(/^ARC-Seal: i=1; /m);
    const v = await checkInbound(makeCtx(), input('a@pass.test', sealed));
    expect(v.log.arc).toBe('pass');
    expect(ar(v.headers)).toMatch(/; arc=pass \(i=1 spf=pass\);/);
    const broken = await checkInbound(makeCtx(), input('a@pass.test', sealed.replace('this is a test message', 'this was changed')));
    expect(broken.log.arc).toBe('fail');
    const none = await checkInbound(makeCtx(), input('a@pass.test', message({ from: 'a@pass.test' })));
    expect(none.log.arc).toBe('none');
  });
});

describe('anti-spoofing of our own domains', () => {
  it('MAIL FROM in a local domain, unauthenticated, failing SPF and DKIM → 550 5.7.1', async () => {
    const v = await checkInbound(makeCtx(), input(`boss@${LOCAL_DOMAIN}`, message({ from: `boss@${LOCAL_DOMAIN}` })));
    expect(v).toMatchObject({ action: 'reject', code: 550, enhanced: '5.7.1' });
    expect(v.log).toMatchObject({ decided_by: 'local-spoof', spoofed: LOCAL_DOMAIN });
  });

  it('header From in a local domain with a foreign MAIL FROM → rejected too', async () => {
    const v = await checkInbound(makeCtx(), input('a@pass.test', message({ from: `boss@${LOCAL_DOMAIN}` })));
    expect(v).toMatchObject({ action: 'reject', code: 550 });
  });

  it('a local From with a valid DKIM signature of our domain is accepted', async () => {
    const signed = await signWithMailauth(message({ from: `boss@${LOCAL_DOMAIN}` }), { domain: LOCAL_DOMAIN, selector: 'rsa', key: keys.rsaPem });
    const v = await checkInbound(makeCtx(), input(`boss@${LOCAL_DOMAIN}`, signed));
    expect(v.action).toBe('accept');
  });

  it('authenticated submission and trusted networks skip every check (no headers)', async () => {
    const raw = message({ from: `boss@${LOCAL_DOMAIN}` });
    const auth = await checkInbound(makeCtx(), input(`boss@${LOCAL_DOMAIN}`, raw, { authenticated: true }));
    expect(auth).toMatchObject({ action: 'accept', headers: '' });
    expect(auth.log.checks).toBe('skipped-authenticated');
    const trusted = await checkInbound(makeCtx({ trustedNetworks: ['127.0.0.0/8'] }), input(`boss@${LOCAL_DOMAIN}`, raw));
    expect(trusted).toMatchObject({ action: 'accept', headers: '' });
    expect(trusted.log.checks).toBe('skipped-trusted-network');
    const other = await checkInbound(makeCtx({ trustedNetworks: ['10.0.0.0/8', '::1/128'] }), input(`boss@${LOCAL_DOMAIN}`, raw));
    expect(other.action).toBe('reject');
  });
});

describe('dead DNS', () => {
  it('a DNS server that never answers delays by at most checks.timeout_ms, then 451', async () => {
    const sink = dgram.createSocket('udp4');
    await new Promise<void>((r) => sink.bind(0, '127.0.0.1', () => r()));
    try {
      const ctx = makeCtx({ timeoutMs: 800 }, [`127.0.0.1:${sink.address().port}`], 5000);
      const v = await checkInbound(ctx, input('a@pass.test', message({ from: 'a@pass.test' })));
      expect(v).toMatchObject({ action: 'tempfail', code: 451 });
      // 'timeout' is the check's own timer (CheckTimeout after checks.timeout_ms), not the
      // resolver's 5 s, which would give 'error': the schedule, not the wall clock.
      expect(v.log.msgauth).toBe('timeout');
    } finally {
      sink.close();
    }
  });
});

describe('connection checks', () => {
  it('FCrDNS: a PTR name whose A record points back is returned; one that does not is not', async () => {
    dns.set('1.0.0.127.in-addr.arpa', 'PTR', ['mail.client.test']);
    dns.set('mail.client.test', 'A', ['127.0.0.1']);
    try {
      expect(await checkConnection(makeCtx(), { remoteAddress: '127.0.0.1' })).toEqual({ fcrdns: 'mail.client.test' });
      expect((await checkConnection(makeCtx(), { remoteAddress: '::ffff:127.0.0.1' })).fcrdns).toBe('mail.client.test');
      expect(await checkConnection(makeCtx({ enabled: false }), { remoteAddress: '127.0.0.1' })).toEqual({});
      dns.set('mail.client.test', 'A', ['192.0.2.200']);
      expect((await checkConnection(makeCtx(), { remoteAddress: '127.0.0.1' })).fcrdns).toBeUndefined();
    } finally {
      dns.remove('1.0.0.127.in-addr.arpa');
      dns.remove('mail.client.test');
    }
  });

  it('DNSBL (off by default): a listed client gets 554 5.7.1 naming the list; unlisted and dead lists pass', async () => {
    dns.set('1.0.0.127.bl.test', 'A', ['127.0.0.2']);
    dns.set('2.0.0.127.bl.test', 'A', ['127.0.0.4']);
    dns.mode('1.0.0.127.dead-bl.test', 'timeout');
    try {
      expect((await checkConnection(makeCtx(), { remoteAddress: '127.0.0.1' })).reject).toBeUndefined();
      const listed = await checkConnection(makeCtx({ dnsblZones: ['dead-bl.test', 'bl.test'] }), { remoteAddress: '127.0.0.1' });
      expect(listed.reject).toEqual({ code: 554, enhanced: '5.7.1', text: 'Service unavailable; client [127.0.0.1] blocked using bl.test' });
      expect((await checkConnection(makeCtx({ dnsblZones: ['bl.test'] }), { remoteAddress: '127.0.0.3' })).reject).toBeUndefined();
      expect((await checkConnection(makeCtx({ dnsblZones: ['dead-bl.test'] }), { remoteAddress: '127.0.0.1' })).reject).toBeUndefined();
      expect((await checkConnection(makeCtx({ dnsblZones: ['bl.test'], trustedNetworks: ['127.0.0.1'] }), { remoteAddress: '127.0.0.1' })).reject).toBeUndefined();
    } finally {
      dns.remove('1.0.0.127.bl.test');
      dns.remove('2.0.0.127.bl.test');
      dns.mode('1.0.0.127.dead-bl.test', undefined);
    }
  });
});

describe('forged Authentication-Results (RFC 8601 §5)', () => {
  it('drops fields claiming our authserv-id, folded or commented, and keeps the rest byte for byte', () => {
    const header = [
      `Authentication-Results: ${OUR_HOST}; dkim=pass header.d=bank.test`,
      'Received: from x by y; Sun, 22 Nov 2026 06:00:00 +0000',
      `authentication-results:  (sneaky comment) MX.OURS.TEST 1;`,
      '\tspf=pass smtp.mailfrom=bank.test',
      'Authentication-Results: other.example; spf=fail',
      `ARC-Authentication-Results: i=1; ${OUR_HOST}; dkim=pass`,
      'Subject: hi',
      '',
      '',
    ].join('\r\n');
    const out = filterHeader(makeCtx(), Buffer.from(header)).toString();
    expect(out).toBe(
      [
        'Received: from x by y; Sun, 22 Nov 2026 06:00:00 +0000',
        'Authentication-Results: other.example; spf=fail',
        `ARC-Authentication-Results: i=1; ${OUR_HOST}; dkim=pass`,
        'Subject: hi',
        '',
        '',
      ].join('\r\n'),
    );
    const clean = Buffer.from('Subject: x\r\n\r\n');
    expect(filterHeader(makeCtx(), clean)).toBe(clean);
  });
});
