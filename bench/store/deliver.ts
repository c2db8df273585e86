/**
 * Store delivery throughput: how many durable deliveries per second MaildirStore does
 * on this machine, with fsync on, the way the SMTP path uses it.
 *
 *   npx tsx bench/store/deliver.ts [count=20000] [concurrency=50] [accounts=10]
 *
 * Shapes (5 KB messages, round-robin over the accounts' INBOXes):
 *   spool+deliver  each message is first written to a spool file and fsynced (what
 *                  src/smtp/spool.ts does), then deliver({path}) hard-links it, the
 *                  spool file is unlinked — the whole durable path minus SMTP.
 *   deliver(path)  spool files made beforehand; measures the store alone.
 *   deliver(data)  bytes handed over; the store writes tmp/, fsyncs, links.
 *   2 recipients   spool+deliver to two accounts (hard links into both).
 * Prints deliveries/s, p50/p99 latency, and how many directory fsyncs group commit
 * needed per delivery. Every fsync occupies a libuv pool thread (4 by default), so run
 * it (and the server) with UV_THREADPOOL_SIZE=64; BENCH_NO_FSYNC=1 shows the CPU bound.
 */
import { mkdtempSync } from 'node:fs';
import { mkdir, open, rm, unlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MaildirStore } from '../../src/store/maildir/index.js';

const COUNT = Number(process.argv[2] ?? 20000);
const CONC = Number(process.argv[3] ?? 50);
const ACCOUNTS = Number(process.argv[4] ?? 10);
const body = Buffer.from(
  'From: bench@example.test\r\nTo: user@example.test\r\nSubject: bench\r\n\r\n' + 'x'.repeat(76).concat('\r\n').repeat(64),
);

async function writeSpool(file: string): Promise<void> {
  const fh = await open(file, 'wx');
  await fh.writeFile(body);
  await fh.datasync();
  await fh.close();
}

async function run(name: string, fn: (i: number) => Promise<void>): Promise<void> {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONC }, async () => {
      while (next < COUNT) {
        const i = next++;
        const s = performance.now();
        await fn(i);
        lat.push(performance.now() - s);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  console.log(
    `${name.padEnd(16)} ${String(Math.round(COUNT / secs)).padStart(6)} deliveries/s   p50 ${lat[Math.floor(lat.length * 0.5)].toFixed(1)} ms   p99 ${lat[Math.floor(lat.length * 0.99)].toFixed(1)} ms`,
  );
}

const root = mkdtempSync(path.join(os.tmpdir(), 'bench-store-'));
try {
  const store = new MaildirStore({ dataRoot: root, fsync: process.env.BENCH_NO_FSYNC !== "1" });
  const accounts = Array.from({ length: ACCOUNTS }, (_, i) => `user${i}@example.test`);
  for (const a of accounts) await store.ensureAccount(a);
  const spool = path.join(root, 'spool');
  await mkdir(spool);
  console.log(`${COUNT} messages of ${body.length} bytes, concurrency ${CONC}, ${ACCOUNTS} accounts, fsync on, ${os.cpus().length} cpus`);

  let f0 = store.dirFsyncs;
  await run('spool+deliver', async (i) => {
    const file = path.join(spool, `a${i}`);
    await writeSpool(file);
    await store.deliver([{ account: accounts[i % ACCOUNTS] }], { path: file });
    await unlink(file);
  });
  console.log(`  directory fsyncs per delivery: ${((store.dirFsyncs - f0) / COUNT).toFixed(2)}`);

  for (let i = 0; i < COUNT; i++) await writeSpool(path.join(spool, `b${i}`));
  f0 = store.dirFsyncs;
  await run('deliver(path)', async (i) => {
    await store.deliver([{ account: accounts[i % ACCOUNTS] }], { path: path.join(spool, `b${i}`) });
  });
  console.log(`  directory fsyncs per delivery: ${((store.dirFsyncs - f0) / COUNT).toFixed(2)}`);
  await rm(spool, { recursive: true });
  await mkdir(spool);

  await run('deliver(data)', async (i) => {
    await store.deliver([{ account: accounts[i % ACCOUNTS] }], { data: body });
  });

  await run('2 recipients', async (i) => {
    const file = path.join(spool, `c${i}`);
    await writeSpool(file);
    await store.deliver([{ account: accounts[i % ACCOUNTS] }, { account: accounts[(i + 1) % ACCOUNTS] }], { path: file });
    await unlink(file);
  });

  const t = performance.now();
  const snap = await store.openMailbox(accounts[0], 'INBOX');
  console.log(`first open of an INBOX with ${snap.messages.length} messages (moves new/ → cur/): ${(performance.now() - t).toFixed(0)} ms`);
  const t2 = performance.now();
  await store.openMailbox(accounts[0], 'INBOX');
  console.log(`second open (nothing changed): ${(performance.now() - t2).toFixed(0)} ms`);
  await store.close();
} finally {
  await rm(root, { recursive: true, force: true });
}
