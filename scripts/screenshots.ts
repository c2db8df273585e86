/**
 * `npm run screenshots`: pictures of every web admin page for docs/admin/ and the
 * README. Starts a whole server in-process on loopback (temp data root, a DNS server
 * on a loopback port with some of the records published), fills it with a little
 * life (domains, accounts, aliases, mail received and refused, a message waiting in
 * the queue), logs in with Debian's chromium (puppeteer-core) and saves one PNG per
 * page. Needs the `chromium` package; not part of the test suite.
 */
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import nodemailer from 'nodemailer';
import type { Page } from 'puppeteer-core';
import { setAdmin } from '../src/admin/flag.js';
import type { AccountsRepo } from '../src/accounts/repo.js';
import { addDomainWithDefaults } from '../src/cli/commands/domain.js';
import type { Db } from '../src/db/index.js';
import { dnsRecordName, dnsRecordValue, listKeys } from '../src/dkim/keys.js';
import { createLogger } from '../src/log.js';
import { startServer } from '../src/server.js';
import { setVacation } from '../src/sieve/settings.js';
import { chromiumMissing, launchBrowser } from '../test/helpers/browser.js';
import { startDnsServer } from '../test/helpers/dns-server.js';
import { makeTestConfig } from '../test/helpers/servers.js';

const OUT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'admin');
const HOST = 'mail.example.org';

/** Every page after the login, in the order of the docs: file name and path. */
const PAGES: Array<[string, string]> = [
  ['overview', '/admin/'],
  ['domains', '/admin/domains'],
  ['domain', '/admin/domains/example.org'],
  ['accounts', '/admin/accounts'],
  ['account-detail', '/admin/accounts/anna@example.org'],
  ['aliases', '/admin/aliases'],
  ['dkim', '/admin/dkim'],
  ['queue', '/admin/queue'],
  ['queue-message', '/admin/queue/1'],
  ['tls', '/admin/tls'],
  ['events', '/admin/events'],
  ['disk', '/admin/disk'],
  ['account', '/account'],
];

async function seed(db: Db, repo: AccountsRepo, ports: { smtp: number; submission: number }): Promise<void> {
  for (const d of ['example.org', 'example.net']) addDomainWithDefaults(db, repo, d);
  await repo.addAccount('admin@example.org', 'admin-password', {});
  setAdmin(db, 'admin@example.org', true);
  await repo.addAccount('anna@example.org', 'anna-password', { quotaBytes: 2 * 1024 ** 3 });
  await repo.addAccount('bob@example.org', 'bob-password', { quotaBytes: 512 * 1024 ** 2, quotaMessages: 10_000 });
  await repo.addAccount('carla@example.net', 'carla-password', {});
  repo.setDisabled('bob@example.org', true);
  repo.addAlias('postmaster@example.org', ['admin@example.org']);
  repo.addAlias('sales@example.org', ['anna@example.org', 'bob@example.org']);
  repo.addAlias('@example.net', ['carla@example.net']);
  repo.addAlias('team@example.net', ['carla@example.net', 'friend@elsewhere.example']);
  const mx = nodemailer.createTransport({ host: '127.0.0.1', port: ports.smtp, secure: false, ignoreTLS: true });
  const texts = ['Your order has shipped', 'Minutes of the meeting', 'Invoice 2024-117', 'Re: holiday plans'];
  for (const [i, subject] of texts.entries()) {
    const to = ['anna@example.org', 'sales@example.org', 'carla@example.net', 'anything@example.net'][i]!;
    await mx.sendMail({ from: `sender${i}@partner.example`, to, subject, text: `${subject}\n\n${'Lorem ipsum dolor sit amet. '.repeat(200 * (i + 1))}` });
  }
  for (const to of ['nobody@example.org', 'someone@not-ours.example']) {
    await mx.sendMail({ from: 'spammer@bulk.example', to, subject: 'Offer', text: 'x' }).catch(() => undefined);
  }
  mx.close();
  const sub = nodemailer.createTransport({ host: '127.0.0.1', port: ports.submission, secure: false, ignoreTLS: true, auth: { user: 'anna@example.org', pass: 'anna-password' } });
  await sub.sendMail({ from: 'anna@example.org', to: 'partner@partner.example', subject: 'Quote', text: 'Please find the quote attached.' });
  sub.close();
}

async function shoot(page: Page, base: string, name: string, pathname: string): Promise<void> {
  await page.goto(base + pathname);
  await page.screenshot({ path: path.join(OUT, `${name}.png`), fullPage: true });
  console.log(`docs/admin/${name}.png  ${pathname}`);
}

async function main(): Promise<void> {
  if (chromiumMissing) throw new Error(chromiumMissing);
  const dataRoot = await mkdtemp(path.join(tmpdir(), 'mailserver-screenshots-'));
  const dns = await startDnsServer({});
  const config = await makeTestConfig(dataRoot);
  config.hostname = HOST;
  config.admin.enabled = true;
  config.checks.enabled = false;
  config.dns.servers = dns.servers;
  config.queue.mxPort = 9; // nothing listens: the outbound message stays queued
  config.queue.retryBaseSeconds = 3600;
  const server = await startServer({ dataRoot, config, log: createLogger('silent') });
  const browser = await launchBrowser();
  try {
    const port = (n: string) => server.listeners.get(n)!.port;
    // The partner's MX resolves, but nothing answers on queue.mx_port: the message waits.
    dns.set('partner.example', 'MX', [{ priority: 10, exchange: 'mx.partner.example' }]);
    dns.set('mx.partner.example', 'A', ['127.0.0.1']);
    await seed(server.ctx.db, server.ctx.accounts as AccountsRepo, { smtp: port('smtp'), submission: port('submission') });
    // After the mail: the /account page shows a vacation reply that is on.
    setVacation(server.ctx.db, 'admin@example.org', { enabled: true, subject: 'Away until 14 January', message: 'I am away until 14 January and read my mail after that.\nFor anything urgent, write to sales@example.org.', days: 7 });
    // Some of example.org's records are published, some not: the domain page shows both.
    dns.set('example.org', 'MX', [{ priority: 10, exchange: HOST }]);
    dns.set('example.org', 'TXT', ['v=spf1 mx -all']);
    dns.set('_dmarc.example.org', 'TXT', ['v=DMARC1; p=none']);
    dns.set(HOST, 'A', ['127.0.0.1']);
    for (const k of listKeys(server.ctx.db, 'example.org')) dns.set(dnsRecordName(k), 'TXT', [dnsRecordValue(k)]);
    dns.set('autoconfig.example.org', 'CNAME', ['somewhere-else.example']);
    await new Promise((r) => setTimeout(r, 1500)); // the queue's first attempt
    await mkdir(OUT, { recursive: true });
    const page = await browser.browser.newPage();
    await page.setViewport({ width: 1280, height: 800 });
    const base = `https://127.0.0.1:${port('https')}`;
    await page.goto(`${base}/admin/login`);
    await page.screenshot({ path: path.join(OUT, 'login.png') });
    console.log('docs/admin/login.png  /admin/login');
    await page.$eval('input[name=username]', (el) => ((el as HTMLInputElement).value = 'admin@example.org'));
    await page.$eval('input[name=password]', (el) => ((el as HTMLInputElement).value = 'admin-password'));
    await Promise.all([page.waitForNavigation(), page.click('form button')]);
    for (const [name, pathname] of PAGES) await shoot(page, base, name, pathname);
  } finally {
    await browser.close();
    await server.close(0);
    await dns.close();
    await rm(dataRoot, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
