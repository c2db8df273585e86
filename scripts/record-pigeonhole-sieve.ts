// Records Dovecot Pigeonhole's answers for the Sieve differential corpus
// (test/fixtures/sieve/cases.txt) into test/fixtures/sieve/pigeonhole.json: for every
// case, the exit status, standard output and error of Debian's `sieve-test`
// (dovecot-sieve), which prints the actions a script takes on a message. The test
// (test/sieve/differential.test.ts) compares our engine with these answers without
// Dovecot, and with a live sieve-test when one is installed.
//
// Run: npx tsx scripts/record-pigeonhole-sieve.ts [case-name ...]   (needs dovecot-sieve)
import { existsSync, writeFileSync } from 'node:fs';
import {
  loadCases,
  loadRecorded,
  makeSieveTestConfig,
  RECORDED_FILE,
  removeSieveTestConfig,
  runSieveTest,
  sieveTestAvailable,
  type Recorded,
} from '../test/sieve/pigeonhole.js';

if (!sieveTestAvailable()) {
  console.error('sieve-test not found: install Debian package dovecot-sieve');
  process.exit(1);
}
const only = new Set(process.argv.slice(2));
const recorded: Record<string, Recorded> = existsSync(RECORDED_FILE) && only.size > 0 ? loadRecorded() : {};
const dir = makeSieveTestConfig();
try {
  for (const c of loadCases()) {
    if (only.size > 0 && !only.has(c.name)) continue;
    recorded[c.name] = await runSieveTest(dir, c);
  }
} finally {
  removeSieveTestConfig(dir);
}
const sorted = Object.fromEntries(Object.keys(recorded).sort().map((k) => [k, recorded[k]]));
writeFileSync(RECORDED_FILE, JSON.stringify(sorted, null, 1) + '\n');
console.log(`recorded ${Object.keys(sorted).length} cases into ${RECORDED_FILE}`);
