/**
 * FETCH of one small MIME part at the end of a 25 MB message (issue 15 item 7): the
 * time of `FETCH 1 (BODY.PEEK[2])` over a socket and the bytes the server process read
 * for it (rchar of /proc/self/io: every read(2) of the process, the command and the
 * response on the sockets included, a few hundred bytes), with the store's positioned
 * range reads, and without them (the path of a store lacking readMessageRange, and of
 * every FETCH before: the message read from byte 0 up to the part). Prints figures,
 * asserts nothing. The server, the store and the client run in this one process.
 *
 *   npx tsx bench/mime-fetch/run.ts        (BENCH_FETCH_RUNS=20 fetches per path)
 */
import { readFileSync } from 'node:fs';
import { startImapFixture, PASS, USER } from '../../test/imap/fixture.js';
import { RawImap } from '../../test/helpers/raw-imap.js';
import type { MailStore } from '../../src/store/types.js';

const RUNS = Number(process.env.BENCH_FETCH_RUNS ?? 20);
const MB25 = 25 * 1024 * 1024;

function rchar(): number {
  return Number(/^rchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))![1]);
}

/** The store as it is, or without readMessageRange (reads from byte 0). */
function withoutRanges(store: MailStore): MailStore {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'readMessageRange') return undefined;
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const f = await startImapFixture();
try {
  const line = 'x'.repeat(998) + '\r\n';
  const eml = Buffer.from(
    'From: big@example.org\r\nSubject: big\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="B"\r\n\r\n' +
      '--B\r\nContent-Type: application/octet-stream\r\n\r\n' +
      line.repeat(Math.ceil(MB25 / line.length)) +
      '\r\n--B\r\nContent-Type: text/plain\r\n\r\nthe end\r\n--B--\r\n',
  );
  await f.ctx.store.append(USER, 'INBOX', { data: eml });
  const raw = await RawImap.connect(f.port);
  await raw.cmd(`LOGIN ${USER} ${PASS}`);
  await raw.cmd('EXAMINE INBOX');
  const real = f.ctx.store;
  console.log(`message: ${(eml.length / 1048576).toFixed(1)} MB, part 2: 7 bytes at its end; ${RUNS} runs per path, medians`);
  for (const [label, store] of [
    ['from byte 0 (before)', withoutRanges(real)],
    ['range reads (after)', real],
  ] as const) {
    f.ctx.store = store;
    await raw.cmd('FETCH 1 (BODY.PEEK[2])'); // warm-up
    const ms: number[] = [];
    const bytes: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const r0 = rchar();
      const t0 = performance.now();
      await raw.cmd('FETCH 1 (BODY.PEEK[2])');
      ms.push(performance.now() - t0);
      bytes.push(rchar() - r0);
    }
    console.log(`${label.padEnd(22)} ${median(ms).toFixed(2).padStart(8)} ms  ${median(bytes).toLocaleString('en').padStart(12)} bytes read`);
  }
  f.ctx.store = real;
  raw.close();
} finally {
  await f.close();
}
