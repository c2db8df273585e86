/**
 * In-process cost of the spam check's two stages on a trained data root (one kept by
 * `BENCH_SPAM_KEEP=DIR` of ./run.ts): scan (decode + tokenise) and score (counts from
 * memory + chi-squared), per message of the test half's first 1000, after a warm-up that
 * reads the word table into memory. Scoring writes nothing.
 *
 *   node --import tsx bench/spam/stages.ts DIR     (ROUNDS=3 by default)
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
for (let round = 0; round < Number(process.env.ROUNDS ?? 3); round++) {
  let tScan = 0;
  let tScore = 0;
  let sum = 0;
  let tokens = 0;
  for (const b of msgs) {
    const t0 = process.hrtime.bigint();
    const m = scan(b, false, 'mx.test');
    const t1 = process.hrtime.bigint();
    sum += c.score(account, m.tokens).score;
    tScan += Number(t1 - t0);
    tScore += Number(process.hrtime.bigint() - t1);
    tokens += m.tokens.size;
  }
  const per = (ns: number) => (ns / msgs.length / 1e6).toFixed(3);
  // The sum of scores changes only if a verdict could.
  console.log(`scan ${per(tScan)} ms, score ${per(tScore)} ms per message; ${(tokens / msgs.length).toFixed(0)} tokens each; sum of scores ${sum.toFixed(6)}`);
}
c.close();
