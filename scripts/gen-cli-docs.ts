// Writes docs/cli.md from the CLI command table (src/cli/index.ts), so the reference
// and `mailserver --help` never disagree. Run: npx tsx scripts/gen-cli-docs.ts
// (test/cli/docs.test.ts fails when the file is out of date).
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderMarkdown } from '../src/cli/index.js';

const out = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'cli.md');
writeFileSync(out, renderMarkdown());
console.log(`wrote ${out}`);
