/**
 * In-process cost of the spam check's stages on a trained data root (one kept by
 * `BENCH_SPAM_KEEP=DIR` of ./run.ts), per message of the test half's first 1000, after a
 * warm-up that reads the word table into memory: decode (header, MIME parts, transfer
 * encodings, charsets), tokenise, score (counts from memory + chi-squared). Scoring
 * writes nothing. Each round prints its figures; the last line is the medians.
 *
 *   node --import tsx bench/spam/stages.ts DIR     (ROUNDS=5 by default)
 */
import { Classifiers } from '../../src/spam/classifier.js';
import { scan } from '../../src/spam/message.js';
import { corpus } from '../../test/spam/corpus.js';

const root = process.argv[2] ?? process.env.BENCH_SPAM_KEEP;
if (!root) throw new Error('usage: stages.ts DATA_ROOT (trained by run.ts with BENCH_SPAM_KEEP)');
const msgs = corpus('test')
  .slice(0, 1000)
  .map((m) => Buffer.from(m.bytes.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1'));
const c = new Classifiers(root);
const account = 'bench@bench.test';
for (let i = 0; i < 200; i++) c.score(account, scan(msgs[i]!, false, 'mx.test').tokens);
const rounds: Array<[number, number, number]> = [];
const per = (us: number) => (us / msgs.length / 1e3).toFixed(3);
const cpu = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
// Timed by the process's CPU time (µs), stage by stage, message by message (as port 25
// runs them): other processes on a busy machine then slow it less than a wall clock.
for (let round = 0; round < Number(process.env.ROUNDS ?? 5); round++) {
  const t = [0, 0, 0];
  let sum = 0;
  let tokens = 0;
  for (const b of msgs) {
    const t0 = cpu();
    const m = scan(b, false, 'mx.test');
    void m.text;
    const t1 = cpu();
    const set = m.tokens;
    const t2 = cpu();
    sum += c.score(account, set).score;
    const t3 = cpu();
    t[0] += t1 - t0;
    t[1] += t2 - t1;
    t[2] += t3 - t2;
    tokens += set.size;
  }
  rounds.push([t[0]!, t[1]!, t[2]!]);
  // The sum of scores changes only if a verdict could.
  console.log(`decode ${per(t[0]!)} ms, tokenise ${per(t[1]!)} ms, score ${per(t[2]!)} ms per message (CPU); ${(tokens / msgs.length).toFixed(0)} tokens each; sum of scores ${sum.toFixed(6)}`);
}
const med = (k: number) => {
  const a = rounds.map((r) => r[k]!).sort((x, y) => x - y);
  return a[Math.floor(a.length / 2)]!;
};
console.log(`medians: decode ${per(med(0))} ms, tokenise ${per(med(1))} ms, score ${per(med(2))} ms per message`);
c.close();
