import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, defaults, DEV_PORTS, loadConfig, parseSize, PRODUCTION_PORTS } from '../../src/config/index.js';

const made: string[] = [];
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

function dataRootWith(toml?: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'mailserver-config-'));
  made.push(dir);
  if (toml !== undefined) {
    mkdirSync(path.join(dir, 'config'));
    writeFileSync(path.join(dir, 'config', 'mailserver.toml'), toml);
  }
  return dir;
}

describe('config', () => {
  it('no file, not root: the development profile on the documented ports', () => {
    const c = loadConfig({ dataRoot: dataRootWith(), env: {}, root: false });
    expect(c.ports).toEqual({ smtp: 2525, submission: 2587, submissions: 2465, imap: 1143, imaps: 1993, pop3: 1110, pop3s: 1995, http: 8080, https: 8443, managesieve: 14190 });
    expect(c.hostname).toBe('localhost');
    expect(c.dev).toBe(true);
    expect(c.auth.allowPlaintextOnLoopback).toBe(true);
  });

  it('no file, root: the standard ports', () => {
    const c = loadConfig({ dataRoot: dataRootWith(), env: {}, root: true });
    expect(c.ports).toEqual(PRODUCTION_PORTS);
    expect(c.auth.allowPlaintextOnLoopback).toBe(false);
  });

  it('--dev selects the development ports on top of the file, even as root', () => {
    const c = loadConfig({ dataRoot: dataRootWith('hostname = "mail.example.org"\n[listen]\nsmtp = 25\n'), env: {}, root: true, dev: true });
    expect(c.ports).toEqual(DEV_PORTS);
    expect(c.hostname).toBe('mail.example.org');
    expect(c.auth.allowPlaintextOnLoopback).toBe(true);
  });

  it('the commented example config is valid', () => {
    const example = readFileSync(path.join(import.meta.dirname, '../../config/mailserver.example.toml'), 'utf8');
    const c = loadConfig({ dataRoot: dataRootWith(example), env: {}, root: true });
    expect(c.hostname).toBe('mail.example.org');
    expect(c.limits.maxMessageSize).toBe(50 * 1024 * 1024);
    // It states the defaults, so loading it changes nothing of the auth section.
    expect(c.auth).toEqual({ ...defaults(c.dataRoot, true).auth, allowPlaintextOnLoopback: false });
    expect(c.admin).toEqual({ enabled: false, allow: ['127.0.0.0/8', '::1'], sessionMinutes: 120, trustedProxies: [] });
    expect(c.metrics).toEqual({ enabled: true, allow: ['127.0.0.0/8', '::1'] });
  });

  it('environment variables override the file', () => {
    const c = loadConfig({
      dataRoot: dataRootWith('hostname = "a.example"\n'),
      env: { MAILSERVER_HOSTNAME: 'b.example', MAILSERVER_PORT_SMTP: '2626', MAILSERVER_TLS_MODE: 'self-signed', MAILSERVER_DNS_SERVERS: '127.0.0.1:5353, 10.0.0.1' },
      root: false,
    });
    expect(c.hostname).toBe('b.example');
    expect(c.ports.smtp).toBe(2626);
    expect(c.dns.servers).toEqual(['127.0.0.1:5353', '10.0.0.1']);
  });

  it.each([
    ['[listen]\nsmtp = 70000\n', /listen\.smtp: invalid value 70000; allowed: an integer >= -1 and <= 65535/],
    ['[tls]\nmode = "letsencrypt"\n', /tls\.mode: invalid value "letsencrypt"; allowed: one of "self-signed", "manual", "acme"/],
    ['[limits]\nmax_message_size = "lots"\n', /limits\.max_message_size: invalid value "lots"; allowed: a size/],
    ['hostnme = "typo"\n', /unknown key "hostnme"/],
    ['[tls]\nmode = "manual"\n', /needs tls\.cert_file and tls\.key_file/],
    ['[auth]\nscrypt_ln = 20\nscrypt_r = 8\n', /auth\.scrypt_ln = 20 with auth\.scrypt_r = 8 needs more than 256 MiB per hash/],
    ['[auth]\nban_failures = -1\n', /auth\.ban_failures: invalid value -1; allowed: an integer >= 0/],
    ['this is not toml', /mailserver\.toml/],
    ['[admin]\nallow = ["10.0.0.0/33"]\n', /admin\.allow: invalid value \["10\.0\.0\.0\/33"\]; allowed: a list of addresses or CIDR networks/],
    ['[metrics]\nallow = ["localhost"]\n', /metrics\.allow: invalid value/],
  ])('invalid config fails with the key, the value and what is allowed: %s', (toml, msg) => {
    expect(() => loadConfig({ dataRoot: dataRootWith(toml), env: {}, root: false })).toThrowError(msg);
  });

  it('network lists from the environment are comma-separated and checked', () => {
    const c = loadConfig({ dataRoot: dataRootWith(), env: { MAILSERVER_ADMIN_ALLOW: '192.0.2.0/24, 2001:db8::/32', MAILSERVER_ADMIN_ENABLED: 'yes' }, root: false });
    expect(c.admin.allow).toEqual(['192.0.2.0/24', '2001:db8::/32']);
    expect(c.admin.enabled).toBe(true);
    expect(() => loadConfig({ dataRoot: dataRootWith(), env: { MAILSERVER_METRICS_ALLOW: '192.0.2.0/24,nonsense' }, root: false })).toThrowError(/MAILSERVER_METRICS_ALLOW/);
  });

  it('a bad environment value names the variable', () => {
    expect(() => loadConfig({ dataRoot: dataRootWith(), env: { MAILSERVER_PORT_IMAP: 'abc' }, root: false })).toThrowError(ConfigError);
    expect(() => loadConfig({ dataRoot: dataRootWith(), env: { MAILSERVER_PORT_IMAP: 'abc' }, root: false })).toThrowError(/MAILSERVER_PORT_IMAP/);
  });

  it.each([
    ['1024', 1024],
    ['50M', 50 * 1024 * 1024],
    ['2G', 2 * 1024 ** 3],
    ['1.5k', 1536],
    [4096, 4096],
    ['x', undefined],
    [-1, undefined],
  ])('parseSize(%s)', (input, want) => {
    expect(parseSize(input)).toBe(want);
  });
});
