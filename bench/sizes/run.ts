/**
 * bench/sizes: time and memory of one message of each size on each path (issue 12).
 *
 *   npm run build && npx tsx bench/sizes/run.ts        (BENCH_ONLY=sizes npm run bench)
 *   BENCH_SIZES=50M,5M  BENCH_PATHS=25,587             (subsets; defaults: every size, every path)
 *
 * Two built servers (`mailserver serve`, child processes, fsync on, data roots in /tmp):
 * A (a.test) with port 25 (inbound checks on), 587, 465, IMAP and POP3; B (b.test), the
 * remote MX of A's queue, found through MX records on a loopback DNS server in this
 * process. Clients run in this process (nodemailer, raw IMAP/POP3 sockets), so the
 * servers' memory is theirs alone.
 *
 * For each path and size: the time from the first byte sent to the reply (250, the
 * tagged OK, the end of the RETR), and to the arrival on B for the remote paths; and
 * the server's peak RSS above its RSS just before (VmHWM after resetting it through
 * /proc/<pid>/clear_refs; without that right, RSS sampled every 5 ms). The target for
 * the 50 MB message is under 1× its size above idle on every path; the run exits 1
 * when a path is over it.
 *
 * Then swaks (when installed) sends a 700 KB attachment on 25 and on 587, three times
 * each; printed: the time from the end of the data to the 250, and swaks's whole run.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startDnsServer } from '../../test/helpers/dns-server.js';
import { hasPeer, peerPath } from '../../test/helpers/peers.js';
import { buildMessage, KiB, MAX, MiB, sendRaw, SIZES, smtpTransport, storedMessage } from '../../test/sizes/messages.js';
import { ImapSession, WireReader, type ImapAnswer } from '../../test/sizes/wire.js';
// @ts-expect-error plain ESM helper without types
import { freePort, procMem, startServer } from '../lib.mjs';

type Server = { data: string; pid: number; cliRun(...a: string[]): string; stop(o?: { keep?: boolean }): Promise<void> };
const PASS = 'bench-password';

const sizeArg = (s: string) => (/^(\d+)([KM])$/i.exec(s) ? Number(RegExp.$1) * (RegExp.$2.toUpperCase() === 'K' ? KiB : MiB) : Number(s));
const sizes = process.env.BENCH_SIZES ? process.env.BENCH_SIZES.split(',').map(sizeArg) : SIZES.filter((s) => s.bytes > 0).map((s) => s.bytes);
const pathsWanted = process.env.BENCH_PATHS?.split(',').map((s) => s.trim());

/** Peak RSS of `pid` above its RSS now, while `work` runs. */
async function peakAbove<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; idleMB: number; aboveMB: number }> {
  const idleMB = procMem(pid).rssMB as number;
  let sampled = idleMB;
  let reset = true;
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5'); // resets VmHWM to the current RSS
  } catch {
    reset = false;
  }
  const timer = setInterval(() => (sampled = Math.max(sampled, procMem(pid).rssMB as number)), 5);
  try {
    const result = await work();
    const peak = reset ? (procMem(pid).peakMB as number) : sampled;
    return { result, idleMB, aboveMB: Math.max(0, Math.max(peak, sampled) - idleMB) };
  } finally {
    clearInterval(timer);
  }
}

async function waitFor<T>(fn: () => T | undefined, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

// ---- the two servers and the DNS ----
const dns = await startDnsServer({});
const ports = { smtp: await freePort(), submission: await freePort(), submissions: await freePort(), imap: await freePort(), pop3: await freePort() };
const bPort = await freePort();
const toml = (extra = '') => `[dns]\nservers = ["${dns.servers[0]}"]\n${extra}`;
// Inbound checks (SPF, DKIM, DMARC) on, as in production; the environment overrides the bench config.
process.env.MAILSERVER_CHECKS_ENABLED = 'true';
// A message at A's maximum grows by A's trace fields on its way: B allows for them.
process.env.MAILSERVER_MAX_MESSAGE_SIZE = String(MAX + MiB);
const b: Server = await startServer({ smtp: bPort }, toml());
delete process.env.MAILSERVER_MAX_MESSAGE_SIZE;
b.cliRun('domain', 'add', 'b.test');
b.cliRun('account', 'add', 'bob@b.test', '--password-stdin');
const a: Server = await startServer(ports, toml(`[queue]\nmx_port = ${bPort}\n`));
a.cliRun('domain', 'add', 'a.test');
for (const u of ['alice@a.test', 'bob@a.test']) a.cliRun('account', 'add', u, '--password-stdin');
a.cliRun('alias', 'add', 'fwd@a.test', 'bob@b.test');
a.cliRun('dkim', 'generate', 'a.test');
const shown = JSON.parse(a.cliRun('dkim', 'show', 'a.test', '--json')) as unknown;
for (const r of [shown].flat() as Array<{ record?: { name: string; value: string }; name?: string; value?: string }>) {
  const rec = r.record ?? r;
  if (rec.name && rec.value) dns.set(rec.name, 'TXT', [rec.value]);
}
for (const d of ['a.test', 'b.test']) {
  dns.set(d, 'MX', [{ priority: 10, exchange: `mx.${d}` }]);
  dns.set(`mx.${d}`, 'A', ['127.0.0.1']);
  dns.set(d, 'TXT', ['v=spf1 ip4:127.0.0.1 -all']);
}
await new Promise((r) => setTimeout(r, 500));

// ---- the paths ----
/** One measured step: what it did, how long it took, and B's peak when B took part. */
interface Step {
  ms: number;
  aboveB?: number;
  note?: string;
}
interface Path {
  name: string;
  key: string;
  from: string;
  run(raw: Buffer, tag: string): Promise<Step>;
}

async function smtpSend(port: number, tls: 'starttls' | 'implicit' | undefined, from: string, to: string, raw: Buffer): Promise<number> {
  const t0 = performance.now();
  const r = await sendRaw(smtpTransport('127.0.0.1', port, { tls, user: tls ? 'alice@a.test' : undefined, pass: PASS }), from, [to], raw);
  if (!r.startsWith('250')) throw new Error(`refused: ${r}`);
  return performance.now() - t0;
}

/** Sends to A and waits for the copy on B, measuring B's peak too. */
async function toRemote(port: number, tls: 'starttls' | undefined, from: string, to: string, raw: Buffer, tag: string): Promise<Step> {
  const t0 = performance.now();
  const onB = await peakAbove(b.pid, async () => {
    const ms = await smtpSend(port, tls, from, to, raw);
    await waitFor(() => storedMessage(b.data, 'bob@b.test', tag), 300_000);
    return ms;
  });
  return { ms: onB.result, aboveB: onB.aboveMB, note: `on B after ${((performance.now() - t0) / 1000).toFixed(2)} s` };
}

/** One IMAP command on a new session of bob@a.test, timed from the command (not the login). */
async function timedImap(line: string, literal?: Buffer): Promise<{ ms: number; answer: ImapAnswer }> {
  const s = await ImapSession.open(ports.imap, 'bob@a.test', PASS);
  const t0 = performance.now();
  const answer = await s.command(line, literal);
  const ms = performance.now() - t0;
  s.close();
  if (!/ OK /.test(answer.tagged)) throw new Error(`${line}: ${answer.tagged}`);
  return { ms, answer };
}

/** RETR of the last message in bob@a.test's maildrop; the bytes served (stuffing undone). */
async function pop3RetrLast(): Promise<number> {
  const p = await WireReader.connect(ports.pop3);
  await p.line();
  for (const c of ['USER bob@a.test', `PASS ${PASS}`]) {
    p.write(`${c}\r\n`);
    await p.line();
  }
  p.write('STAT\r\n');
  const last = (await p.line()).split(' ')[1];
  p.write(`RETR ${last}\r\n`);
  await p.line();
  let bytes = 0;
  for (;;) {
    const l = await p.lineBytes();
    if (l.length === 1 && l[0] === 0x2e) break;
    bytes += l.length + 2 - (l[0] === 0x2e ? 1 : 0);
  }
  p.write('QUIT\r\n');
  p.close();
  return bytes;
}

const paths: Path[] = [
  { name: 'port 25 → Maildir', key: '25', from: 'someone@remote.example', run: async (raw) => ({ ms: await smtpSend(ports.smtp, undefined, 'someone@remote.example', 'bob@a.test', raw) }) },
  { name: '587 → mailbox', key: '587', from: 'alice@a.test', run: async (raw) => ({ ms: await smtpSend(ports.submission, 'starttls', 'alice@a.test', 'bob@a.test', raw) }) },
  { name: '465 → mailbox', key: '465', from: 'alice@a.test', run: async (raw) => ({ ms: await smtpSend(ports.submissions, 'implicit', 'alice@a.test', 'bob@a.test', raw) }) },
  { name: '587 → queue → B', key: 'queue', from: 'alice@a.test', run: (raw, tag) => toRemote(ports.submission, 'starttls', 'alice@a.test', 'bob@b.test', raw, tag) },
  { name: '25 → alias → queue → B', key: 'alias', from: 'someone@remote.example', run: (raw, tag) => toRemote(ports.smtp, undefined, 'someone@remote.example', 'fwd@a.test', raw, tag) },
  { name: 'IMAP APPEND', key: 'imap', from: 'someone@remote.example', run: async (raw) => ({ ms: (await timedImap(`APPEND INBOX {${raw.length}}`, raw)).ms }) },
  {
    name: 'IMAP FETCH BODY[] (the same)',
    key: 'imap',
    from: '',
    run: async (raw) => {
      const { ms, answer } = await timedImap('FETCH * (BODY.PEEK[])');
      if (!answer.literals.get('BODY[]')?.equals(raw)) throw new Error('FETCH gave other bytes');
      return { ms };
    },
  },
  {
    name: 'POP3 RETR (the same)',
    key: 'pop3',
    from: '',
    run: async (raw) => {
      const t0 = performance.now();
      const bytes = await pop3RetrLast();
      if (bytes !== raw.length) throw new Error(`RETR gave ${bytes} bytes, not ${raw.length}`);
      return { ms: performance.now() - t0 };
    },
  },
];

const fmt = (n: number) => (n >= MiB ? `${(n / MiB).toFixed(0)} MB` : `${(n / KiB).toFixed(0)} KB`);
let over = 0;
/** A's RSS after the warm-up: the idle figure of a server that has served every path once. */
let warmIdle = 0;
console.log(`sizes: one message per size and path; time to the reply; A's peak RSS above its RSS just before (target at ${fmt(MAX)}: under 1× the size)`);
// Warm-up: one 1 KB message per path first, so that what a path loads once (mailauth for
// the checks and signing, the queue's SMTP client, TLS, the IMAP engine) is not counted.
for (const [i, size] of [KiB, ...sizes].entries()) {
  let appended: Buffer | undefined;
  for (const p of paths) {
    if (pathsWanted && !pathsWanted.includes(p.key)) continue;
    const tag = `bench-${p.key}-${i}-${size}`;
    // FETCH and RETR serve the message IMAP APPEND stored just before.
    const raw = p.from ? await buildMessage(size, { from: p.from, to: 'bob@a.test', tag }) : appended;
    if (!raw) continue;
    if (p.name === 'IMAP APPEND') appended = raw;
    const m = await peakAbove(a.pid, () => p.run(raw, tag));
    if (i === 0) {
      warmIdle = procMem(a.pid).rssMB as number;
      continue; // the warm-up
    }
    const ratio = m.aboveMB / (raw.length / MiB);
    const bad = raw.length >= MAX && (ratio >= 1 || (m.result.aboveB ?? 0) >= raw.length / MiB);
    if (bad) over++;
    const onB = m.result.aboveB !== undefined ? `; B +${m.result.aboveB.toFixed(1)} MB` : '';
    console.log(
      `  ${fmt(raw.length).padStart(6)}  ${p.name.padEnd(28)} ${(m.result.ms / 1000).toFixed(2).padStart(6)} s  A +${m.aboveMB.toFixed(1)} MB above ${m.idleMB.toFixed(0)} MB (${ratio.toFixed(2)}×; +${(m.idleMB + m.aboveMB - warmIdle).toFixed(1)} MB above ${warmIdle.toFixed(0)} MB after the warm-up)${onB}${m.result.note ? `; ${m.result.note}` : ''}${bad ? '  OVER' : ''}`,
    );
  }
}

// ---- swaks, 700 KB attachment ----
if (hasPeer('swaks')) {
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-sizes-'));
  const file = path.join(dir, 'attachment.bin');
  writeFileSync(file, randomBytes(700 * KiB));
  for (const [name, port, extra] of [
    ['port 25', ports.smtp, ['--from', 'someone@remote.example']],
    ['587 (STARTTLS, AUTH)', ports.submission, ['--from', 'alice@a.test', '--tls', '--auth', 'PLAIN', '--auth-user', 'alice@a.test', '--auth-password', PASS]],
  ] as const) {
    const runs: string[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const out = await new Promise<string>((resolve) => {
        const c = spawn(peerPath('swaks')!, ['--server', '127.0.0.1', '--port', String(port), ...extra, '--to', 'bob@a.test', '--attach', `@${file}`, '--show-time-lapse', '--suppress-data']);
        let o = '';
        c.stdout.on('data', (d: Buffer) => (o += d.toString()));
        c.on('close', () => resolve(o));
      });
      const total = (performance.now() - t0) / 1000;
      const m = /lines sent\n=== response in ([\d.]+)s\n<[-~]\s+(\d{3})/.exec(out);
      runs.push(m ? `${m[2]} after ${m[1]} s (swaks ${total.toFixed(2)} s)` : `no reply (${out.slice(-200)})`);
    }
    console.log(`  swaks --attach 700 KB, ${name}: ${runs.join('; ')}`);
  }
  rmSync(dir, { recursive: true, force: true });
} else {
  console.log('  (swaks not installed: Debian package swaks; its runs skipped)');
}

await a.stop();
await b.stop();
await dns.close();
process.exit(over ? 1 : 0);
