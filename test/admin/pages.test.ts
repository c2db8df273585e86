// The web admin's rules and actions over HTTPS with curl (a cookie jar, no browser):
// who may reach it (enabled, HTTPS only, admin.allow), cross-site forms, the client
// address behind a trusted proxy for the login penalty, escaping of what users and
// remote servers wrote, and the actions the browser test does not click through
// (queue delete, DKIM keys, quotas, the admin flag, TLS renewal outside acme mode, the
// vacation reply's checks on /account and on an account's admin page).
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAdmin, setAdmin } from '../../src/admin/flag.js';
import { listKeys } from '../../src/dkim/keys.js';
import { listMessages } from '../../src/queue/repo.js';
import { getVacation } from '../../src/sieve/settings.js';
import { parsePrometheusText, seriesValue } from '../helpers/prom-text.js';
import { startTestServer, type TestServer } from '../helpers/servers.js';

const exec = promisify(execFile);
const ADMIN = 'root@admin.test';
const PW = 'root-password-1';

interface Res {
  status: number;
  headers: string;
  body: string;
  location?: string;
}

let t: TestServer;
let jarDir: string;

/** curl over HTTPS (or HTTP with `http: true`) with this file's cookie jar. */
async function curl(pathname: string, opts: { form?: Record<string, string>; body?: string; headers?: string[]; http?: boolean; jar?: string } = {}): Promise<Res> {
  const jar = path.join(jarDir, opts.jar ?? 'jar');
  const url = opts.http ? `http://127.0.0.1:${t.port('http')}${pathname}` : `https://127.0.0.1:${t.port('https')}${pathname}`;
  const args = ['-s', '-k', '-i', '--max-time', '20', '-b', jar, '-c', jar];
  for (const h of opts.headers ?? []) args.push('-H', h);
  for (const [k, v] of Object.entries(opts.form ?? {})) args.push('--data-urlencode', `${k}=${v}`);
  if (opts.body !== undefined) {
    const file = path.join(jarDir, 'body');
    writeFileSync(file, opts.body);
    args.push('--data-binary', `@${file}`);
  }
  const { stdout } = await exec('curl', [...args, url]);
  const sep = stdout.indexOf('\r\n\r\n');
  const headers = stdout.slice(0, sep);
  return { status: Number(/^HTTP\/[\d.]+ (\d+)/.exec(headers)![1]), headers, body: stdout.slice(sep + 4), location: /^location: (.*)$/im.exec(headers)?.[1]?.trim() };
}

/** The CSRF token of the page at `pathname` (the first form's). */
async function csrf(pathname: string, jar?: string): Promise<string> {
  const r = await curl(pathname, { jar });
  const m = /name="_csrf" value="([^"]+)"/.exec(r.body);
  if (!m) throw new Error(`no form on ${pathname}: ${r.status}`);
  return m[1]!;
}

async function login(user: string, password: string, opts: { jar?: string; headers?: string[]; area?: 'admin' | 'account' } = {}): Promise<Res> {
  const area = opts.area ?? 'admin';
  const token = await csrf(`/${area}/login`, opts.jar);
  return curl(`/${area}/login`, { jar: opts.jar, headers: opts.headers, form: { _csrf: token, username: user, password, next: area === 'admin' ? '/admin/' : '/account' } });
}

/**
 * POSTs a form with the session's token (of the jar's session) and follows nothing;
 * returns the flash of the page it redirects to.
 */
async function act(pathname: string, form: Record<string, string> = {}, jar?: string): Promise<{ res: Res; flash?: string }> {
  const token = await csrf(pathname.startsWith('/account') ? '/account' : '/admin/domains', jar);
  const res = await curl(pathname, { jar, form: { _csrf: token, ...form } });
  if (res.status !== 303 || !res.location) return { res };
  const next = await curl(res.location, { jar });
  return { res, flash: /<p class="flash [a-z]+" role="[a-z]+">(.*?)<\/p>/s.exec(next.body)?.[1] };
}

beforeAll(async () => {
  jarDir = mkdtempSync(path.join(os.tmpdir(), 'mailserver-admin-jar-'));
  t = await startTestServer({
    configure: (c) => {
      c.admin.enabled = true;
      c.checks.enabled = false;
      c.auth.penaltyExempt = [];
      c.auth.penaltyBaseMs = 10;
      c.auth.penaltyMaxMs = 20;
      c.queue.retryBaseSeconds = 3600;
    },
  });
  await t.addAccount(ADMIN, PW);
  setAdmin(t.ctx.db, ADMIN, true);
  expect((await login(ADMIN, PW)).status).toBe(303);
});
afterAll(async () => {
  await t?.close();
  rmSync(jarDir, { recursive: true, force: true });
});

describe('who reaches the pages', () => {
  it('serves them over HTTPS only, to admin.allow, and only when enabled', async () => {
    expect((await curl('/admin/')).status).toBe(200);
    expect((await curl('/admin/', { http: true })).status).toBe(403);
    t.ctx.config.admin.allow = ['192.0.2.0/24'];
    expect((await curl('/admin/')).body).toContain('127.0.0.1 is not in admin.allow');
    t.ctx.config.admin.allow = ['127.0.0.0/8'];
    t.ctx.config.admin.enabled = false;
    expect((await curl('/admin/')).status).toBe(404);
    expect((await curl('/account')).status).toBe(404);
    t.ctx.config.admin.enabled = true;
  });

  it('sends every page with a script-free Content-Security-Policy and no caching', async () => {
    const r = await curl('/admin/domains');
    expect(r.headers).toMatch(/^content-security-policy: default-src 'none'; style-src 'self';/im);
    expect(r.headers).toMatch(/^x-frame-options: DENY/im);
    expect(r.headers).toMatch(/^cache-control: no-store/im);
  });

  it('refuses a cross-site form even with a valid token', async () => {
    const r = await curl('/admin/domains', { form: { _csrf: await csrf('/admin/domains'), domain: 'cross.test' }, headers: ['Sec-Fetch-Site: cross-site'] });
    expect(r.status).toBe(403);
    expect(t.accounts.getDomain('cross.test')).toBeUndefined();
  });

  it('counts a failed login behind a trusted proxy against the forwarded client', async () => {
    const penalty = t.ctx.loginThrottle!;
    const loopback = penalty.failuresOf('127.0.0.1');
    const forwarded = ['X-Forwarded-For: 203.0.113.9, 127.0.0.1'];
    expect((await login(ADMIN, 'wrong', { jar: 'proxy', headers: forwarded })).status).toBe(401);
    // Not trusted yet: the peer (loopback) was counted.
    expect(penalty.failuresOf('127.0.0.1')).toBe(loopback + 1);
    t.ctx.config.admin.trustedProxies = ['127.0.0.1'];
    expect((await login(ADMIN, 'wrong', { jar: 'proxy', headers: forwarded })).status).toBe(401);
    expect(penalty.failuresOf('203.0.113.9')).toBe(1);
    expect(penalty.failuresOf('127.0.0.1')).toBe(loopback + 1);
    t.ctx.config.admin.trustedProxies = [];
  });

  it('refuses forms over 64 KiB and other encodings, before looking at the session', async () => {
    const big = await curl('/admin/domains', { body: `_csrf=x&domain=${'a'.repeat(70 * 1024)}` });
    expect(big.status).toBe(413);
    const json = await curl('/admin/domains', { headers: ['Content-Type: application/json'], form: { x: '1' } });
    expect(json.status).toBe(415);
    expect((await curl('/admin/domains')).status).toBe(200);
  });

  it('bans a client after auth.ban_failures failed logins, shows it, and /metrics counts it', async () => {
    t.ctx.config.admin.trustedProxies = ['127.0.0.1'];
    t.ctx.config.auth.banFailures = 2;
    const from = ['X-Forwarded-For: 198.51.100.7'];
    try {
      for (let i = 0; i < 2; i++) expect((await login(ADMIN, 'wrong', { jar: 'banned', headers: from })).status).toBe(401);
      const r = await login(ADMIN, PW, { jar: 'banned', headers: from });
      expect(r.status).toBe(403);
      expect(r.body).toContain('Too many failed logins from your address');
      expect(t.ctx.loginThrottle!.banOf('198.51.100.7')).toBeDefined();
    } finally {
      t.ctx.config.admin.trustedProxies = [];
      t.ctx.config.auth.banFailures = 10;
    }
    const metrics = parsePrometheusText((await curl('/metrics', { http: true })).body);
    expect(seriesValue(metrics, 'mailserver_login_bans_total')).toBe(1);
    expect(seriesValue(metrics, 'mailserver_login_bans_active')).toBe(1);
    expect(seriesValue(metrics, 'mailserver_logins_total', { result: 'banned' })).toBe(1);
  });

  it('sends a login form without its token back to the form', async () => {
    const r = await curl('/admin/login', { jar: 'fresh', form: { username: ADMIN, password: PW } });
    expect(r.status).toBe(403);
    expect(r.body).toContain('The form had expired');
  });
});

describe('escaping', () => {
  it('escapes what a client sent and what a refused input said', async () => {
    const mx = nodemailer.createTransport({ host: '127.0.0.1', port: t.port('smtp'), secure: false, ignoreTLS: true });
    await expect(mx.sendMail({ envelope: { from: 'x@remote.example', to: ["o'brien&co@admin.test"] }, raw: 'Subject: x\r\n\r\nx\r\n' })).rejects.toThrow(/550/);
    mx.close();
    const events = await curl('/admin/events?kind=refused');
    expect(events.body).toContain('o&#39;brien&amp;co@admin.test');
    expect(events.body).not.toContain("o'brien&co");
    const { flash } = await act('/admin/domains', { domain: '<img src=x onerror=alert(1)>' });
    expect(flash).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });
});

describe('actions', () => {
  it('deletes a queued message and its spool file (queue delete)', async () => {
    const sub = nodemailer.createTransport({ host: '127.0.0.1', port: t.port('submission'), secure: false, ignoreTLS: true, auth: { user: ADMIN, pass: PW } });
    await sub.sendMail({ from: ADMIN, to: 'someone@remote.example', subject: 'to the queue', text: 'x' });
    sub.close();
    const [m] = listMessages(t.ctx.db);
    const file = path.join(t.dataRoot, m!.spoolPath);
    expect((await curl(`/admin/queue/${m!.id}`)).body).toContain('someone@remote.example');
    expect((await act(`/admin/queue/${m!.id}/retry`)).flash).toBe(`Message ${m!.id}: 1 recipient(s) retried now.`);
    const { flash } = await act(`/admin/queue/${m!.id}/delete`);
    expect(flash).toBe(`Deleted message ${m!.id} from the queue.`);
    expect(listMessages(t.ctx.db)).toEqual([]);
    expect(existsSync(file)).toBe(false);
  });

  it('generates, rotates and removes DKIM keys', async () => {
    expect((await act('/admin/dkim/admin.test/generate', { algorithm: 'ed25519', selector: 'edkey' })).flash).toContain('admin.test now signs with edkey (ed25519)');
    expect((await act('/admin/dkim/admin.test/rotate')).flash).toMatch(/now signs with \S+; edkey is retiring/);
    expect((await act('/admin/dkim/admin.test/remove', { selector: 'edkey' })).flash).toBe('Removed key edkey of admin.test.');
    expect(listKeys(t.ctx.db, 'admin.test').map((k) => k.status)).toEqual(['active']);
    expect((await curl('/admin/dkim')).body).toMatch(/_domainkey\.admin\.test\. 3600 IN TXT &quot;v=DKIM1; k=ed25519; p=/);
  });

  it('sets quotas, the admin flag and disables an account, but not the own one', async () => {
    await t.addAccount('carl@admin.test', 'carl-password');
    expect((await act('/admin/accounts/carl@admin.test/quota', { quota: '2G', messages: '1000' })).flash).toBe('Quota of carl@admin.test: 2G, messages: 1000');
    expect(t.accounts.getAccount('carl@admin.test')).toMatchObject({ quotaBytes: 2 * 1024 ** 3, quotaMessages: 1000 });
    await act('/admin/accounts/carl@admin.test/admin', { admin: 'on' });
    expect(isAdmin(t.ctx.db, 'carl@admin.test')).toBe(true);
    await act('/admin/accounts/carl@admin.test/disable');
    expect(t.accounts.getAccount('carl@admin.test')?.disabled).toBe(true);
    expect(isAdmin(t.ctx.db, 'carl@admin.test')).toBe(false);
    expect((await act(`/admin/accounts/${ADMIN}/remove`)).flash).toContain('you cannot remove the account you are logged in with');
    expect((await act(`/admin/accounts/${ADMIN}/admin`, { admin: 'off' })).flash).toContain('you cannot take admin rights from');
    expect(t.accounts.getAccount(ADMIN)).toBeDefined();
    expect((await act('/admin/domains/admin.test/quota', { quota: 'lots' })).flash).toBe('invalid quota &quot;lots&quot;: use a size like 500M or 2G, or &quot;none&quot;');
  });

  it('answers a renewal outside acme mode with the reason', async () => {
    expect((await curl('/admin/tls')).body).toContain('self-signed');
    expect((await act('/admin/tls/renew')).flash).toContain('tls renew needs tls.mode = &quot;acme&quot;');
  });

  it('ends the session of a removed account at its next request', async () => {
    await t.addAccount('dora@admin.test', 'dora-password');
    setAdmin(t.ctx.db, 'dora@admin.test', true);
    expect((await login('dora@admin.test', 'dora-password', { jar: 'dora' })).status).toBe(303);
    expect((await curl('/admin/', { jar: 'dora' })).status).toBe(200);
    await t.accounts.removeAccount('dora@admin.test');
    const r = await curl('/admin/', { jar: 'dora' });
    expect(r.status).toBe(303);
    expect(r.location).toBe('/admin/login?next=%2Fadmin%2F');
  });
});

describe('the vacation reply on /account and on the admin account page', () => {
  const VERA = 'vera@admin.test';
  const vera = (pathname: string, form: Record<string, string> = {}) => act(pathname, form, 'vera');

  beforeAll(async () => {
    await t.addAccount(VERA, 'vera-password');
    expect((await login(VERA, 'vera-password', { jar: 'vera', area: 'account' })).location).toBe('/account');
  });

  it("shows the setting and changes it through the CLI's functions, escaped", async () => {
    expect((await curl('/account', { jar: 'vera' })).body).toContain('<th>Automatic reply</th><td>off (never set)</td>');
    const { flash } = await vera('/account/vacation', { enabled: 'on', subject: '<b>Away</b>', message: 'Back & soon.\r\nVera', days: '3' });
    expect(flash).toBe('Vacation reply on: each sender gets one reply per 3 days.');
    expect(getVacation(t.ctx.db, VERA)).toEqual({ enabled: true, subject: '<b>Away</b>', message: 'Back & soon.\nVera', days: 3 });
    const page = (await curl('/account', { jar: 'vera' })).body;
    expect(page).toContain('<pre>Back &amp; soon.\nVera</pre>');
    expect(page).toContain('value="&lt;b&gt;Away&lt;/b&gt;"');
    expect(page).not.toContain('<b>Away</b>');
  });

  it('refuses what `mailserver vacation` refuses, and keeps the setting', async () => {
    expect((await vera('/account/vacation', { enabled: 'on', message: 'x', days: '0' })).flash).toBe('days must be a whole number from 1 to 365');
    expect((await vera('/account/vacation', { enabled: 'on', message: 'x', days: '400' })).flash).toBe('days must be a whole number from 1 to 365');
    expect((await vera('/account/vacation', { enabled: 'on', message: 'x', days: '2.5' })).flash).toBe('invalid days &quot;2.5&quot;: use a whole number of days');
    expect((await vera('/account/vacation', { enabled: 'on', message: ' \r\n ', days: '3' })).flash).toBe('the vacation message must not be empty');
    expect((await vera('/account/vacation', { enabled: 'on', days: '3' })).flash).toBe('the vacation message must not be empty');
    expect(getVacation(t.ctx.db, VERA)).toMatchObject({ enabled: true, message: 'Back & soon.\nVera', days: 3 });
  });

  it('switches off keeping the text when the message is cleared', async () => {
    expect((await vera('/account/vacation', { message: '', subject: '', days: '3' })).flash).toBe('Vacation reply off.');
    expect(getVacation(t.ctx.db, VERA)).toEqual({ enabled: false, message: 'Back & soon.\nVera', days: 3 });
  });

  it("refuses the form without its CSRF token or with another session's", async () => {
    expect((await curl('/account/vacation', { jar: 'vera', form: { enabled: 'on', message: 'x', days: '3' } })).status).toBe(403);
    expect((await curl('/account/vacation', { jar: 'vera', form: { _csrf: await csrf('/admin/domains'), enabled: 'on', message: 'x', days: '3' } })).status).toBe(403);
    expect(getVacation(t.ctx.db, VERA)?.enabled).toBe(false);
  });

  it("lets an admin set it on the account's page, and not a user", async () => {
    expect((await curl(`/admin/accounts/${VERA}`)).body).toContain(`action="/admin/accounts/${encodeURIComponent(VERA)}/vacation"`);
    const { flash } = await act(`/admin/accounts/${VERA}/vacation`, { enabled: 'on', message: 'Vera is away.', days: '1' });
    expect(flash).toBe(`${VERA}: Vacation reply on: each sender gets one reply per 1 day.`);
    expect(getVacation(t.ctx.db, VERA)).toEqual({ enabled: true, subject: undefined, message: 'Vera is away.', days: 1 });
    expect((await act(`/admin/accounts/${VERA}/vacation`, { enabled: 'on', message: 'x', days: 'many' })).flash).toBe('invalid days &quot;many&quot;: use a whole number of days');
    const token = await csrf('/account', 'vera');
    expect((await curl(`/admin/accounts/${VERA}/vacation`, { jar: 'vera', form: { _csrf: token, message: 'x', days: '3' } })).status).toBe(403);
    expect(getVacation(t.ctx.db, VERA)?.enabled).toBe(true);
  });
});
