// bench/sieve: what Sieve costs at delivery. 5 KB messages over port 25 to 10 local
// accounts (20 sessions reusing their connections), first with no script, then with
// the same 50-rule script active for every account (header, address, :matches with
// variables, relational, size and exists tests; none files the bench message away, so
// both runs store the same), alternated to even out a shared machine's noise. Prints
// deliveries per second and the server's CPU per message for each (medians of the
// rounds) and the slowdown, plus the Sieve hook's own CPU per delivery measured
// in-process (steadier on a busy machine than the rates).
// Count per run: BENCH_COUNT (default 2000); rounds: BENCH_ROUNDS (default 3).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

/** The server's CPU time so far (user + system), in ms, from /proc (clock ticks of 10 ms). */
function serverCpuMs(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

async function run(port, body) {
  let next = 0;
  const cpu0 = serverCpuMs(srv.pid);
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: SESSIONS }, async (_, w) => {
      const c = await SmtpClient.connect(port);
      await c.cmd(`EHLO bench${w}.example`);
      for (let i = next++; i < COUNT; i = next++) await c.send('bench@remote.example', [`user${i % ACCOUNTS}@bench.test`], body);
      c.close();
    }),
  );
  return { rate: COUNT / (Number(process.hrtime.bigint() - t0) / 1e9), cpuMs: (serverCpuMs(srv.pid) - cpu0) / COUNT };
}

/**
 * Sieve's share of a delivery, in-process: CPU microseconds per call of the delivery
 * hook (planSieveDelivery: the lookup, the header parse, the run) for an account without
 * a script and with the 50 rules. Steadier than the rates on a busy machine.
 */
async function hookCost(script, raw) {
  const load = (m) => import(pathToFileURL(path.join(root, 'dist', m)).href);
  const [{ defaults }, { startServer: startInProcess }, { createLogger }, { planSieveDelivery }, { putScript }] = await Promise.all(
    ['config/index.js', 'server.js', 'log.js', 'sieve/deliver.js', 'sieve/settings.js'].map(load),
  );
  const dataRoot = mkdtempSync(path.join(tmpdir(), 'bench-sieve-hook-'));
  const config = defaults(dataRoot, false);
  for (const k of Object.keys(config.ports)) config.ports[k] = -1;
  const s = await startInProcess({ dataRoot, config, log: createLogger('silent') });
  try {
    const ctx = s.ctx;
    ctx.accounts.addDomain('bench.test');
    await ctx.accounts.addAccount('user0@bench.test', 'bench-password-123');
    const data = Buffer.from(`Return-Path: <bench@remote.example>\r\nReceived: from client.example by mail.bench.test;\r\n\tMon, 1 Jan 2024 00:00:00 +0000\r\n${raw}`);
    const a = 'user0@bench.test';
    const measure = async (n) => {
      const c0 = process.cpuUsage();
      for (let i = 0; i < n; i++) {
        const plan = await planSieveDelivery(ctx, { mailFrom: 'bench@remote.example', rcpts: [a], targets: [{ account: a }], source: { data }, size: data.length, senderVerified: false, othersAccepted: false, log: ctx.log });
        await plan.commit([]);
      }
      const c = process.cpuUsage(c0);
      return (c.user + c.system) / n;
    };
    await measure(2000);
    const none = await measure(10000);
    putScript(ctx.db, { maxScripts: 20, maxScriptBytes: 1 << 20 }, a, 'fifty', script, { activate: true });
    await measure(2000);
    return { none, fifty: await measure(10000) };
  } finally {
    await s.close(0);
    rmSync(dataRoot, { recursive: true, force: true });
  }
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
  // Medians of the rounds: one round slowed by the rest of a shared machine moves them least.
  // The server's CPU per message is the steadier figure on a busy machine.
  const median = (x) => [...x].sort((p, q) => p - q)[Math.floor(x.length / 2)];
  const show = (runs) => `${runs.map((x) => `${x.rate.toFixed(0)}/${x.cpuMs.toFixed(2)}`).join(', ')} msg/s (median ${median(runs.map((x) => x.rate)).toFixed(0)}); server CPU ${median(runs.map((x) => x.cpuMs)).toFixed(2)} ms/msg`;
  const a = median(none.map((x) => x.rate));
  const b = median(fifty.map((x) => x.rate));
  const ca = median(none.map((x) => x.cpuMs));
  const cb = median(fifty.map((x) => x.cpuMs));
  console.log(`  no script:       ${show(none)}`);
  console.log(`  50-rule script:  ${show(fifty)}`);
  console.log(`  slowdown:        ${(((a - b) / a) * 100).toFixed(1)} % in deliveries/s, ${(((cb - ca) / ca) * 100).toFixed(1)} % in server CPU per message (aim: under 10 %)`);
  const hook = await hookCost(fiftyRules(), body);
  console.log(`  the Sieve hook:  ${hook.none.toFixed(1)} µs CPU per delivery without a script, ${hook.fifty.toFixed(1)} µs with the 50 rules (in-process)`);
  console.log(`                   = ${(((hook.fifty - hook.none) / 1000 / ca) * 100).toFixed(1)} % of the server's CPU per message without a script`);
} finally {
  await srv.stop();
}
