/**
 * bench/spam: the spam filter on the whole SpamAssassin public corpus, through the built
 * server (a child process, as `mailserver serve` runs) and real protocols:
 *
 * 1. Training half: delivered on port 25 (the ham filed to Junk, the spam to INBOX, as an
 *    untrained filter might), then moved by IMAP MOVE (imapflow): ham out of Junk, spam
 *    into it. The server trains on those moves.
 * 2. Test half: delivered on port 25; where each message went (INBOX, Junk, refused at
 *    DATA) gives recall, precision and the share of ham in Junk, overall and per group.
 * 3. Rspamd's default rules (Debian package rspamd, no Bayes, no network lists) on the
 *    same test half through /checkv2: "add header", "rewrite subject" and "reject" count
 *    as spam.
 * 4. The classifier database's size per 10 000 trained messages.
 * 5. Throughput on port 25 with the classifier off, on, and on without refusing spam (in
 *    turn, BENCH_SPAM_ROUNDS rounds, medians): BENCH_COUNT (default 3000) test-half
 *    messages to the trained account, 20 sessions reusing their connections; msg/s, the
 *    server's CPU time per message, its main thread's (the event loop: what bounds
 *    port 25) and the scoring thread's (src/spam/score-thread.ts, named spam-score).
 *
 *   npm run build && BENCH_ONLY=spam npm run bench     (BENCH_SPAM_LIMIT=500: a subset per class;
 *   BENCH_SPAM_RSPAMD=0: without the Rspamd comparison; BENCH_SPAM_KEEP=DIR: the trained
 *   data root is kept in DIR, and a later run given the same DIR measures throughput only,
 *   which with BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=…" profiles the server)
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import { rspamdCheck } from '../../src/spam/rspamd.js';
import { corpus, rates, type CorpusMessage } from '../../test/spam/corpus.js';
import { startDnsServer } from '../../test/helpers/dns-server.js';
import { haveRspamd, startRspamd } from '../../test/helpers/rspamd.js';
// @ts-expect-error plain ESM helper without types
import { freePort, SmtpClient, startServer } from '../lib.mjs';

const LIMIT = Number(process.env.BENCH_SPAM_LIMIT ?? Infinity);
const COUNT = Number(process.env.BENCH_COUNT ?? 3000);
const USER = 'bench@bench.test';
const PASS = 'bench-password';

interface Srv {
  data: string;
  pid: number;
  cliRun(...args: string[]): string;
  stop(o?: { keep?: boolean }): Promise<void>;
}

/** CRLF lines, dot-stuffed (RFC 5321 §4.5.2), ending in CRLF: a DATA body for SmtpClient. */
function dataOf(b: Buffer, extra = ''): string {
  let s = extra + b.toString('latin1').replace(/\r?\n/g, '\r\n');
  if (!s.endsWith('\r\n')) s += '\r\n';
  return s.replace(/^\./gm, '..');
}

/** Sends messages over `sessions` connections; resolves with the reply class per message. */
async function sendAll(port: number, bodies: string[], sessions: number): Promise<Array<'ok' | 'refused'>> {
  const out: Array<'ok' | 'refused'> = new Array(bodies.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(sessions, bodies.length) }, async (_, w) => {
      const c = await SmtpClient.connect(port);
      await c.cmd(`EHLO bench${w}.example`);
      for (let i = next++; i < bodies.length; i = next++) {
        try {
          await c.send('sender@remote.example', [USER], bodies[i]!);
          out[i] = 'ok';
        } catch (err) {
          if (!/refused: 5/.test((err as Error).message)) throw err;
          out[i] = 'refused';
        }
      }
      c.close();
    }),
  );
  return out;
}

function imap(port: number): ImapFlow {
  return new ImapFlow({ host: '127.0.0.1', port, secure: false, auth: { user: USER, pass: PASS }, logger: false, tls: { rejectUnauthorized: false } });
}

function status(srv: Srv): { trained: { ham: number; spam: number }; dbBytes: number; tokens: number } {
  return (JSON.parse(srv.cliRun('spam', 'status', USER, '--json')) as { status: { trained: { ham: number; spam: number }; dbBytes: number; tokens: number } }).status;
}

async function train(srv: Srv, ports: { smtp: number; imap: number }, half: CorpusMessage[]): Promise<number> {
  const t0 = Date.now();
  const ham = half.filter((m) => !m.spam);
  const spam = half.filter((m) => m.spam);
  // Everything to Junk first (an untrained filter's worst case), then the user's moves.
  srv.cliRun('spam', 'set', USER, '--junk-threshold', '0', '--reject-threshold', '0');
  await sendAll(ports.smtp, ham.map((m) => dataOf(m.bytes)), 4);
  srv.cliRun('spam', 'set', USER, '--scoring', 'off');
  await sendAll(ports.smtp, spam.map((m) => dataOf(m.bytes)), 4);
  const c = imap(ports.imap);
  await c.connect();
  await c.mailboxOpen('Junk');
  await c.messageMove('1:*', 'INBOX', { uid: true });
  await c.mailboxOpen('INBOX');
  // INBOX: the moved ham got UIDs after the spam delivered there.
  await c.messageMove(`1:${spam.length}`, 'Junk', { uid: true });
  await c.logout();
  srv.cliRun('spam', 'set', USER, '--junk-threshold', 'default', '--reject-threshold', 'default', '--scoring', 'default');
  for (;;) {
    const s = status(srv);
    if (s.trained.ham >= ham.length && s.trained.spam >= spam.length) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  return (Date.now() - t0) / 1000;
}

/** Delivers the test half with an X-Bench-Id field each; returns where each went. */
async function classify(ports: { smtp: number; imap: number }, half: CorpusMessage[]): Promise<Array<'INBOX' | 'Junk' | 'refused'>> {
  const sent = await sendAll(
    ports.smtp,
    half.map((m, i) => dataOf(m.bytes, `X-Bench-Id: ${i}\r\n`)),
    4,
  );
  const where: Array<'INBOX' | 'Junk' | 'refused'> = sent.map((s) => (s === 'refused' ? 'refused' : 'INBOX'));
  const c = imap(ports.imap);
  await c.connect();
  await c.mailboxOpen('Junk');
  for await (const m of c.fetch('1:*', { uid: true, headers: ['x-bench-id'] })) {
    const id = /X-Bench-Id:\s*(\d+)/i.exec(m.headers?.toString() ?? '')?.[1];
    if (id !== undefined) where[Number(id)] = 'Junk';
  }
  await c.logout();
  return where;
}

function report(name: string, half: CorpusMessage[], junk: boolean[]): void {
  const r = rates(half.map((m, i) => ({ spam: m.spam, junk: junk[i]! })));
  console.log(`  ${name}: recall ${r.recall.toFixed(2)} % of ${r.spam} spam, precision ${r.precision.toFixed(2)} %, ham in Junk ${r.hamInJunk.toFixed(2)} % of ${r.ham} ham`);
  const groups = [...new Set(half.map((m) => m.name.split('/')[0]!))];
  const per = groups.map((g) => {
    const idx = half.map((m, i) => (m.name.startsWith(`${g}/`) ? i : -1)).filter((i) => i >= 0);
    const hit = idx.filter((i) => junk[i]).length;
    return `${g} ${((100 * hit) / idx.length).toFixed(1)} % of ${idx.length}`;
  });
  console.log(`    filed as spam per group: ${per.join(', ')}`);
}

async function rspamdDefault(half: CorpusMessage[]): Promise<void> {
  if (process.env.BENCH_SPAM_RSPAMD === '0') {
    console.log('  Rspamd: comparison skipped (BENCH_SPAM_RSPAMD=0)');
    return;
  }
  if (!haveRspamd()) {
    console.log('  Rspamd: not installed (Debian package rspamd); comparison skipped');
    return;
  }
  const dns = await startDnsServer({});
  const rs = await startRspamd({ dns: dns.servers[0]! });
  try {
    const junk: boolean[] = new Array(half.length);
    let next = 0;
    const t0 = Date.now();
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let i = next++; i < half.length; i = next++) {
          const b = Buffer.from(dataOf(half[i]!.bytes).replace(/^\.\./gm, '.'), 'latin1');
          const r = await rspamdCheck(rs.url, b, { ip: '127.0.0.1', helo: 'client.example', from: 'sender@remote.example', rcpts: [USER] }, 30_000);
          junk[i] = r.action === 'add header' || r.action === 'rewrite subject' || r.action === 'reject';
        }
      }),
    );
    report(`Rspamd 3.4 default rules (no Bayes, no DNS lists; ${((Date.now() - t0) / 1000).toFixed(0)} s)`, half, junk);
  } finally {
    await rs.close();
    await dns.close();
  }
}

/**
 * The server's CPU time (s): all its threads, its main thread alone (the event loop every
 * connection waits on), and the spam scoring thread's (named spam-score, src/spam/score-worker.ts).
 */
function cpuSeconds(pid: number): { all: number; main: number; score: number } {
  const read = (file: string) => {
    const f = readFileSync(file, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime + stime in clock ticks (100 Hz)
  };
  let score = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      if (readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim() === 'spam-score') score += read(`/proc/${pid}/task/${tid}/stat`);
    } catch {
      // the thread exited meanwhile
    }
  }
  return { all: read(`/proc/${pid}/stat`), main: read(`/proc/${pid}/task/${pid}/stat`), score };
}

/** The classifier off, on (spam refused at end of DATA, as by default), or on with nothing refused (spam stored in Junk). */
type Mode = 'off' | 'on' | 'on-keep';
const MODE_TOML: Record<Mode, string> = { off: 'enabled = false', on: 'enabled = true', 'on-keep': 'enabled = true\nreject_threshold = 0' };

async function throughput(data: string, port: number, bodies: string[], mode: Mode): Promise<{ rate: number; cpuMs: number; mainMs: number; scoreMs: number }> {
  const srv: Srv = await startServer({ smtp: port }, `[spam]\n${MODE_TOML[mode]}\n`, { data });
  const list = Array.from({ length: COUNT }, (_, i) => bodies[i % bodies.length]!);
  try {
    // Warm up (JIT, caches) before measuring, the same for both runs.
    await sendAll(port, bodies.slice(0, 200), 20);
    const c0 = cpuSeconds(srv.pid);
    const t0 = process.hrtime.bigint();
    await sendAll(port, list, 20);
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const c1 = cpuSeconds(srv.pid);
    return { rate: COUNT / secs, cpuMs: (1000 * (c1.all - c0.all)) / COUNT, mainMs: (1000 * (c1.main - c0.main)) / COUNT, scoreMs: (1000 * (c1.score - c0.score)) / COUNT };
  } finally {
    await srv.stop({ keep: true });
  }
}

const median = (xs: number[]) => {
  const a = [...xs].sort((x, y) => x - y);
  return a.length % 2 ? a[(a.length - 1) / 2]! : (a[a.length / 2 - 1]! + a[a.length / 2]!) / 2;
};

/**
 * Port 25 with the classifier off, on, and on without refusing (BENCH_SPAM_ROUNDS rounds,
 * 2 by default, in turn so a change in the machine's load hits all alike): medians. "on"
 * refuses most spam at end of DATA, which stores nothing (no file, no index row, no
 * full-text document), so it is compared with "off" for what a user sees; "on-keep"
 * stores everything as "off" does (spam in Junk), so the difference is the classifier's
 * own cost.
 */
async function compare(data: string, port: number, bodies: string[]): Promise<void> {
  const rounds = Number(process.env.BENCH_SPAM_ROUNDS ?? 2);
  const modes: Mode[] = ['off', 'on', 'on-keep'];
  const runs: Array<{ mode: Mode; rate: number; cpuMs: number; mainMs: number; scoreMs: number }> = [];
  const load0 = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  for (let r = 0; r < rounds; r++) for (const mode of modes) runs.push({ mode, ...(await throughput(data, port, bodies, mode)) });
  const load1 = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const med = (mode: Mode, k: 'rate' | 'cpuMs' | 'mainMs' | 'scoreMs') => median(runs.filter((r) => r.mode === mode).map((r) => r[k]));
  const off = { rate: med('off', 'rate'), cpu: med('off', 'cpuMs'), main: med('off', 'mainMs') };
  const line = (mode: Mode) => {
    const rate = med(mode, 'rate');
    const cpu = med(mode, 'cpuMs');
    const main = med(mode, 'mainMs');
    return `${mode} ${rate.toFixed(0)} msg/s (${cpu.toFixed(2)} ms, ${main.toFixed(2)} ms main, ${med(mode, 'scoreMs').toFixed(2)} ms scoring thread): ${((100 * (off.rate - rate)) / off.rate).toFixed(1)} % slower, ${((100 * (cpu - off.cpu)) / off.cpu).toFixed(1)} % more CPU, ${((100 * (main - off.main)) / off.main).toFixed(1)} % more on the main thread`;
  };
  console.log(
    `  port 25, ${COUNT} corpus messages, 20 sessions, medians of ${rounds} rounds (load ${load0} → ${load1}): classifier off ${off.rate.toFixed(0)} msg/s (${off.cpu.toFixed(2)} ms server CPU/msg, ${off.main.toFixed(2)} ms of it on the main thread); ${line('on')}; ${line('on-keep')}`,
  );
  console.log(`    each run: ${runs.map((r) => `${r.mode} ${r.rate.toFixed(0)} msg/s ${r.cpuMs.toFixed(2)} ms (${r.mainMs.toFixed(2)} main${r.mode === 'off' ? '' : `, ${r.scoreMs.toFixed(2)} scoring`})`).join(', ')}`);
}

/** Trains, classifies the test half, and reports; returns what the account was trained on. */
async function accuracy(srv: Srv, ports: { smtp: number; imap: number }, testHalf: CorpusMessage[]): Promise<{ trained: number; tokens: number }> {
  srv.cliRun('domain', 'add', 'bench.test');
  srv.cliRun('account', 'add', USER, '--password-stdin');
  const trainHalf = corpus('train', LIMIT);
  console.log(`spam: SpamAssassin public corpus, ${trainHalf.length} messages to train on, ${testHalf.length} to test`);
  const trainSecs = await train(srv, ports, trainHalf);
  console.log(`  trained through port 25 + IMAP MOVE in ${trainSecs.toFixed(0)} s`);
  const where = await classify(ports, testHalf);
  report('built-in classifier on port 25', testHalf, where.map((w) => w !== 'INBOX'));
  const refusedHam = testHalf.filter((m, i) => !m.spam && where[i] === 'refused').length;
  console.log(`    refused at end of DATA: ${where.filter((w) => w === 'refused').length} (of them ham: ${refusedHam})`);
  const st = status(srv);
  return { trained: st.trained.ham + st.trained.spam, tokens: st.tokens };
}

function dbFile(data: string): string {
  return path.join(data, 'maildir', 'bench.test', 'bench', 'spam.sqlite');
}

const keep = process.env.BENCH_SPAM_KEEP;
const ports = { smtp: await freePort(), imap: await freePort() };
const testHalf = corpus('test', LIMIT);
const bodies = testHalf.slice(0, 1000).map((m) => dataOf(m.bytes));
let data: string;
if (keep && existsSync(dbFile(keep))) {
  data = keep;
  console.log(`spam: throughput only, on the data root trained earlier in ${keep}`);
} else {
  const srv: Srv = await startServer(ports, '', keep ? { data: keep } : {});
  data = srv.data;
  let st: { trained: number; tokens: number } | undefined;
  try {
    st = await accuracy(srv, ports, testHalf);
  } finally {
    await srv.stop({ keep: true });
    if (!st && !keep) rmSync(data, { recursive: true, force: true });
  }
  // Measured stopped: the WAL is checkpointed into the file then.
  const bytes = readFileSync(dbFile(data)).length;
  console.log(`  classifier database: ${(bytes / 1024 / 1024).toFixed(2)} MB for ${st.trained} trained messages (${st.tokens} tokens) = ${((bytes / st.trained) * 10_000 / 1024 / 1024).toFixed(1)} MB per 10 000`);
  await rspamdDefault(testHalf);
}
try {
  await compare(data, ports.smtp, bodies);
} finally {
  if (!keep) rmSync(data, { recursive: true, force: true });
}
