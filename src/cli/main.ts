#!/usr/bin/env node
/**
 * The `mailserver` executable (package.json `bin` → dist/cli/main.js). All logic is in
 * index.ts so tests and the docs generator can use the command table directly.
 */
import './threadpool.js';
import { runCli } from './index.js';

const code = await runCli(process.argv.slice(2), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env });
// Exit explicitly: a closed server or a paused stdin must not keep the process alive.
// Writes to pipes and files are synchronous on Linux, so nothing printed is lost.
process.exit(code);
