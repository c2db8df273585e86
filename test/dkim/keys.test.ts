// DKIM keys (generate, rotate, DNS record) and signing, checked by two verifiers that
// look the key up over real DNS on loopback: mailauth's dkimVerify and python3-dkim.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dkimVerify } from 'mailauth';
import { AccountsRepo } from '../../src/accounts/repo.js';
import { dbPath, openDb, type Db } from '../../src/db/index.js';
import { createResolver } from '../../src/dns/resolver.js';
import {
  activeKey,
  dnsRecordName,
  dnsRecordValue,
  ensureDomainKey,
  generateDomainKey,
  listKeys,
  removeDomainKey,
  rotateDomainKey,
  splitTxt,
  zoneFileRecord,
  DkimKeyError,
} from '../../src/dkim/keys.js';
import { signMessage } from '../../src/dkim/sign.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { needs, peer } from '../helpers/peers.js';

const VERIFY_PY = path.join(path.dirname(fileURLToPath(import.meta.url)), 'verify-dkim.py');

let dir: string;
let db: Db;
let dns: TestDnsServer;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'dkim-test-'));
  db = openDb(dbPath(dir));
  const repo = new AccountsRepo(db);
  repo.addDomain('a.test');
  repo.addDomain('ed.test');
  dns = await startDnsServer({});
});

afterAll(async () => {
  db?.close();
  await dns?.close();
  await rm(dir, { recursive: true, force: true });
});

function message(from: string): Buffer {
  return Buffer.from(
    [`From: Alice <${from}>`, 'To: bob@b.test', 'Subject: hello', 'Date: Sun, 22 Nov 2026 06:00:00 +0000', 'Message-ID: <m1@a.test>', '', 'Hello Bob,', '', 'body text.', ''].join('\r\n'),
  );
}

function publish(key: { selector: string; domain: string; algorithm: 'rsa-2048' | 'ed25519'; publicKey: string }) {
  // Published as 255-byte strings, as `dkim show` prints them.
  dns.set(dnsRecordName(key), 'TXT', [splitTxt(dnsRecordValue(key))]);
}

/** Runs python3-dkim (async: the DNS server lives in this process and must keep answering). */
function pythonVerify(msg: Buffer): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(peer('python3-dkim'), [VERIFY_PY, dns.servers[0]!], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('close', (status) => resolve({ status, out: out.trim() }));
    p.stdin.end(msg);
  });
}

describe('DKIM keys', () => {
  it('gives a domain one RSA-2048 key, idempotently, with the db file made 0600', () => {
    const k1 = ensureDomainKey(db, 'a.test');
    const k2 = ensureDomainKey(db, 'A.TEST');
    expect(k1.algorithm).toBe('rsa-2048');
    expect(k2.id).toBe(k1.id);
    expect(k1.privateKey).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(dnsRecordValue(k1)).toMatch(/^v=DKIM1; k=rsa; p=MIIB/);
    expect(statSync(dbPath(dir)).mode & 0o777).toBe(0o600);
  });

  it('refuses unknown domains and bad selectors', () => {
    expect(() => generateDomainKey(db, 'nope.test')).toThrow(DkimKeyError);
    expect(() => generateDomainKey(db, 'a.test', { selector: 'bad selector!' })).toThrow(DkimKeyError);
  });

  it('splits long TXT values into 255-byte strings for the zone file', () => {
    const k = activeKey(db, 'a.test')!;
    const parts = splitTxt(dnsRecordValue(k));
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.every((p) => Buffer.byteLength(p) <= 255)).toBe(true);
    expect(parts.join('')).toBe(dnsRecordValue(k));
    const zone = zoneFileRecord(k);
    expect(zone.startsWith(`${k.selector}._domainkey.a.test. 3600 IN TXT ( "v=DKIM1; k=rsa; p=`)).toBe(true);
  });

  it('signs with RSA and both mailauth and python3-dkim verify over DNS (RFC 6376)', needs('python3-dkim'), async () => {
    const key = activeKey(db, 'a.test')!;
    publish(key);
    const msg = message('alice@a.test');
    const signed = await signMessage(db, 'a.test', msg);
    expect(signed?.header).toMatch(/^DKIM-Signature: .*a=rsa-sha256/s);
    expect(signed?.header).toContain(`s=${key.selector}`);
    const full = Buffer.concat([Buffer.from(signed!.header), msg]);

    const res = await dkimVerify(full, { resolver: createResolver({ servers: dns.servers, timeoutMs: 2000 }) });
    expect(res.results[0]?.status.result).toBe('pass');
    expect(res.results[0]?.signingDomain).toBe('a.test');

    const py = await pythonVerify(full);
    expect(py.out).toBe('pass');
    expect(py.status).toBe(0);

    // Tampering is caught by both: the signature covers the body.
    const tampered = Buffer.from(full.toString().replace('body text.', 'body text!'));
    const bad = await dkimVerify(tampered, { resolver: createResolver({ servers: dns.servers, timeoutMs: 2000 }) });
    expect(bad.results[0]?.status.result).not.toBe('pass'); // mailauth says neutral: body hash did not verify
    expect((await pythonVerify(tampered)).status).toBe(1);
  });

  it('signs with Ed25519 (RFC 8463) and both verifiers accept it', needs('python3-dkim'), async () => {
    const key = generateDomainKey(db, 'ed.test', { selector: 'ed1', algorithm: 'ed25519' });
    expect(dnsRecordValue(key)).toMatch(/^v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$/);
    publish(key);
    const msg = message('carol@ed.test');
    const signed = await signMessage(db, 'ed.test', msg);
    expect(signed?.header).toContain('a=ed25519-sha256');
    const full = Buffer.concat([Buffer.from(signed!.header), msg]);
    const res = await dkimVerify(full, { resolver: createResolver({ servers: dns.servers, timeoutMs: 2000 }) });
    expect(res.results[0]?.status.result).toBe('pass');
    expect((await pythonVerify(full)).out).toBe('pass');
  });

  it('rotates: new selector signs, old one is kept as retiring and still verifies', needs('python3-dkim'), async () => {
    const old = activeKey(db, 'a.test')!;
    const { active, retiring } = rotateDomainKey(db, 'a.test', { selector: 'next' });
    expect(active.selector).toBe('next');
    expect(retiring?.selector).toBe(old.selector);
    const keys = listKeys(db, 'a.test');
    expect(keys.map((k) => [k.selector, k.status])).toEqual([
      ['next', 'active'],
      [old.selector, 'retiring'],
    ]);
    publish(active);
    const signed = await signMessage(db, 'a.test', message('alice@a.test'));
    expect(signed?.selector).toBe('next');
    const full = Buffer.concat([Buffer.from(signed!.header), message('alice@a.test')]);
    expect((await pythonVerify(full)).out).toBe('pass');
    expect(() => removeDomainKey(db, 'a.test', 'next')).toThrow(/active/);
    removeDomainKey(db, 'a.test', old.selector);
    expect(listKeys(db, 'a.test').map((k) => k.selector)).toEqual(['next']);
  });

  it('returns undefined for a domain without a key (mail goes out unsigned)', async () => {
    expect(await signMessage(db, 'nokey.test', message('x@nokey.test'))).toBeUndefined();
  });
});
