// bench/smtp-inbound: 5 KB messages to local accounts over port 25, in two shapes:
// (a) 20 sessions reusing their connections, (b) 200 sessions with a new connection
// per message. Prints messages/s, p50/p99 latency per message, the server's peak RSS
// per shape and its idle RSS after start. Count: BENCH_COUNT (default 20000).
//
// The load generator is a Node client in this process, on the same two cores as the
// server. When Postfix's smtp-source (Debian package postfix) is installed, the same two
// shapes are run again with it: a C generator uses far less CPU, so those figures show
// the server's own rate and compare with Postfix's (measured with smtp-source). It
// reports no per-message latency.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { freePort, message, percentile, SmtpClient, startServer } from '../lib.mjs';

const COUNT = Number(process.env.BENCH_COUNT ?? 20000);
const ACCOUNTS = 10;
const SMTP_SOURCE = ['/usr/sbin/smtp-source', '/usr/bin/smtp-source'].find((p) => existsSync(p));

async function shape(name, port, sessions, reuse) {
  const body = message(5 * 1024, 0);
  let next = 0;
  const lat = [];
  const t0 = process.hrtime.bigint();
  async function worker(w) {
    let c = reuse ? await SmtpClient.connect(port) : undefined;
    if (c) await c.cmd(`EHLO bench${w}.example`);
    for (;;) {
      const i = next++;
      if (i >= COUNT) break;
      const s = process.hrtime.bigint();
      if (!reuse) {
        c = await SmtpClient.connect(port);
        await c.cmd(`EHLO bench${w}.example`);
      }
      await c.send('bench@remote.example', [`user${i % ACCOUNTS}@bench.test`], body);
      if (!reuse) c.close();
      lat.push(Number(process.hrtime.bigint() - s) / 1e6);
    }
    if (reuse) c.close();
  }
  await Promise.all(Array.from({ length: sessions }, (_, w) => worker(w)));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  lat.sort((a, b) => a - b);
  return { name, rate: COUNT / secs, p50: percentile(lat, 50), p99: percentile(lat, 99), secs };
}

/** The same shape with smtp-source: one process per account, the sessions split evenly. */
async function smtpSourceShape(port, sessions, reuse) {
  const run = promisify(execFile);
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: ACCOUNTS }, (_, a) =>
      run(SMTP_SOURCE, [...(reuse ? ['-d'] : []), '-s', String(sessions / ACCOUNTS), '-l', '5120', '-m', String(COUNT / ACCOUNTS), '-f', 'bench@remote.example', '-t', `user${a}@bench.test`, `127.0.0.1:${port}`]),
    ),
  );
  return COUNT / (Number(process.hrtime.bigint() - t0) / 1e9);
}

const port = await freePort();
let srv = await startServer({ smtp: port });
srv.cliRun('domain', 'add', 'bench.test');
for (let i = 0; i < ACCOUNTS; i++) srv.cliRun('account', 'add', `user${i}@bench.test`, '--password-stdin');
await new Promise((r) => setTimeout(r, 1000));
const first = srv.memory();
// The first start also makes the self-signed certificate (node-forge stays loaded); a
// restart on the same data root is what a running installation looks like.
await srv.stop({ keep: true });
srv = await startServer({ smtp: port }, '', { data: srv.data });
await new Promise((r) => setTimeout(r, 1000));
const idle = srv.memory();
console.log(`smtp-inbound: ${COUNT} messages of 5 KB to ${ACCOUNTS} local accounts, fsynced and indexed`);
console.log(`  idle RSS after start: ${idle.rssMB.toFixed(1)} MB (first start, which also makes the self-signed certificate: ${first.rssMB.toFixed(1)} MB)`);
const shapes = [
  ['reused connections, 20 sessions', 20, true],
  ['new connection per message, 200 sessions', 200, false],
];
for (const [name, sessions, reuse] of shapes) {
  const r = await shape(name, port, sessions, reuse);
  const m = srv.memory();
  console.log(`  ${r.name}: ${r.rate.toFixed(0)} msg/s, p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, peak RSS ${m.peakMB.toFixed(1)} MB (${r.secs.toFixed(1)} s)`);
}
if (SMTP_SOURCE) {
  for (const [name, sessions, reuse] of shapes) {
    const rate = await smtpSourceShape(port, sessions, reuse);
    console.log(`  smtp-source, ${name}: ${rate.toFixed(0)} msg/s, peak RSS ${srv.memory().peakMB.toFixed(1)} MB`);
  }
} else {
  console.log('  (smtp-source not installed: Debian package postfix; its shapes skipped)');
}
await srv.stop();
