/**
 * Every test-half message's score (full precision) and a digest of its tokens, one line
 * each, from a trained data root (one kept by `BENCH_SPAM_KEEP=DIR` of ./run.ts): run it
 * before and after a change to the tokeniser, the decoding or the scoring, and diff the
 * outputs. Scores are also those of an untrained account (the shared base only), to show
 * both paths of the port 25 check unchanged.
 *
 *   node --import tsx bench/spam/scores.ts DIR > scores.txt
 */
import { createHash } from 'node:crypto';
import { Classifiers } from '../../src/spam/classifier.js';
import { scan } from '../../src/spam/message.js';
import { corpus } from '../../test/spam/corpus.js';

const root = process.argv[2] ?? process.env.BENCH_SPAM_KEEP;
if (!root) throw new Error('usage: scores.ts DATA_ROOT (trained by run.ts with BENCH_SPAM_KEEP)');
const c = new Classifiers(root);
let sum = 0;
const all = createHash('sha256');
for (const [i, m] of corpus('test').entries()) {
  const s = scan(Buffer.from(m.bytes.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1'), false, 'mx.test');
  const score = c.score('bench@bench.test', s.tokens).score;
  const digest = createHash('sha256').update([...s.tokens].sort().join('\n')).digest('hex').slice(0, 16);
  all.update(digest);
  sum += score;
  console.log(`${i} ${m.name} ${score} ${s.tokens.size} ${digest} ${s.gtube}`);
}
console.log(`sum ${sum} tokens ${all.digest('hex')}`);
c.close();
