/**
 * `quickstart`, `dns records`, `dns check`, `doctor`: from nothing to working mail
 * (mox's quickstart is the model: one command, then the DNS records to publish).
 */
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { normalizeDomain, parseAddress } from '../../accounts/address.js';
import { configPath, loadConfig, type Config } from '../../config/index.js';
import { createResolver } from '../../dns/resolver.js';
import { checkRecords, domainRecords, zoneLine, type CheckResult, type DnsRecord } from '../../setup/records.js';
import { describeCertificate, writeFileAtomic } from '../../tls/index.js';
import type { CliContext } from '../context.js';
import { CliError } from '../context.js';
import { generatePassword } from '../password.js';
import { JSON_OPTION, type Command } from '../types.js';
import { addDomainWithDefaults } from './domain.js';

function config(ctx: CliContext): Config {
  return loadConfig({ dataRoot: ctx.dataRoot, env: ctx.io.env });
}

function recordsFor(ctx: CliContext, domain: string, opts: { ipv4?: string; ipv6?: string; hostname?: string }): DnsRecord[] {
  const cfg = config(ctx);
  const d = normalizeDomain(domain);
  const repo = ctx.db().prepare('SELECT 1 FROM domains WHERE name = ?').get(d);
  if (!repo) throw new CliError(`unknown domain ${d}; add it with: mailserver domain add ${d}`);
  return domainRecords(ctx.db(), d, { hostname: opts.hostname ?? cfg.hostname, ipv4: opts.ipv4, ipv6: opts.ipv6 });
}

function printRecords(ctx: CliContext, records: DnsRecord[]): void {
  for (const r of records) {
    ctx.out(`; ${r.why}${r.hint ? ' (fill in)' : ''}`);
    ctx.out(zoneLine(r));
  }
}

const ipOptions = [
  { name: 'ipv4', value: '<address>', help: "this server's public IPv4 address (for the A and PTR records)" },
  { name: 'ipv6', value: '<address>', help: "this server's public IPv6 address (for the AAAA record)" },
];

function ipOpts(opts: Record<string, string | boolean | undefined>): { ipv4?: string; ipv6?: string } {
  const ipv4 = typeof opts.ipv4 === 'string' ? opts.ipv4 : undefined;
  const ipv6 = typeof opts.ipv6 === 'string' ? opts.ipv6 : undefined;
  if (ipv4 && net.isIPv4(ipv4) === false) throw new CliError(`--ipv4: not an IPv4 address: ${ipv4}`);
  if (ipv6 && net.isIPv6(ipv6) === false) throw new CliError(`--ipv6: not an IPv6 address: ${ipv6}`);
  return { ipv4, ipv6 };
}

export function formatCheck(results: CheckResult[]): string[] {
  return results.map((c) => {
    const what = `${c.record.type.padEnd(5)} ${c.record.name}`;
    switch (c.status) {
      case 'ok':
        return `ok       ${what}`;
      case 'missing':
        return `missing  ${what}: publish ${zoneLine(c.record)}${c.found ? ` (found other records: ${c.found})` : ''}`;
      case 'wrong':
        return `wrong    ${what}: found ${c.found}; want ${c.record.value}`;
      case 'error':
        return `error    ${what}: DNS lookup failed (${c.found})`;
      case 'skipped':
        return `skipped  ${what}: ${c.record.why}`;
    }
  });
}

export const setupCommands: Command[] = [
  {
    name: 'quickstart',
    params: '<admin@domain>',
    args: { min: 1, max: 1 },
    options: [{ name: 'hostname', value: '<name>', help: 'the mail host name (default: mail.<domain>)' }, ...ipOptions, { name: 'force', help: 'overwrite an existing config file' }],
    help: `Set up a new server in one step and print the DNS records to create.

Writes config/mailserver.toml (hostname, admin_address), adds the domain with a DKIM key,
creates the admin account with a generated password (printed once), adds postmaster@ and
abuse@ aliases to the admin, and prints every DNS record to publish, each with why. Mail
to postmaster@ a domain added later without a postmaster alias goes to the admin too.

Then start the server with: mailserver serve`,
    async run(ctx, [admin], opts) {
      const a = parseAddress(admin!);
      const hostname = typeof opts.hostname === 'string' ? normalizeDomain(opts.hostname) : `mail.${a.domain}`;
      const ips = ipOpts(opts);
      const file = configPath(ctx.dataRoot);
      if (existsSync(file) && !opts.force) throw new CliError(`${file} exists; use --force to overwrite it`);
      writeFileAtomic(
        file,
        // admin_address: where postmaster mail of domains without their own goes (src/smtp/postmaster.ts).
        `# Written by mailserver quickstart; see config/mailserver.example.toml for every key.\nhostname = "${hostname}"\nadmin_address = "${a.address}"\n`,
        0o640,
      );
      // Check the file we wrote loads, before touching the database.
      config(ctx);
      const repo = await ctx.accounts({ withStore: true });
      if (!repo.listDomains().some((d) => d.name === a.domain)) addDomainWithDefaults(ctx.db(), repo, a.domain);
      const password = generatePassword();
      await repo.addAccount(a.address, password);
      for (const alias of ['postmaster', 'abuse']) {
        const addr = `${alias}@${a.domain}`;
        if (addr !== a.address && !repo.listAliases(a.domain).some((x) => x.address === addr)) repo.addAlias(addr, [a.address]);
      }
      ctx.out(`config written: ${file} (hostname ${hostname})`);
      ctx.out(`domain: ${a.domain}, with a DKIM key`);
      ctx.out(`account: ${a.address}`);
      ctx.out(`password: ${password}`);
      ctx.out('  (printed once; change it with: mailserver account passwd ' + a.address + ')');
      ctx.out(`aliases: postmaster@${a.domain}, abuse@${a.domain} -> ${a.address}`);
      ctx.out('');
      ctx.out('DNS records to create (zone-file format):');
      printRecords(ctx, domainRecords(ctx.db(), a.domain, { hostname, ...ips }));
      ctx.out('');
      ctx.out(`check them with: mailserver dns check ${a.domain}`);
      ctx.out('start the server with: mailserver serve');
    },
  },
  {
    name: 'dns records',
    params: '<domain>',
    args: { min: 1, max: 1 },
    options: [...ipOptions, JSON_OPTION],
    help: `Print the DNS records a domain needs, each with a one-line why.`,
    async run(ctx, [domain], opts) {
      const records = recordsFor(ctx, domain!, ipOpts(opts));
      if (opts.json) return ctx.out(JSON.stringify(records, null, 2));
      printRecords(ctx, records);
    },
  },
  {
    name: 'dns check',
    params: '<domain>',
    args: { min: 1, max: 1 },
    options: [...ipOptions, JSON_OPTION],
    help: `Query DNS for each record the domain needs and report ok, missing or wrong.

Uses the resolver of the configuration (dns.servers, else the system's). Exits with
status 1 when a record is missing or wrong.`,
    async run(ctx, [domain], opts) {
      const cfg = config(ctx);
      const resolver = createResolver({ servers: cfg.dns.servers, timeoutMs: cfg.dns.timeoutMs });
      const results = await checkRecords(resolver, recordsFor(ctx, domain!, ipOpts(opts)));
      if (opts.json) ctx.out(JSON.stringify(results.map((r) => ({ name: r.record.name, type: r.record.type, want: r.record.value, status: r.status, found: r.found })), null, 2));
      else for (const line of formatCheck(results)) ctx.out(line);
      const bad = results.filter((r) => r.status === 'missing' || r.status === 'wrong' || r.status === 'error').length;
      if (bad > 0) throw new CliError(`${bad} DNS record${bad === 1 ? '' : 's'} to fix`);
    },
  },
  {
    name: 'doctor',
    params: '',
    args: { min: 0, max: 0 },
    options: [
      { name: 'host', value: '<address>', help: 'where the server listens (default: the configured listen address, 127.0.0.1 for 0.0.0.0)' },
      { name: 'skip-outbound', help: 'do not try to reach a remote mail server on port 25' },
    ],
    help: `Check a running installation from the inside and print what to fix.

Checks: each configured port accepts connections, the TLS certificate is valid and not
about to expire, the DNS records of every domain, and whether outbound port 25 can
reach the internet (many hosting providers block it; then configure a relay host).`,
    async run(ctx, _args, opts) {
      const cfg = config(ctx);
      const host = typeof opts.host === 'string' ? opts.host : cfg.listenAddress === '0.0.0.0' ? '127.0.0.1' : cfg.listenAddress;
      let problems = 0;
      for (const [name, port] of Object.entries(cfg.ports)) {
        if (port < 0) continue;
        const ok = await canConnect(host, port, 2000);
        ctx.out(`${ok ? 'ok     ' : 'FAIL   '} ${name} port ${port}${ok ? '' : ': nothing listens; is the server running (mailserver serve)?'}`);
        if (!ok) problems++;
      }
      const certFile = path.join(cfg.dataRoot, 'certs', 'cert.pem');
      if (existsSync(certFile)) {
        const info = describeCertificate(readFileSync(certFile, 'utf8'));
        const days = Math.floor((info.notAfter.getTime() - Date.now()) / 86_400_000);
        const selfSigned = info.issuer.includes('mailserver self-signed');
        const status = days < 0 ? 'FAIL   ' : days < 14 || selfSigned ? 'warn   ' : 'ok     ';
        ctx.out(`${status} certificate for ${info.names.join(', ')} from ${info.issuer}, expires in ${days} days${selfSigned ? ' (self-signed: clients will warn; set tls.mode = "acme")' : ''}`);
        if (days < 0) problems++;
        if (!info.names.includes(cfg.hostname)) ctx.out(`warn    certificate does not name the hostname ${cfg.hostname}`);
      }
      const resolver = createResolver({ servers: cfg.dns.servers, timeoutMs: cfg.dns.timeoutMs });
      const domains = ctx.db().prepare('SELECT name FROM domains ORDER BY name').pluck().all() as string[];
      for (const d of domains) {
        const results = await checkRecords(resolver, domainRecords(ctx.db(), d, { hostname: cfg.hostname }));
        for (const line of formatCheck(results)) if (!line.startsWith('ok') && !line.startsWith('skipped')) ctx.out(`dns     ${d}: ${line}`);
        const bad = results.filter((r) => r.status !== 'ok' && r.status !== 'skipped').length;
        ctx.out(`${bad ? 'warn   ' : 'ok     '} DNS records of ${d}${bad ? `: ${bad} to fix (mailserver dns check ${d})` : ''}`);
      }
      if (opts['skip-outbound']) return finish(problems);
      const out25 = await outbound25(resolver);
      ctx.out(out25 ? 'ok      outbound port 25 reaches the internet' : 'warn    outbound port 25 is blocked or DNS is unreachable: remote delivery needs a relay host (queue.relay_host)');
      finish(problems);
    },
  },
];

function finish(problems: number): void {
  if (problems > 0) throw new CliError(`${problems} problem${problems === 1 ? '' : 's'} found`);
}

function canConnect(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** Tries the MX of a large mail provider on port 25 (3 s). */
async function outbound25(resolver: (name: string, type: string) => Promise<any>): Promise<boolean> {
  try {
    const mx = (await resolver('gmail.com', 'MX')) as Array<{ exchange: string; priority: number }>;
    const host = mx.sort((a, b) => a.priority - b.priority)[0]?.exchange;
    return host ? await canConnect(host, 25, 3000) : false;
  } catch {
    return false;
  }
}
