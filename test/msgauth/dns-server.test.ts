// The shared test DNS server (test/helpers/dns-server.ts), queried through Node's own
// c-ares resolver and through the project's createResolver, over real loopback sockets.
import { promises as dnsPromises } from 'node:dns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResolver, isNotFound } from '../../src/dns/resolver.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';

const LONG_DKIM = `v=DKIM1; k=rsa; p=${'A'.repeat(392)}`;

describe('test DNS server', () => {
  let dns: TestDnsServer;
  let node: dnsPromises.Resolver;

  beforeAll(async () => {
    dns = await startDnsServer({
      'example.test': {
        A: ['127.0.0.1'],
        AAAA: ['::1', '2001:db8::ffff:1.2.3.4'],
        MX: [{ priority: 10, exchange: 'mx.example.test' }, '20 mx2.example.test'],
        TXT: ['v=spf1 ip4:127.0.0.1 -all', ['two', 'strings']],
        NS: ['ns.example.test'],
      },
      'sel._domainkey.example.test': { TXT: [LONG_DKIM] },
      'www.example.test': { CNAME: ['example.test'] },
      '7.2.0.192.in-addr.arpa': { PTR: ['mx.example.test'] },
      '1.0.0.127.in-addr.arpa': { PTR: ['loopback.example.test'] },
      '_submission._tcp.example.test': { SRV: [{ priority: 0, weight: 1, port: 587, name: 'mail.example.test' }] },
      'deep.below.empty.test': { A: ['127.0.0.2'] },
    });
    node = new dnsPromises.Resolver({ timeout: 1000, tries: 1 });
    node.setServers(dns.servers);
  });
  afterAll(async () => {
    await dns.close();
  });

  it('answers A, AAAA, MX, NS, PTR, SRV', async () => {
    expect(await node.resolve4('example.test')).toEqual(['127.0.0.1']);
    expect(await node.resolve6('example.test')).toEqual(['::1', '2001:db8::ffff:102:304']);
    expect((await node.resolveMx('example.test')).sort((a, b) => a.priority - b.priority)).toEqual([
      { priority: 10, exchange: 'mx.example.test' },
      { priority: 20, exchange: 'mx2.example.test' },
    ]);
    expect(await node.resolveNs('example.test')).toEqual(['ns.example.test']);
    expect(await node.reverse('192.0.2.7')).toEqual(['mx.example.test']);
    // resolve(…, 'PTR') asks the server (reverse() would read /etc/hosts first for 127.0.0.1)
    expect(await node.resolvePtr('1.0.0.127.in-addr.arpa')).toEqual(['loopback.example.test']);
    expect(await node.resolveSrv('_submission._tcp.example.test')).toEqual([{ priority: 0, weight: 1, port: 587, name: 'mail.example.test' }]);
  });

  it('splits long TXT values into 255-byte strings and keeps given strings apart (RFC 1035 §3.3.14)', async () => {
    const txt = await node.resolveTxt('sel._domainkey.example.test');
    expect(txt).toHaveLength(1);
    expect(txt[0]!.length).toBe(2);
    expect(txt[0]![0]!.length).toBe(255);
    expect(txt[0]!.join('')).toBe(LONG_DKIM);
    const apex = await node.resolveTxt('example.test');
    expect(apex).toContainEqual(['two', 'strings']);
    expect(apex).toContainEqual(['v=spf1 ip4:127.0.0.1 -all']);
  });

  it('follows CNAME inside the zone', async () => {
    expect(await node.resolve4('www.example.test')).toEqual(['127.0.0.1']);
    expect(await node.resolveCname('www.example.test')).toEqual(['example.test']);
  });

  it('tells NXDOMAIN (ENOTFOUND) from NODATA (ENODATA), empty non-terminals included', async () => {
    await expect(node.resolve4('nope.example.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(node.resolveMx('www2.example.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(node.resolvePtr('example.test')).rejects.toMatchObject({ code: 'ENODATA' });
    await expect(node.resolve4('below.empty.test')).rejects.toMatchObject({ code: 'ENODATA' }); // RFC 8020
  });

  it('changes at run time: set, remove, servfail and timeout modes', async () => {
    dns.set('late.test', 'TXT', ['hello']);
    expect(await node.resolveTxt('late.test')).toEqual([['hello']]);
    dns.remove('late.test', 'TXT');
    await expect(node.resolveTxt('late.test')).rejects.toMatchObject({ code: 'ENODATA' });
    dns.remove('late.test');
    await expect(node.resolveTxt('late.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });

    dns.mode('example.test', 'servfail');
    await expect(node.resolve4('example.test')).rejects.toMatchObject({ code: 'ESERVFAIL' });
    dns.mode('example.test', 'timeout');
    await expect(node.resolve4('example.test')).rejects.toMatchObject({ code: 'ETIMEOUT' });
    dns.mode('example.test', undefined);
    expect(await node.resolve4('example.test')).toEqual(['127.0.0.1']);
  });

  it('answers over TCP when the UDP answer is truncated', async () => {
    const many = Array.from({ length: 40 }, (_, i) => `v=record-${i}-${'x'.repeat(20)}`);
    dns.set('big.test', 'TXT', many);
    dns.queries.length = 0;
    const txt = await node.resolveTxt('big.test');
    expect(txt.map((t) => t.join('')).sort()).toEqual([...many].sort());
    expect(dns.queries.some((q) => q.name === 'big.test' && q.transport === 'tcp')).toBe(true);
  });

  it('serves the project resolver (src/dns/resolver.ts), whose timeout bounds a dead name', async () => {
    const resolve = createResolver({ servers: dns.servers, timeoutMs: 600, tries: 2 });
    expect(await resolve('example.test', 'TXT')).toContainEqual(['v=spf1 ip4:127.0.0.1 -all']);
    expect(await resolve('example.test', 'MX')).toHaveLength(2);
    const nx = await resolve('nope.example.test', 'TXT').catch((e: unknown) => e);
    expect(isNotFound(nx)).toBe(true);

    dns.mode('slow.test', 'timeout');
    // The resolver gives up by itself (ETIMEOUT, its own timer); were it to hang, the
    // test's timeout would say so. How long it takes is not asserted: a loaded machine
    // stretches it, and speed belongs in bench/.
    const err = await resolve('slow.test', 'TXT').catch((e: unknown) => e);
    expect((err as NodeJS.ErrnoException).code).toBe('ETIMEOUT');
    expect(isNotFound(err)).toBe(false);
    expect(dns.queries.filter((q) => q.name === 'slow.test').length).toBeGreaterThanOrEqual(1);
  });
});
