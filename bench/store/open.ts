/**
 * openMailbox on a large mailbox: 100 000 files written straight into cur/ (as an
 * import would), indexed by reindex, then opened with nothing changed (must not list
 * cur/), after one flag change (still no listing: our own change keeps the stored
 * mtime), and after another tool added a file (one full scan, with the longest stall of
 * the event loop during it).
 *
 *   npx tsx bench/store/open.ts [messages=100000]
 */
import { mkdtempSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MaildirStore } from '../../src/store/maildir/index.js';
import type { Uid } from '../../src/store/types.js';

const N = Number(process.argv[2] ?? 100_000);
const root = mkdtempSync(path.join(os.tmpdir(), 'bench-open-'));
const A = 'big@example.test';
const time = async <T>(label: string, fn: () => Promise<T>): Promise<T> => {
  const t = performance.now();
  const r = await fn();
  console.log(`${label.padEnd(44)} ${(performance.now() - t).toFixed(0).padStart(6)} ms`);
  return r;
};
try {
  const store = new MaildirStore({ dataRoot: root, fsync: false });
  await store.ensureAccount(A);
  const cur = path.join(store.accountRoot(A), 'cur');
  const body = Buffer.from('Subject: x\r\n\r\nhello\r\n');
  await time(`write ${N} files into cur/`, async () => {
    for (let i = 1; i <= N; i += 500) {
      await Promise.all(
        Array.from({ length: Math.min(500, N - i + 1) }, (_, k) => writeFile(path.join(cur, `1700000000.M${i + k}P1Q1.host,S=${body.length},U=${i + k}:2,S`), body)),
      );
    }
  });
  await new Promise((r) => setTimeout(r, 1100));
  const rep = await time('reindex', () => store.reindex(A));
  console.log(`  indexed ${rep.added} messages`);
  const snap = await time('open, nothing changed', () => store.openMailbox(A, 'INBOX'));
  await time('open, nothing changed (again)', () => store.openMailbox(A, 'INBOX'));
  await time('updateFlags on one message', () => store.updateFlags(A, snap.mailbox.id, [5 as Uid], 'add', ['\\Flagged']));
  await time('open after our own flag change', () => store.openMailbox(A, 'INBOX'));
  await new Promise((r) => setTimeout(r, 50));
  await writeFile(path.join(cur, 'foreign.P2.otherhost:2,'), body);
  // The longest the event loop went without a turn (other sessions wait that long).
  let last = performance.now();
  let longest = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 1);
  const s2 = await time('open after another tool added a file (rescan)', () => store.openMailbox(A, 'INBOX'));
  clearInterval(ticker);
  console.log(`  messages now ${s2.messages.length}; longest event-loop stall during the rescan ${longest.toFixed(0)} ms`);
  await time('open, nothing changed', () => store.openMailbox(A, 'INBOX'));
  await store.close();
} finally {
  await rm(root, { recursive: true, force: true });
}
