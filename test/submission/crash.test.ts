// Crash: the server runs as a child process (`node dist/cli/main.js serve`, config file
// in its data root), accepts a message for a remote recipient whose MX is down, and is
// killed with SIGKILL right after the 250. Restarted, it delivers the message once the
// destination is up: "accepted means durable" (spool file + queue rows before the 250).
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { AccountsRepo } from '../../src/accounts/repo.js';
import { dbPath, openDb } from '../../src/db/index.js';
import { dnsRecordName, dnsRecordValue, ensureDomainKey, splitTxt } from '../../src/dkim/keys.js';
import { listMessages } from '../../src/queue/repo.js';
import { BIN, freePort, killed, startChildServer, writeChildConfig } from '../helpers/child-server.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { PASSWORD, mailbox, publishDomain, startInstance, waitFor, type Instance } from './harness.js';
import nodemailer from 'nodemailer';

/**
 * Waits for one step (a cold start of the child, the delivery after the restart) with a
 * budget inside the test's, so a slow step fails naming what it waited for, with the
 * child's output as it is then, not with the test's bare timeout.
 */
async function step(what: string, c: { output: () => string }, done: () => boolean): Promise<void> {
  await waitFor(what, done, 45_000).catch((e: Error) => {
    throw new Error(`${e.message}; child output:\n${c.output()}`);
  });
}

let dns: TestDnsServer;
let dataRoot: string;
let b: Instance | undefined;
let child: ChildProcess | undefined;

beforeAll(async () => {
  dns = await startDnsServer({});
  publishDomain(dns, 'a.test', '127.0.0.2');
  publishDomain(dns, 'b.test', '127.0.0.3');
  dataRoot = await mkdtemp(path.join(tmpdir(), 'mailserver-crash-'));
});

afterAll(async () => {
  if (child) await killed(child, 'SIGKILL');
  await b?.close();
  await dns?.close();
  await rm(dataRoot, { recursive: true, force: true });
});

// Two starts of the built server (each loads its modules and opens its listeners): on a
// loaded 2-core machine that alone took 25-30 s, so the default 30 s was a coin toss.
it('delivers a message accepted just before SIGKILL after the restart', { timeout: 120_000 }, async () => {
  expect(existsSync(BIN), 'build first: npm run build').toBe(true);
  const bPort = await freePort('127.0.0.3'); // B is down for now: nothing listens here
  const subPort = await freePort('127.0.0.2');
  const smtpPort = await freePort('127.0.0.2');

  // The data root as `mailserver domain add` / `account add` would leave it.
  const db = openDb(dbPath(dataRoot));
  const repo = new AccountsRepo(db);
  repo.addDomain('a.test');
  await repo.addAccount('alice@a.test', PASSWORD);
  const key = ensureDomainKey(db, 'a.test');
  dns.set(dnsRecordName(key), 'TXT', [splitTxt(dnsRecordValue(key))]);
  db.close();
  await writeChildConfig(dataRoot, {
    hostname: 'mx.a.test',
    address: '127.0.0.2',
    ports: { smtp: smtpPort, submission: subPort },
    extra: [
      '[dns]',
      `servers = ["${dns.servers[0]}"]`,
      'timeout_ms = 2000',
      '[queue]',
      `mx_port = ${bPort}`,
      'local_address = "127.0.0.2"',
      'retry_base_seconds = 1',
      'retry_max_seconds = 1',
      'connect_timeout_ms = 2000',
    ].join('\n'),
  });

  const first = startChildServer(dataRoot);
  child = first.proc;
  await step('the child server to listen', first, () => first.output().includes('listening: submission'));

  const transport = nodemailer.createTransport({ host: '127.0.0.2', port: subPort, secure: false, ignoreTLS: true, auth: { user: 'alice@a.test', pass: PASSWORD } });
  const info = await transport.sendMail({ from: 'alice@a.test', to: 'bob@b.test', subject: 'survives SIGKILL', text: 'x' });
  expect(info.response).toMatch(/^250 /);
  await killed(first.proc, 'SIGKILL'); // right after the 250, no chance to clean up
  expect(first.proc.signalCode).toBe('SIGKILL');

  // The queue rows are in the database the killed process left behind.
  const db2 = openDb(dbPath(dataRoot));
  const queued = listMessages(db2);
  db2.close();
  expect(queued.map((m) => m.recipients.map((r) => `${r.rcpt}:${r.state}`))).toEqual([['bob@b.test:queued']]);

  // B comes up, then A restarts and resumes its queue.
  b = await startInstance({ host: '127.0.0.3', domain: 'b.test', dns, accounts: ['bob@b.test'], smtpPort: bPort });
  const second = startChildServer(dataRoot);
  child = second.proc;
  await step('bob to receive the message', second, () => mailbox(b!, 'bob@b.test').some((m) => m.includes('Subject: survives SIGKILL')));
  expect(mailbox(b, 'bob@b.test').filter((m) => m.includes('Subject: survives SIGKILL'))).toHaveLength(1);
  await killed(second.proc, 'SIGTERM');
  expect(second.proc.exitCode).toBe(0);
});
