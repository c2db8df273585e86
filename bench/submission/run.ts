/**
 * bench/submission: 10 authenticated clients submit 5 KB messages to a remote domain;
 * the server's queue delivers them to a sink SMTP server found through MX records.
 *
 *   npm run build && npx tsx bench/submission/run.ts     (BENCH_COUNT=2000 BENCH_CLIENTS=10)
 *
 * The server is the built binary (`mailserver serve`, child process, fsync on, its data
 * root in /tmp), with submission on 587-style STARTTLS + AUTH PLAIN; every message is
 * DKIM-signed (RSA-2048), written to the spool and the queue (fsynced, committed) before
 * its 250, then delivered by the queue worker (concurrency 10, opportunistic STARTTLS)
 * to a sink (smtp-server in this process) at mx.remote.test, resolved through a real DNS
 * server on loopback (also in this process).
 *
 * Each client logs in and sends one warm-up message before the clock starts.
 * Prints: accepted/s (submission throughput), delivered/s (end to end, first submission
 * to last arrival at the sink), p50/p99 submission latency (MAIL FROM … 250 after DATA),
 * p50/p99 end-to-end latency (submission start → arrival at the sink), peak RSS.
 */
import net from 'node:net';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { startDnsServer } from '../../test/helpers/dns-server.js';
// @ts-expect-error plain ESM helper without types
import { freePort, message, percentile, startServer } from '../lib.mjs';

const COUNT = Number(process.env.BENCH_COUNT ?? 2000);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 10);
const PASSWORD = 'bench-password';

const started = new Map<string, bigint>();
const arrived = new Map<string, bigint>();
let resolveAll: () => void = () => undefined;
const allArrived = new Promise<void>((r) => (resolveAll = r));

// The remote MX: accepts everything, notes the arrival time of each bench message.
const sink = new SMTPServer({
  authOptional: true,
  disabledCommands: ['AUTH'],
  logger: false,
  size: 10 * 1024 * 1024,
  onData(stream, _session, cb) {
    let head = '';
    stream.on('data', (d: Buffer) => {
      if (head.length < 16384) head += d.toString('latin1');
    });
    stream.on('end', () => {
      const id = /X-Bench-Id: (\d+)/i.exec(head)?.[1];
      if (id && !arrived.has(id)) {
        arrived.set(id, process.hrtime.bigint());
        if (arrived.size === COUNT) resolveAll();
      }
      cb();
    });
  },
});
await new Promise<void>((r) => sink.listen(0, '127.0.0.1', () => r()));
const sinkPort = (sink.server.address() as net.AddressInfo).port;

const dns = await startDnsServer({
  'remote.test': { MX: [{ priority: 10, exchange: 'mx.remote.test' }] },
  'mx.remote.test': { A: ['127.0.0.1'] },
});

const subPort = await freePort();
const srv = await startServer(
  { submission: subPort },
  `[dns]\nservers = ["${dns.servers[0]}"]\n[queue]\nmx_port = ${sinkPort}\nconcurrency = 10\n[submission]\nmax_messages_per_hour = 10000000\nmax_recipients_per_message = 100\n`,
);
srv.cliRun('domain', 'add', 'bench.test');
for (let c = 0; c < CLIENTS; c++) srv.cliRun('account', 'add', `sender${c}@bench.test`, '--password-stdin');
await new Promise((r) => setTimeout(r, 500));
const idle = srv.memory();

const body = (message(5 * 1024, 0) as string).split('\r\n\r\n').slice(1).join('\r\n\r\n');
const submitLat: number[] = [];
let next = 0;
// One authenticated session per client (STARTTLS, AUTH PLAIN), reused for every message;
// each sends one warm-up message first (not counted: it carries the login's cost).
const transports = Array.from({ length: CLIENTS }, (_, c) =>
  nodemailer.createTransport({
    pool: true,
    maxConnections: 1,
    maxMessages: Infinity,
    host: '127.0.0.1',
    port: subPort,
    secure: false,
    requireTLS: true,
    tls: { rejectUnauthorized: false },
    auth: { user: `sender${c}@bench.test`, pass: PASSWORD },
  }),
);
await Promise.all(transports.map((t, c) => t.sendMail({ from: `sender${c}@bench.test`, to: 'warmup@remote.test', subject: 'warm-up', headers: { 'X-Bench-Id': `w${c}` }, text: 'x' })));
const t0 = process.hrtime.bigint();
await Promise.all(
  transports.map(async (t, c) => {
    for (;;) {
      const i = next++;
      if (i >= COUNT) break;
      const s = process.hrtime.bigint();
      started.set(String(i), s);
      await t.sendMail({
        from: `sender${c}@bench.test`,
        to: `rcpt${i % 50}@remote.test`,
        subject: `bench ${i}`,
        headers: { 'X-Bench-Id': String(i) },
        text: body,
      });
      submitLat.push(Number(process.hrtime.bigint() - s) / 1e6);
    }
    t.close();
  }),
);
const acceptedSecs = Number(process.hrtime.bigint() - t0) / 1e9;
const timeout = setTimeout(() => resolveAll(), Number(process.env.BENCH_WAIT_MS ?? 120_000));
await allArrived;
clearTimeout(timeout);
const deliveredSecs = Number(process.hrtime.bigint() - t0) / 1e9;
const peak = srv.memory();
if (arrived.size < COUNT) console.log(String(srv.cliRun('queue', 'list')).split('\n').slice(0, 5).join('\n'));

const e2e: number[] = [];
for (const [id, at] of arrived) e2e.push(Number(at - started.get(id)!) / 1e6);
submitLat.sort((x, y) => x - y);
e2e.sort((x, y) => x - y);
console.log(`submission: ${COUNT} messages of 5 KB from ${CLIENTS} authenticated clients (STARTTLS) to a remote domain; DKIM-signed, queued (fsync), delivered via MX to a sink`);
console.log(`  accepted:  ${(COUNT / acceptedSecs).toFixed(0)} msg/s (${acceptedSecs.toFixed(1)} s); submission latency p50 ${percentile(submitLat, 50).toFixed(1)} ms, p99 ${percentile(submitLat, 99).toFixed(1)} ms`);
console.log(
  `  delivered: ${arrived.size}/${COUNT}, ${(arrived.size / deliveredSecs).toFixed(0)} msg/s end to end (${deliveredSecs.toFixed(1)} s); end-to-end latency p50 ${percentile(e2e, 50).toFixed(1)} ms, p99 ${percentile(e2e, 99).toFixed(1)} ms`,
);
console.log(`  server RSS: idle ${idle.rssMB.toFixed(1)} MB, peak ${peak.peakMB.toFixed(1)} MB`);
await srv.stop();
await dns.close();
await new Promise<void>((r) => sink.close(() => r()));
