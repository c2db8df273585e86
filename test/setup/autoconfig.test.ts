// Client autoconfiguration over HTTP, checked with real parsers: python3's
// xml.etree for the Thunderbird and Outlook documents, plistlib for the Apple profile.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/servers.js';
import { needs, peer } from '../helpers/peers.js';

const run = promisify(execFile);
let t: TestServer;

async function py(script: string, input: string): Promise<unknown> {
  const child = run(peer('python3'), ['-c', script]);
  child.child.stdin!.end(input);
  const { stdout } = await child;
  return JSON.parse(stdout);
}

const THUNDERBIRD = `
import sys, json, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.read())
p = root.find('emailProvider')
out = {'version': root.get('version'), 'domain': p.findtext('domain'), 'servers': []}
for tag in ('incomingServer', 'outgoingServer'):
    for s in p.findall(tag):
        out['servers'].append([tag, s.get('type'), s.findtext('hostname'), int(s.findtext('port')), s.findtext('socketType'), s.findtext('username')])
print(json.dumps(out))
`;

beforeAll(async () => {
  t = await startTestServer();
  await t.addAccount('alice@example.test');
});
afterAll(async () => t?.close());

const base = () => `http://127.0.0.1:${t.port('http')}`;

describe('autoconfig', () => {
  it.each(['/mail/config-v1.1.xml', '/.well-known/autoconfig/mail/config-v1.1.xml'])('Thunderbird %s names the right hosts, ports and socket types', needs('python3'), async (path) => {
    const res = await fetch(`${base()}${path}?emailaddress=alice%40example.test`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/xml/);
    const parsed = (await py(THUNDERBIRD, await res.text())) as { version: string; domain: string; servers: unknown[][] };
    expect(parsed.version).toBe('1.1');
    expect(parsed.domain).toBe('example.test');
    const p = { imaps: t.port('imaps'), imap: t.port('imap'), pop3s: t.port('pop3s'), submissions: t.port('submissions'), submission: t.port('submission') };
    expect(parsed.servers).toEqual([
      ['incomingServer', 'imap', 'mail.example.test', p.imaps, 'SSL', '%EMAILADDRESS%'],
      ['incomingServer', 'imap', 'mail.example.test', p.imap, 'STARTTLS', '%EMAILADDRESS%'],
      ['incomingServer', 'pop3', 'mail.example.test', p.pop3s, 'SSL', '%EMAILADDRESS%'],
      ['outgoingServer', 'smtp', 'mail.example.test', p.submissions, 'SSL', '%EMAILADDRESS%'],
      ['outgoingServer', 'smtp', 'mail.example.test', p.submission, 'STARTTLS', '%EMAILADDRESS%'],
    ]);
  });

  it('answers by Host header autoconfig.<domain>, and 404 for domains not served here', async () => {
    const { request } = await import('node:http');
    const get = (host: string) =>
      new Promise<number>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: t.port('http'), path: '/mail/config-v1.1.xml', headers: { host } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
    expect(await get('autoconfig.example.test')).toBe(200);
    expect(await get('autoconfig.not-ours.test')).toBe(404);
    const res = await fetch(`${base()}/mail/config-v1.1.xml?emailaddress=x%40not-ours.test`);
    expect(res.status).toBe(404);
  });

  it('Outlook POX autodiscover', needs('python3'), async () => {
    const body = `<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>Alice@Example.test</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>`;
    const res = await fetch(`${base()}/autodiscover/autodiscover.xml`, { method: 'POST', body, headers: { 'content-type': 'text/xml' } });
    expect(res.status).toBe(200);
    const parsed = (await py(
      `
import sys, json, xml.etree.ElementTree as ET
ns = {'r': 'http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a'}
root = ET.fromstring(sys.stdin.read())
acc = root.find('r:Response/r:Account', ns)
print(json.dumps([[p.findtext('r:Type', namespaces=ns), p.findtext('r:Server', namespaces=ns), int(p.findtext('r:Port', namespaces=ns)), p.findtext('r:SSL', namespaces=ns), p.findtext('r:LoginName', namespaces=ns)] for p in acc.findall('r:Protocol', ns)]))
`,
      await res.text(),
    )) as unknown[][];
    expect(parsed).toEqual([
      ['IMAP', 'mail.example.test', t.port('imaps'), 'on', 'alice@example.test'],
      ['SMTP', 'mail.example.test', t.port('submissions'), 'on', 'alice@example.test'],
    ]);
  });

  it('the Apple .mobileconfig is a valid plist with the account settings', needs('python3'), async () => {
    const res = await fetch(`${base()}/apple/mail.mobileconfig?emailaddress=alice%40example.test`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/application\/x-apple-aspen-config/);
    const parsed = (await py(
      `
import sys, json, plistlib
p = plistlib.loads(sys.stdin.buffer.read())
m = p['PayloadContent'][0]
print(json.dumps({'type': p['PayloadType'], 'mtype': m['PayloadType'], 'imap': [m['IncomingMailServerHostName'], m['IncomingMailServerPortNumber'], m['IncomingMailServerUseSSL'], m['IncomingMailServerUsername']], 'smtp': [m['OutgoingMailServerHostName'], m['OutgoingMailServerPortNumber'], m['OutgoingMailServerUseSSL']], 'uuid': p['PayloadUUID']}))
`,
      await res.text(),
    )) as Record<string, unknown>;
    expect(parsed).toMatchObject({
      type: 'Configuration',
      mtype: 'com.apple.mail.managed',
      imap: ['mail.example.test', t.port('imaps'), true, 'alice@example.test'],
      smtp: ['mail.example.test', t.port('submissions'), true],
    });
    expect(parsed.uuid).toMatch(/^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-A[0-9A-F]{3}-[0-9A-F]{12}$/);
  });

  it('serves the MTA-STS policy for mta-sts.<domain> (RFC 8461 §3.2)', async () => {
    const { request } = await import('node:http');
    const text = await new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: t.port('http'), path: '/.well-known/mta-sts.txt', headers: { host: 'mta-sts.example.test' } }, (res) => {
        let b = '';
        res.setEncoding('utf8').on('data', (d: string) => (b += d)).on('end', () => resolve(b));
      });
      req.on('error', reject);
      req.end();
    });
    expect(text).toBe('version: STSv1\r\nmode: testing\r\nmx: mail.example.test\r\nmax_age: 604800\r\n');
  });

  it('serves the MTA-STS policy and the autodiscover answer over HTTPS too (RFC 8461 §3.3: HTTPS only)', async () => {
    const { request } = await import('node:https');
    const get = (p: string, host: string, method = 'GET', body?: string) =>
      new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: t.port('https'), path: p, method, servername: host, headers: { host }, rejectUnauthorized: false }, (res) => {
          let b = '';
          res.setEncoding('utf8').on('data', (d: string) => (b += d)).on('end', () => resolve({ status: res.statusCode ?? 0, text: b }));
        });
        req.on('error', reject);
        req.end(body);
      });
    const policy = await get('/.well-known/mta-sts.txt', 'mta-sts.example.test');
    expect(policy).toEqual({ status: 200, text: 'version: STSv1\r\nmode: testing\r\nmx: mail.example.test\r\nmax_age: 604800\r\n' });
    const xml = await get('/mail/config-v1.1.xml?emailaddress=alice%40example.test', 'autoconfig.example.test');
    expect(xml.status).toBe(200);
    expect(xml.text).toContain(`<port>${t.port('imaps')}</port>`);
  });

  it('health endpoint', async () => {
    const res = await fetch(`${base()}/health`);
    expect(res.status).toBe(200);
  });
});
