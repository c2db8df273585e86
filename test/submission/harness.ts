/**
 * Two-instance test rig for submission and the outbound queue: server instances on
 * their own loopback addresses (127.0.0.2 = a.test, 127.0.0.3 = b.test) with their own
 * data roots, a real DNS server on loopback serving MX, A, SPF, DMARC and DKIM records,
 * and helpers to read a mailbox from the Maildir on disk.
 *
 * If startServer does not start submission and the queue itself (yet), the rig starts
 * them with the same functions server.ts is meant to call (startSubmission, startQueue).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import nodemailer from 'nodemailer';
import type { Config } from '../../src/config/index.js';
import { dnsRecordName, dnsRecordValue, ensureDomainKey, splitTxt } from '../../src/dkim/keys.js';
import { startQueue, type QueueRunner } from '../../src/queue/index.js';
import { report } from '../../src/smtp/report.js';
import { startSubmission } from '../../src/smtp/submission.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { startTestServer, type TestServer } from '../helpers/servers.js';

export const PASSWORD = 'correct horse battery';

export interface Instance {
  t: TestServer;
  host: string;
  domain: string;
  queue: QueueRunner;
  submissionPort: number;
  submissionsPort: number;
  smtpPort: number;
  close(): Promise<void>;
}

export interface InstanceOptions {
  host: string;
  domain: string;
  dns: TestDnsServer;
  dataRoot?: string;
  keepData?: boolean;
  /** Port of remote MX hosts (the other instance's port 25 listener). */
  mxPort?: number;
  smtpPort?: number;
  accounts?: string[];
  configure?: (c: Config) => void;
}

/** Publishes the records of a domain served by an instance on `host`. */
export function publishDomain(dns: TestDnsServer, domain: string, host: string): void {
  dns.set(domain, 'MX', [{ priority: 10, exchange: `mx.${domain}` }]);
  dns.set(`mx.${domain}`, 'A', [host]);
  dns.set(domain, 'TXT', [`v=spf1 ip4:${host} -all`]);
  dns.set(`_dmarc.${domain}`, 'TXT', ['v=DMARC1; p=reject; adkim=s; aspf=s']);
}

export async function startInstance(o: InstanceOptions): Promise<Instance> {
  const t = await startTestServer({
    host: o.host,
    dataRoot: o.dataRoot,
    keepData: o.keepData,
    configure(c) {
      c.hostname = `mx.${o.domain}`;
      c.dns.servers = o.dns.servers;
      c.dns.timeoutMs = 2000;
      if (o.smtpPort !== undefined) c.ports.smtp = o.smtpPort;
      c.queue.mxPort = o.mxPort ?? 25;
      c.queue.localAddress = o.host; // the other side sees this instance's own address (SPF)
      c.queue.retryBaseSeconds = 1;
      c.queue.retryMaxSeconds = 2;
      c.queue.lifetimeSeconds = 3600;
      c.queue.connectTimeoutMs = 2000;
      o.configure?.(c);
    },
  });
  const ctx = t.ctx;
  const extra: Array<() => Promise<void>> = [];
  let queue = ctx.queue as QueueRunner | undefined;
  if (!queue || typeof queue.kick !== 'function') {
    queue = startQueue(ctx, { pollMs: 500, report });
    ctx.queue = queue;
    const q = queue;
    extra.push(() => q.stop(1000));
  }
  for (const [name, implicitTls] of [['submission', false], ['submissions', true]] as const) {
    if (t.server.listeners.has(name)) continue;
    const l = await startSubmission(ctx, { port: 0, host: o.host, implicitTls });
    t.server.listeners.set(name, l);
  }
  if (!t.accounts.listDomains().some((d) => d.name === o.domain)) t.accounts.addDomain(o.domain);
  const key = ensureDomainKey(ctx.db, o.domain);
  o.dns.set(dnsRecordName(key), 'TXT', [splitTxt(dnsRecordValue(key))]);
  for (const a of o.accounts ?? []) {
    if (!t.accounts.getAccount(a)) await t.addAccount(a, PASSWORD);
  }
  return {
    t,
    host: o.host,
    domain: o.domain,
    queue,
    submissionPort: t.port('submission'),
    submissionsPort: t.port('submissions'),
    smtpPort: t.port('smtp'),
    async close() {
      for (const f of extra) await f();
      await t.close();
    },
  };
}

export interface Pair {
  dns: TestDnsServer;
  /** a.test on 127.0.0.2; its queue delivers to B's port 25. */
  a: Instance;
  /** b.test on 127.0.0.3. */
  b: Instance;
  close(): Promise<void>;
}

/** The usual rig: a DNS server, B started first, then A with B as the MX of b.test. */
export async function startPair(o: { aAccounts: string[]; bAccounts: string[]; configureB?: (c: Config) => void }): Promise<Pair> {
  const dns = await startDnsServer({});
  publishDomain(dns, 'a.test', '127.0.0.2');
  publishDomain(dns, 'b.test', '127.0.0.3');
  const b = await startInstance({ host: '127.0.0.3', domain: 'b.test', dns, accounts: o.bAccounts, keepData: true, configure: o.configureB });
  const a = await startInstance({ host: '127.0.0.2', domain: 'a.test', dns, accounts: o.aAccounts, mxPort: b.smtpPort });
  return {
    dns,
    a,
    b,
    async close() {
      await a.close();
      await b.close();
      await rm(b.t.dataRoot, { recursive: true, force: true });
      await dns.close();
    },
  };
}

/** A nodemailer transport to an instance's submission port (STARTTLS, or implicit TLS). */
export function submitter(i: Instance, user: string, opts: { implicit?: boolean; pass?: string } = {}) {
  return nodemailer.createTransport({
    host: i.host,
    port: opts.implicit ? i.submissionsPort : i.submissionPort,
    secure: Boolean(opts.implicit),
    requireTLS: !opts.implicit,
    tls: { rejectUnauthorized: false },
    auth: { user, pass: opts.pass ?? PASSWORD },
  });
}

/** Raw messages in an account's mailbox (INBOX by default), read from the Maildir files. */
export function mailbox(i: Instance, address: string, folder = ''): string[] {
  const [local, domain] = address.split('@') as [string, string];
  const base = path.join(i.t.dataRoot, 'maildir', domain, local, folder);
  const out: string[] = [];
  for (const sub of ['new', 'cur']) {
    const dir = path.join(base, sub);
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir).sort()) out.push(readFileSync(path.join(dir, f), 'utf8'));
  }
  return out;
}

/** Waits (bounded) until `fn` returns a value; throws with `what` on timeout. */
export async function waitFor<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
