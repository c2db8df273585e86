// Backup of a running server under SMTP load, restore to a new data root, and a server
// started on it: every message acknowledged (250) before the backup began is there,
// once, readable over IMAP; the index agrees with the files (`verify`); logins work.
// All real processes: `mailserver serve`, `mailserver backup`, `mailserver restore`,
// `mailserver verify`; nodemailer for the 20 SMTP sessions, imapflow to read.
import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import { afterAll, expect, it } from 'vitest';
import { run } from '../cli/run.js';
import { freePort, killHard, makeDataRoot, PASSWORD, serve, type Serving } from './harness.js';

const ACCOUNTS = ['ann@example.test', 'bob@example.test', 'cyd@example.test', 'dan@example.test'];
const SESSIONS = 20;

interface Sent {
  id: string;
  rcpt: string;
  ackedAt: number;
}

const cleanups: Array<() => void> = [];
let servers: Serving[] = [];
afterAll(() => {
  for (const s of servers) killHard(s);
  for (const c of cleanups) c();
});

/** One SMTP session (a pooled transport with one connection) sending until `stop()` says so. */
async function session(port: number, n: number, sent: Sent[], stop: () => boolean): Promise<void> {
  const t = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, pool: true, maxConnections: 1, maxMessages: Infinity });
  try {
    for (let i = 0; !stop(); i++) {
      const rcpt = ACCOUNTS[(n + i) % ACCOUNTS.length]!;
      const id = `load-${n}-${i}`;
      // Sizes vary: a line, a few KiB, and now and then 200 KiB.
      const body = `message ${id}\r\n` + 'x'.repeat(i % 10 === 9 ? 200_000 : (i % 4) * 2000);
      const info = await t.sendMail({ from: 'load@remote.test', to: rcpt, subject: id, messageId: `<${id}@remote.test>`, text: body });
      if (!/^250 /.test(info.response)) throw new Error(`not accepted: ${info.response}`);
      sent.push({ id, rcpt, ackedAt: Date.now() });
    }
  } finally {
    t.close();
  }
}

async function subjectsOf(port: number, user: string): Promise<string[]> {
  const c = new ImapFlow({ host: '127.0.0.1', port, secure: false, auth: { user, pass: PASSWORD }, tls: { rejectUnauthorized: false }, logger: false });
  await c.connect();
  try {
    await c.mailboxOpen('INBOX');
    const out: string[] = [];
    for await (const m of c.fetch('1:*', { envelope: true })) out.push(m.envelope?.subject ?? '');
    // Read one message whole: the file is there, not only its index row.
    const one = await c.fetchOne('*', { source: true });
    if (one && one.source && !one.source.includes('message load-')) throw new Error('message body missing');
    return out;
  } finally {
    await c.logout();
  }
}

const T0 = Date.now();
const mark = (what: string) => process.env.BACKUP_TEST_TIMES && console.log(`${((Date.now() - T0) / 1000).toFixed(1)} s: ${what}`);

it('backs up a server taking mail from 20 SMTP sessions; the restored copy has every message acknowledged before', { timeout: 180_000 }, async () => {
  const root = await makeDataRoot(ACCOUNTS);
  cleanups.push(root.cleanup);
  mark('data root made');
  const a = await serve(root.dir);
  mark('server started');
  servers.push(a);
  const sent: Sent[] = [];
  let stopping = false;
  const load = Promise.all(Array.from({ length: SESSIONS }, (_, n) => session(a.ports.smtp!, n, sent, () => stopping)));

  // Let the load reach full speed, then back up while it goes on.
  while (sent.length < 60) await new Promise((r) => setTimeout(r, 20));
  const backupDir = path.join(os.tmpdir(), `mailserver-ops-backup-${process.pid}-${Date.now()}`);
  cleanups.push(() => rmSync(backupDir, { recursive: true, force: true }));
  mark(`${sent.length} messages sent`);
  const began = Date.now();
  const before = new Set(sent.filter((s) => s.ackedAt <= began).map((s) => s.id));
  const b = await run(['--data', root.dir, 'backup', backupDir]);
  const ended = Date.now();
  expect(b.code, b.stderr).toBe(0);
  stopping = true;
  await load;
  mark('backup done, load stopped');
  const during = sent.filter((s) => s.ackedAt > began && s.ackedAt <= ended);
  expect(before.size).toBeGreaterThanOrEqual(60);
  expect(during.length, 'the load went on during the backup').toBeGreaterThan(0);
  expect(await a.stop()).toBe(0);
  servers = [];

  // Restore into a new data root, and start a server there on other ports.
  const restored = path.join(os.tmpdir(), `mailserver-ops-restored-${process.pid}-${Date.now()}`);
  cleanups.push(() => rmSync(restored, { recursive: true, force: true }));
  const r = await run(['--data', restored, 'restore', backupDir]);
  expect(r.code, r.stdout + r.stderr).toBe(0);
  expect(r.stdout).toContain('no problems');
  mark('restored');
  const s = await serve(restored, { MAILSERVER_PORT_SMTP: String(await freePort()), MAILSERVER_PORT_IMAP: String(await freePort()) });
  servers.push(s);

  const found = new Map<string, number>();
  for (const user of ACCOUNTS) {
    for (const subject of await subjectsOf(s.ports.imap!, user)) found.set(subject, (found.get(subject) ?? 0) + 1);
  }
  mark('read over IMAP');
  const lost = [...before].filter((id) => !found.has(id));
  expect(lost, 'acknowledged before the backup began, missing after restore').toEqual([]);
  expect([...found].filter(([, n]) => n > 1), 'no message twice').toEqual([]);
  const inBackup = during.filter((d) => found.has(d.id)).length;
  // Nothing acknowledged after the backup ended can be in it.
  const after = sent.filter((x) => x.ackedAt > ended + 1000).filter((x) => found.has(x.id));
  expect(after).toEqual([]);

  // A wrong password is refused on the restored server; the right one worked above.
  const bad = new ImapFlow({ host: '127.0.0.1', port: s.ports.imap!, secure: false, auth: { user: ACCOUNTS[0]!, pass: 'wrong' }, tls: { rejectUnauthorized: false }, logger: false });
  await expect(bad.connect()).rejects.toThrow();

  // The index agrees with the files, with the restored server running.
  const v = await run(['--data', restored, 'verify']);
  expect(v.stdout + v.stderr).toContain('no problems');
  expect(v.code).toBe(0);
  console.log(
    `backup under load: ${before.size} messages acknowledged before it began, backup took ${ended - began} ms (${b.stdout.trim().split('\n').pop()}), ` +
      `${during.length} acknowledged while it ran (${inBackup} of them in the backup), restore: ${r.stdout.trim().split('\n').pop()}`,
  );
  expect(await s.stop()).toBe(0);
  servers = [];
});
