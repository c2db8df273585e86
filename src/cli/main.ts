#!/usr/bin/env -S MALLOC_TRIM_THRESHOLD_=131072 node --max-semi-space-size=8
/**
 * The `mailserver` executable (package.json `bin` → dist/cli/main.js). All logic is in
 * index.ts so tests and the docs generator can use the command table directly.
 *
 * The first line is the server's start path (Dockerfile, `npm start`) and sets what must
 * be set before the process starts (issue 16: RSS with a 100 000-message mailbox selected
 * within 40 MB of idle):
 * - MALLOC_TRIM_THRESHOLD_ fixes glibc's thresholds at their defaults. Left dynamic, the
 *   first login's scrypt (a 16 MB buffer, freed) raises the trim threshold to 32 MB, and
 *   from then on no malloc arena gives freed memory back: 8-12 MB stayed resident after
 *   the full-text fill's worker and the thread pool had freed it.
 * - --max-semi-space-size=8: V8's young generation stops at the 16 MB it reaches at
 *   start instead of doubling to 32 MB during a 100 000-line FETCH and staying there
 *   until a memory-reducing GC; scavenge time for SELECT and FETCH was the same.
 * `node dist/cli/main.js` works too, without them.
 */
import './threadpool.js';
import { runCli } from './index.js';

const code = await runCli(process.argv.slice(2), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env });
// Exit explicitly: a closed server or a paused stdin must not keep the process alive.
// Writes to pipes and files are synchronous on Linux, so nothing printed is lost.
process.exit(code);
