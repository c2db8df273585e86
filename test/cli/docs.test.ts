// docs/cli.md is generated from the command table; this fails when someone changes a
// command without running `npx tsx scripts/gen-cli-docs.ts`.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { COMMANDS, renderMarkdown } from '../../src/cli/index.js';
import { ROOT } from './run.js';

it('docs/cli.md is up to date with the command table', () => {
  const onDisk = readFileSync(path.join(ROOT, 'docs', 'cli.md'), 'utf8');
  expect(onDisk, 'run: npx tsx scripts/gen-cli-docs.ts').toBe(renderMarkdown());
  for (const c of COMMANDS) expect(onDisk).toContain(`## ${c.name}\n`);
});
