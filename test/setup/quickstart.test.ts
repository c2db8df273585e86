// quickstart against a temp data root and a real DNS server on loopback: the printed
// records, once served, make `dns check` report all ok; removing one makes it report
// exactly that one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDnsServer, type RecordValue, type TestDnsServer, type RecordType } from '../helpers/dns-server.js';
import { run, tempRoot, type RunResult } from '../cli/run.js';

interface Printed {
  name: string;
  type: string;
  value: string;
  hint?: boolean;
}

let dns: TestDnsServer;
let root: ReturnType<typeof tempRoot>;
let env: NodeJS.ProcessEnv;
let records: Printed[];
let quick: RunResult;

function publish(r: Printed): void {
  const v = r.value;
  let value: RecordValue;
  switch (r.type) {
    case 'MX': {
      const [prio, host] = v.split(' ');
      value = { priority: Number(prio), exchange: host!.replace(/\.$/, '') };
      break;
    }
    case 'SRV': {
      const [priority, weight, port, name] = v.split(' ');
      value = { priority: Number(priority), weight: Number(weight), port: Number(port), name: name!.replace(/\.$/, '') };
      break;
    }
    case 'TXT': {
      const chunks: string[] = [];
      for (let i = 0; i < v.length; i += 255) chunks.push(v.slice(i, i + 255));
      value = chunks;
      break;
    }
    default:
      value = v.replace(/\.$/, '');
  }
  dns.set(r.name, r.type as RecordType, [value]);
}

function cli(args: string[]): Promise<RunResult> {
  return run(['--data', root.dir, ...args], { env });
}

beforeAll(async () => {
  dns = await startDnsServer();
  root = tempRoot();
  env = { MAILSERVER_DNS_SERVERS: dns.servers.join(','), MAILSERVER_PROFILE: 'dev' };
  quick = await cli(['quickstart', 'admin@example.test', '--ipv4', '192.0.2.10']);
  const r = await cli(['dns', 'records', 'example.test', '--ipv4', '192.0.2.10', '--json']);
  expect(r.code).toBe(0);
  records = JSON.parse(r.stdout) as Printed[];
});

afterAll(async () => {
  await dns?.close();
  root?.cleanup();
});

describe('quickstart', () => {
  it('creates the config, domain, admin account and aliases, and prints the records with reasons', () => {
    expect(quick.code, quick.stderr).toBe(0);
    expect(quick.stdout).toContain('config written');
    expect(quick.stdout).toMatch(/password: \S{12,}/);
    expect(quick.stdout).toContain('aliases: postmaster@example.test, abuse@example.test -> admin@example.test');
    for (const needle of [
      'example.test. 3600 IN MX 10 mail.example.test.',
      'mail.example.test. 3600 IN A 192.0.2.10',
      'example.test. 3600 IN TXT "v=spf1 mx -all"',
      '._domainkey.example.test. 3600 IN TXT "v=DKIM1; k=rsa; p=',
      '_dmarc.example.test. 3600 IN TXT "v=DMARC1;',
      '_mta-sts.example.test. 3600 IN TXT "v=STSv1; id=',
      '_smtp._tls.example.test. 3600 IN TXT "v=TLSRPTv1;',
      '_submissions._tcp.example.test. 3600 IN SRV 0 1 465 mail.example.test.',
      '_imaps._tcp.example.test. 3600 IN SRV 0 1 993 mail.example.test.',
      '_pop3s._tcp.example.test. 3600 IN SRV 0 1 995 mail.example.test.',
      'autoconfig.example.test. 3600 IN CNAME mail.example.test.',
      'autodiscover.example.test. 3600 IN CNAME mail.example.test.',
      '10.2.0.192.in-addr.arpa. 3600 IN PTR mail.example.test.',
    ]) {
      expect(quick.stdout).toContain(needle);
    }
    // Every record line is preceded by its reason.
    const lines = quick.stdout.split('\n');
    for (let i = 0; i < lines.length; i++) if (/ 3600 IN /.test(lines[i]!)) expect(lines[i - 1]).toMatch(/^; \S/);
  });

  it('refuses to overwrite the config without --force', async () => {
    const r = await cli(['quickstart', 'admin@example.test']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/exists; use --force/);
  });

  it('the admin password printed once works', async () => {
    const password = /password: (\S+)/.exec(quick.stdout)![1]!;
    const { AccountsRepo } = await import('../../src/accounts/repo.js');
    const { openDb, dbPath } = await import('../../src/db/index.js');
    const db = openDb(dbPath(root.dir));
    try {
      const repo = new AccountsRepo(db);
      expect(await repo.verifyCredentials('admin@example.test', password)).toBeDefined();
      expect(repo.resolveRecipient('postmaster@example.test')).toMatchObject({ kind: 'deliver' });
    } finally {
      db.close();
    }
  });

  it('dns check: nothing published → every record missing, exit 1', async () => {
    const r = await cli(['dns', 'check', 'example.test', '--ipv4', '192.0.2.10']);
    expect(r.code).toBe(1);
    const missing = r.stdout.split('\n').filter((l) => l.startsWith('missing'));
    expect(missing.length).toBe(records.filter((x) => !x.hint).length);
  });

  it('dns check: all records served → all ok, exit 0', async () => {
    for (const rec of records) publish(rec);
    const r = await cli(['dns', 'check', 'example.test', '--ipv4', '192.0.2.10']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.length).toBe(records.length);
    expect(lines.every((l) => l.startsWith('ok '))).toBe(true);
  });

  it('dns check: one removed → exactly that one reported', async () => {
    dns.remove('_dmarc.example.test', 'TXT');
    const r = await cli(['dns', 'check', 'example.test', '--ipv4', '192.0.2.10']);
    expect(r.code).toBe(1);
    const notOk = r.stdout.split('\n').filter((l) => l && !l.startsWith('ok '));
    expect(notOk).toHaveLength(1);
    expect(notOk[0]).toMatch(/^missing +TXT +_dmarc\.example\.test: publish _dmarc\.example\.test\. 3600 IN TXT "v=DMARC1/);
  });

  it('dns check: a wrong value is reported with what was found', async () => {
    publish(records.find((x) => x.name === '_dmarc.example.test')!);
    dns.set('example.test', 'MX', [{ priority: 10, exchange: 'mx.elsewhere.test' }]);
    const r = await cli(['dns', 'check', 'example.test', '--ipv4', '192.0.2.10', '--json']);
    const out = JSON.parse(r.stdout) as Array<{ type: string; name: string; status: string; found?: string }>;
    const bad = out.filter((x) => x.status !== 'ok');
    expect(bad).toEqual([{ type: 'MX', name: 'example.test', status: 'wrong', found: '10 mx.elsewhere.test', want: '10 mail.example.test.' }]);
  });
});
