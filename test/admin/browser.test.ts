// The web admin in a real browser (Debian's chromium, headless, through puppeteer-core)
// against the whole server: an admin made with the CLI (`account admin ... on`) logs in
// after one wrong password (shown, and counted by the login penalty), adds a domain, an
// account and an alias, and a message sent over SMTP to the alias is in the account's
// INBOX over IMAP. A form without its CSRF token is refused; a non-admin account gets
// /account but not /admin, changes her password there and turns her vacation reply on:
// two messages from outside on port 25 get one reply, queued for the sender. One
// browser for the file.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listMessages } from '../../src/queue/repo.js';
import { getVacation } from '../../src/sieve/settings.js';
import { run } from '../cli/run.js';
import { chromiumMissing, launchBrowser, type TestBrowser } from '../helpers/browser.js';
import { ImapTestClient } from '../helpers/imap-client.js';
import { startTestServer, type TestServer } from '../helpers/servers.js';
import { waitFor } from '../submission/harness.js';

const ADMIN = 'root@admin.test';
const ADMIN_PW = 'root-password-1';

let t: TestServer;
let b: TestBrowser;
let page: Page;
let base: string;

const text = (sel: string) => page.$eval(sel, (el) => el.textContent ?? '');
/** Fills the form that posts to `action` and submits it; resolves to the final response's status. */
async function submit(action: string, fields: Record<string, string>): Promise<number> {
  // One round trip fills the form (typing key by key costs seconds on a busy machine).
  const form = `form[action="${action}"]`;
  await page.$eval(form, (f, values) => {
    for (const [name, value] of Object.entries(values)) ((f as HTMLFormElement).elements.namedItem(name) as HTMLInputElement).value = value;
  }, fields);
  const [res] = await Promise.all([page.waitForNavigation(), page.click(`form[action="${action}"] button`)]);
  return res?.status() ?? 0;
}
async function login(area: 'admin' | 'account', user: string, password: string): Promise<number> {
  await page.goto(`${base}/${area}/login`);
  return submit(`/${area}/login`, { username: user, password });
}

/** The whole server with the web admin on, an admin made with the CLI, and one browser page. */
async function setUp(): Promise<void> {
  t = await startTestServer({
    configure: (c) => {
      c.admin.enabled = true;
      c.checks.enabled = false;
      // Loopback is exempt from the login penalty by default; here it is the client to count.
      c.auth.penaltyExempt = [];
      c.auth.penaltyBaseMs = 50;
      c.auth.penaltyMaxMs = 200;
    },
  });
  await t.addAccount(ADMIN, ADMIN_PW);
  const cli = await run(['--data', t.dataRoot, 'account', 'admin', ADMIN, 'on']);
  expect(cli.stdout).toBe(`${ADMIN}: admin on\n`);
  b = await launchBrowser();
  page = await b.browser.newPage();
  base = `https://127.0.0.1:${t.port('https')}`;
}

async function tearDown(): Promise<void> {
  await b?.close();
  await t?.close();
}

// Chromium's start is the slow part on a busy machine: more room than the default 30 s.
describe.skipIf(Boolean(chromiumMissing))('the web admin in a real browser', { timeout: 60_000 }, () => {
  beforeAll(setUp, 60_000);
  afterAll(tearDown);

  it('shows an error for a wrong password, and the login penalty counts it', async () => {
    await page.goto(`${base}/admin/`);
    expect(new URL(page.url()).pathname).toBe('/admin/login');
    expect(await submit('/admin/login', { username: ADMIN, password: 'not-the-password' })).toBe(401);
    expect(await text('.flash.error')).toBe('Wrong mail address or password.');
    expect(t.ctx.loginThrottle!.failuresOf('127.0.0.1')).toBe(1);
  });

  it('logs an admin in with a Secure, HttpOnly, SameSite=Strict session cookie', async () => {
    expect(await login('admin', ADMIN, ADMIN_PW)).toBe(200);
    expect(await text('h1')).toBe('Overview');
    expect(t.ctx.loginThrottle!.failuresOf('127.0.0.1')).toBe(0);
    const session = (await page.cookies()).find((c) => c.name === '__Host-mailserver');
    expect(session).toMatchObject({ secure: true, httpOnly: true, sameSite: 'Strict', path: '/' });
  });

  it('adds a domain, an account and an alias that then receive mail', async () => {
    await page.goto(`${base}/admin/domains`);
    expect(await submit('/admin/domains', { domain: 'shop.test' })).toBe(200);
    expect(await text('h1')).toBe('Domain shop.test');
    expect(await page.$$eval('table td code', (cells) => cells.map((c) => c.textContent))).toContain('shop.test');

    await page.goto(`${base}/admin/accounts`);
    expect(await submit('/admin/accounts', { address: 'anna@shop.test', password: 'anna-password-1', quota: '1G' })).toBe(200);
    expect(await text('.flash.ok')).toBe('Added anna@shop.test.');

    await page.goto(`${base}/admin/aliases`);
    expect(await submit('/admin/aliases', { address: 'sales@shop.test', targets: 'anna@shop.test' })).toBe(200);
    expect(await text('.flash.ok')).toBe('sales@shop.test → anna@shop.test');

    const mx = nodemailer.createTransport({ host: '127.0.0.1', port: t.port('smtp'), secure: false, ignoreTLS: true });
    await mx.sendMail({ from: 'customer@example.net', to: 'sales@shop.test', subject: 'An order', text: 'Two of those, please.' });
    mx.close();
    const imap = await ImapTestClient.connect(t.port('imap'));
    await imap.login('anna@shop.test', 'anna-password-1');
    const { untagged } = await imap.transact('ok', 'SELECT INBOX');
    expect(untagged.map((r) => r.raw)).toContain('* 1 EXISTS');
    const fetched = await imap.transact('ok', 'FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]');
    expect(fetched.untagged[0]!.raw).toContain('Subject: An order');
    await imap.close();

    await page.goto(`${base}/admin/events`);
    expect(await page.$$eval('tbody tr', (rows) => rows.map((r) => r.textContent ?? ''))).toEqual(
      expect.arrayContaining([expect.stringMatching(/received.*customer@example\.net.*sales@shop\.test/)]),
    );
  });

  it('refuses a form sent without its CSRF token', async () => {
    await page.goto(`${base}/admin/domains`);
    await page.$eval('form[action="/admin/domains"] input[name="_csrf"]', (el) => el.remove());
    expect(await submit('/admin/domains', { domain: 'evil.test' })).toBe(403);
    expect(await text('h1')).toBe('Refused');
    expect(t.accounts.getDomain('evil.test')).toBeUndefined();
  });

  it('gives a non-admin account its own page, not /admin', async () => {
    await page.goto(`${base}/account`);
    await Promise.all([page.waitForNavigation(), page.click('form[action="/account/logout"] button')]);
    expect(new URL(page.url()).pathname).toBe('/account/login');
    expect(await login('admin', 'anna@shop.test', 'anna-password-1')).toBe(200);
    expect(new URL(page.url()).pathname).toBe('/account');
    expect(await text('.flash.error')).toBe('anna@shop.test is not an administrator.');
    const res = await page.goto(`${base}/admin/domains`);
    expect(res?.status()).toBe(403);
    expect(await text('h1')).toBe('Not an administrator');
    // Her own password she may change; IMAP takes the new one.
    await page.goto(`${base}/account`);
    expect(await submit('/account/password', { current: 'anna-password-1', password: 'anna-password-2', repeat: 'anna-password-2' })).toBe(200);
    expect(await text('.flash.ok')).toBe('Password changed.');
    const imap = await ImapTestClient.connect(t.port('imap'));
    await imap.login('anna@shop.test', 'anna-password-2');
    await imap.close();
  });

  it('turns her vacation reply on at /account: two messages from outside get one reply', async () => {
    await page.goto(`${base}/account`);
    expect(await text('#vacation td')).toBe('off (never set)');
    await page.click('form[action="/account/vacation"] input[name="enabled"]');
    expect(await submit('/account/vacation', { subject: 'Away until Monday', message: 'I am hiking.\nBack on Monday.', days: '5' })).toBe(200);
    expect(await text('.flash.ok')).toBe('Vacation reply on: each sender gets one reply per 5 days.');
    expect(await text('#vacation td')).toBe('on: each sender gets one reply per 5 days');
    // Stored as `mailserver vacation anna@shop.test show` reads it (the browser sent CRLF).
    expect(getVacation(t.ctx.db, 'anna@shop.test')).toEqual({ enabled: true, subject: 'Away until Monday', message: 'I am hiking.\nBack on Monday.', days: 5 });

    const mx = nodemailer.createTransport({ host: '127.0.0.1', port: t.port('smtp'), secure: false, ignoreTLS: true });
    for (const subject of ['Trip', 'Trip (again)']) await mx.sendMail({ from: 'walker@example.net', to: 'anna@shop.test', subject, text: 'Coming along?' });
    mx.close();
    const replies = () => listMessages(t.ctx.db).filter((m) => m.mailFrom === '' && m.recipients.some((r) => r.rcpt === 'walker@example.net'));
    const [reply] = await waitFor('the vacation reply in the queue', () => replies().length > 0 && replies());
    const data = readFileSync(path.join(t.dataRoot, reply!.spoolPath), 'utf8');
    expect(data).toMatch(/^Subject: Away until Monday\r$/m);
    expect(data).toMatch(/^Auto-Submitted: auto-replied/m);
    expect(data).toContain('I am hiking.\r\nBack on Monday.');
    // Both messages were delivered (each 250 came after its delivery), the second unanswered.
    expect(replies()).toHaveLength(1);
  });

  it('refuses the vacation form without its CSRF token', async () => {
    await page.goto(`${base}/account`);
    await page.$eval('form[action="/account/vacation"] input[name="_csrf"]', (el) => el.remove());
    expect(await submit('/account/vacation', { message: 'changed', days: '9' })).toBe(403);
    expect(await text('h1')).toBe('Refused');
    expect(getVacation(t.ctx.db, 'anna@shop.test')).toMatchObject({ enabled: true, days: 5 });
  });
});
