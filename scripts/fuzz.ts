/**
 * `npm run fuzz [-- [codec...] [--seconds N] [--seed S]]`: the fuzz tests of test/fuzz
 * for longer than `npm test` gives them (2 s each). Codecs: imap, pop3, smtp, mime,
 * sieve (default: all, one after the other). Each fuzz target of a codec runs for N
 * seconds (FUZZ_SECONDS, default 600). The seed (FUZZ_SEED, default a fresh one per
 * target) is printed with the number of cases; a failure prints the seed and case
 * number that replay it: `FUZZ_SEED=<s> FUZZ_CASE=<n> npx vitest run test/fuzz/<codec>.test.ts`.
 * The per-target lines are also appended to fuzz-report.txt (FUZZ_REPORT).
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const CODECS = ['imap', 'pop3', 'smtp', 'mime', 'sieve'];

function main(argv: string[]): number {
  const codecs: string[] = [];
  const env: Record<string, string> = { FUZZ_SECONDS: process.env.FUZZ_SECONDS ?? '600', FUZZ_REPORT: process.env.FUZZ_REPORT ?? 'fuzz-report.txt' };
  if (process.env.FUZZ_SEED) env.FUZZ_SEED = process.env.FUZZ_SEED;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--seconds') env.FUZZ_SECONDS = argv[++i] ?? '';
    else if (a === '--seed') env.FUZZ_SEED = argv[++i] ?? '';
    else if (CODECS.includes(a)) codecs.push(a);
    else {
      console.error(`usage: npm run fuzz -- [${CODECS.join('|')} ...] [--seconds N] [--seed S]`);
      return 2;
    }
  }
  if (!/^\d+(\.\d+)?$/.test(env.FUZZ_SECONDS!)) {
    console.error('--seconds wants a number');
    return 2;
  }
  let failed = 0;
  for (const codec of codecs.length > 0 ? codecs : CODECS) {
    console.log(`== fuzz ${codec}: ${env.FUZZ_SECONDS} s per target`);
    const r = spawnSync('npx', ['vitest', 'run', path.join('test/fuzz', `${codec}.test.ts`)], { stdio: 'inherit', env: { ...process.env, ...env } });
    if (r.status !== 0) failed++;
  }
  console.log(failed === 0 ? 'fuzz: no failure' : `fuzz: ${failed} codec(s) failed (the seeds to replay are above)`);
  return failed === 0 ? 0 : 1;
}

process.exitCode = main(process.argv.slice(2));
