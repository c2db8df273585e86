/**
 * LIST patterns that froze the server when they became backtracking regular
 * expressions (issue 13): the median and worst time of each over 20 runs against 200
 * mailboxes (the deepest hierarchy the store allows, 32 levels, and 167 siblings), and
 * the worst NOOP latency of another session meanwhile. Exits 1 when a median is over
 * 50 ms or a NOOP waited more than 1 s.
 */
import { startImapFixture } from '../../test/imap/fixture.js';

const RUNS = Number(process.env.BENCH_LIST_RUNS ?? 20);
const f = await startImapFixture();
const user = 'bench@example.test';
await f.addAccount(user, 'pw');
await f.ctx.store.createMailbox(user, Array.from({ length: 32 }, () => 'l').join('/'));
for (let i = 0; i < 200 - 32 - 6 - 1; i++) await f.ctx.store.createMailbox(user, `w/${'x'.repeat(40)}${i}`);
const c = await f.client(user, 'pw');
const other = await f.client(user, 'pw');
await c.transact('ok', 'LIST "" "*"'); // reads the folders once
let stop = false;
let worstNoop = 0;
let noops = 0;
const loop = (async () => {
  while (!stop) {
    const t = performance.now();
    await other.transact('ok', 'NOOP');
    worstNoop = Math.max(worstNoop, performance.now() - t);
    noops++;
  }
})();
const patterns: Array<[string, string]> = [
  ['"*"', '*'],
  ['70 stars + Z', '*'.repeat(70) + 'Z'],
  ['500 %', '%'.repeat(500)],
  ['"%/" × 200 + Z', '%/'.repeat(200) + 'Z'],
  ['"*l" × 100 + Z', '*l'.repeat(100) + 'Z'],
];
let failed = false;
for (const [label, p] of patterns) {
  const ms: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    await c.transact('ok', `LIST "" "${p}"`);
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  const median = ms[Math.floor(ms.length / 2)]!;
  if (median > 50) failed = true;
  console.log(`LIST "" ${label.padEnd(16)} median ${median.toFixed(1)} ms, worst ${ms[ms.length - 1]!.toFixed(1)} ms`);
}
stop = true;
await loop;
console.log(`NOOP of another session meanwhile: ${noops} answered, worst ${worstNoop.toFixed(1)} ms`);
if (worstNoop > 1000) failed = true;
await f.close();
process.exit(failed ? 1 : 0);
