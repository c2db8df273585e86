// bench/sieve: what Sieve costs at delivery. 5 KB messages over port 25 to 10 local
// accounts (20 sessions reusing their connections), first with no script, then with
// the same 50-rule script active for every account (header, address, :matches with
// variables, relational, size and exists tests; none files the bench message away, so
// both runs store the same), alternated to even out a shared machine's noise. Prints
// deliveries per second for each (median of the rounds) and the slowdown, plus the
// engine's own cost per message (compile once, run per message) measured in-process.
// Count per run: BENCH_COUNT (default 2000); rounds: BENCH_ROUNDS (default 3).
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { freePort, message, SmtpClient, startServer, root } from '../lib.mjs';

const COUNT = Number(process.env.BENCH_COUNT ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ACCOUNTS = 10;
const SESSIONS = 20;

/** 50 rules a real user might have; the bench message matches none of them. */
export function fiftyRules() {
  const r = ['require ["fileinto", "imap4flags", "variables", "relational", "comparator-i;ascii-numeric", "envelope", "subaddress", "mailbox"];'];
  for (let i = 0; i < 20; i++) r.push(`if header :contains ["subject", "x-list-${i}"] "[project-${i}]" { fileinto :create "Projects/${i}"; stop; }`);
  for (let i = 0; i < 10; i++) r.push(`if address :domain :is ["from", "sender"] "vendor${i}.example" { fileinto "Vendors"; addflag "\\\\Flagged"; }`);
  for (let i = 0; i < 8; i++) r.push(`if header :matches "list-id" "*<list${i}.*>" { fileinto :create "Lists/\${1}"; stop; }`);
  for (let i = 0; i < 4; i++) r.push(`if header :value "ge" :comparator "i;ascii-numeric" "x-spam-score" "${5 + i}" { fileinto "Junk"; stop; }`);
  for (let i = 0; i < 4; i++) r.push(`if allof (size :over ${10 + i}M, not exists "x-keep-${i}") { fileinto "Large"; }`);
  for (let i = 0; i < 4; i++) r.push(`if envelope :detail "to" "tag${i}" { fileinto "Tagged/${i}"; }`);
  return r.join('\n') + '\n';
}

async function run(port, body) {
  let next = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: SESSIONS }, async (_, w) => {
      const c = await SmtpClient.connect(port);
      await c.cmd(`EHLO bench${w}.example`);
      for (let i = next++; i < COUNT; i = next++) await c.send('bench@remote.example', [`user${i % ACCOUNTS}@bench.test`], body);
      c.close();
    }),
  );
  return COUNT / (Number(process.hrtime.bigint() - t0) / 1e9);
}

/** The engine alone: microseconds per message for the 50 rules (one compile, many runs). */
async function engineCost(script, raw) {
  const { compileSieve, runSieve } = await import(pathToFileURL(path.join(root, 'dist/sieve/engine.js')).href);
  const { SieveMessage } = await import(pathToFileURL(path.join(root, 'dist/sieve/message.js')).href);
  const compiled = compileSieve(script);
  const buf = Buffer.from(raw);
  const n = 20000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const message = new SieveMessage({ header: buf.subarray(0, buf.indexOf('\r\n\r\n') + 4), size: buf.length });
    runSieve(compiled, { message, envelope: { from: 'bench@remote.example', to: 'user0@bench.test' } });
  }
  return Number(process.hrtime.bigint() - t0) / 1e3 / n;
}

const port = await freePort();
const srv = await startServer({ smtp: port });
try {
  srv.cliRun('domain', 'add', 'bench.test');
  for (let i = 0; i < ACCOUNTS; i++) srv.cliRun('account', 'add', `user${i}@bench.test`, '--password-stdin');
  const file = path.join(srv.data, 'fifty.sieve');
  writeFileSync(file, fiftyRules());
  const body = message(5 * 1024, 0);
  await run(port, body); // warm-up: JIT, first Maildir creation, index pages
  console.log(`sieve: ${COUNT} messages of 5 KB over port 25 to ${ACCOUNTS} accounts, ${SESSIONS} sessions, per run; ${ROUNDS} rounds alternating`);
  const none = [];
  const fifty = [];
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < ACCOUNTS; i++) srv.cliRun('sieve', 'deactivate', `user${i}@bench.test`);
    none.push(await run(port, body));
    for (let i = 0; i < ACCOUNTS; i++) srv.cliRun('sieve', 'put', `user${i}@bench.test`, 'fifty', file, '--activate');
    fifty.push(await run(port, body));
  }
  // The median of the rounds: one round slowed by the rest of a shared machine moves it least.
  const median = (x) => [...x].sort((p, q) => p - q)[Math.floor(x.length / 2)];
  const a = median(none);
  const b = median(fifty);
  console.log(`  no script:       ${none.map((x) => x.toFixed(0)).join(', ')} msg/s (median ${a.toFixed(0)})`);
  console.log(`  50-rule script:  ${fifty.map((x) => x.toFixed(0)).join(', ')} msg/s (median ${b.toFixed(0)})`);
  console.log(`  slowdown:        ${(((a - b) / a) * 100).toFixed(1)} % (aim: under 10 %)`);
  console.log(`  engine alone:    ${(await engineCost(fiftyRules(), body)).toFixed(1)} µs per message for the 50 rules (header parse included)`);
} finally {
  await srv.stop();
}
