// `npm run bench`: runs every benchmark under bench/ in turn and prints their figures.
// BENCH_ONLY=smtp-inbound,imap runs a subset.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';

const here = import.meta.dirname;
const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim());
const dirs = readdirSync(here, { withFileTypes: true }).filter((d) => d.isDirectory() && d.name !== 'results').map((d) => d.name).sort();
let failed = 0;
for (const d of dirs) {
  if (only && !only.includes(d)) continue;
  const mjs = path.join(here, d, 'run.mjs');
  const ts = path.join(here, d, 'run.ts');
  const [cmd, args] = existsSync(mjs) ? [process.execPath, [mjs]] : existsSync(ts) ? [process.execPath, ['--import', 'tsx', ts]] : [undefined, []];
  if (!cmd) continue;
  console.log(`\n== ${d}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: process.env });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
