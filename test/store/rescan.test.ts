// The full scan of a large cur/ after another tool changed it (sync.ts classifyCur):
// it compares names and rows a slice at a time, so the event loop serves others between
// slices, and deliveries that land while it runs are neither lost nor indexed twice.
// Real files, real SQLite; the order of events is asserted, never wall time.
import { linkSync, mkdtempSync, writeFileSync } from 'node:fs';
import { readdir, rename, rm, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MaildirStore } from '../../src/store/maildir/index.js';
import { IndexQueries } from '../../src/store/maildir/queries.js';
import { openSnapshot, type StoreChange, type Uid } from '../../src/store/types.js';

const A = 'alice@example.test';
const MSG = (n: number): Buffer => Buffer.from(`From: x@y.test\r\nTo: ${A}\r\nSubject: m ${n}\r\n\r\nHello ${n}\r\n`);
/** More files than three of the scan's slices (4 096). */
const FILES = 3 * 4096 + 300;

let root: string;
let store: MaildirStore;
let cur: string;
const original = IndexQueries.prototype.keysAfter;

beforeEach(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'rescan-test-'));
  store = new MaildirStore({ dataRoot: root, fsync: false });
  await store.ensureAccount(A);
  cur = path.join(store.accountRoot(A), 'cur');
  // Another tool's import: one file under many names (hard links), read and unread.
  const src = path.join(root, 'src.eml');
  writeFileSync(src, MSG(0));
  for (let i = 0; i < FILES; i++) linkSync(src, path.join(cur, `17000${String(i).padStart(5, '0')}.M${i}P1.tool:2,${i % 2 ? 'S' : ''}`));
  expect((await openSnapshot(store, A, 'INBOX')).messages).toHaveLength(FILES);
});

afterEach(async () => {
  IndexQueries.prototype.keysAfter = original;
  await store.close();
  await rm(root, { recursive: true, force: true });
});

describe('rescan of a large cur/', () => {
  it('serves other work between its slices; deliveries into cur/ meanwhile are kept once each, and the changes of the other tool are taken over', async () => {
    const names = (await readdir(cur)).sort();
    // The other tool: one new file, one file marked flagged (renamed), one deleted.
    await writeFile(path.join(cur, '1800000000.M1P1.other:2,'), MSG(99_999_999));
    const flagged = names.find((n) => n.endsWith(':2,S'))!;
    await rename(path.join(cur, flagged), path.join(cur, flagged.replace(/:2,S$/, ':2,FS')));
    const removed = names.find((n) => n.endsWith(':2,'))!;
    await unlink(path.join(cur, removed));
    const events: StoreChange[] = [];
    store.changes.subscribe(A, (c) => events.push(c));

    // Deliveries with a flag go straight into cur/ (Sieve fileinto :flags), one after another until the scan ends.
    let delivered = 0;
    // A turn counter: a callback per turn of the event loop, read at each slice of rows.
    let turns = 0;
    let ticking = true;
    const tick = (): void => {
      turns++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const atSlice: number[] = [];
    IndexQueries.prototype.keysAfter = function (...a: Parameters<typeof original>) {
      atSlice.push(turns);
      return original.apply(this, a);
    };
    let scanning = true;
    const uids: Uid[] = [];
    const deliveries = (async () => {
      while (scanning) {
        const [r] = await store.deliver([{ account: A, flags: ['\\Seen'] }], { data: MSG(1000 + delivered) });
        uids.push(r!.uid);
        delivered++;
      }
    })();
    const snap = await openSnapshot(store, A, 'INBOX');
    scanning = false;
    ticking = false;
    await deliveries;

    // Slices, with a turn of the event loop between each and the next (the old scan read every row in one).
    expect(atSlice.length).toBeGreaterThanOrEqual(4);
    for (let i = 1; i < atSlice.length; i++) expect(atSlice[i]!).toBeGreaterThan(atSlice[i - 1]!);
    expect(delivered).toBeGreaterThan(0);

    const after = await openSnapshot(store, A, 'INBOX');
    const all = after.messages.map((m) => m.uid);
    expect(new Set(all).size).toBe(all.length);
    expect(all).toHaveLength(FILES - 1 + 1 + delivered);
    for (const u of uids) expect(all).toContain(u);
    // Nothing delivered was reported expunged; the removed file was.
    const expunged = events.flatMap((e) => (e.kind === 'expunged' ? e.uids : []));
    expect(expunged).toHaveLength(1);
    expect(uids.filter((u) => expunged.includes(u))).toEqual([]);
    // The rescan's own answer already has the other tool's new file and not its deleted one.
    expect(snap.messages.filter((m) => m.size === MSG(99_999_999).length)).toHaveLength(1);
    expect(snap.messages.map((m) => m.uid)).not.toContain(expunged[0]);
    // The rename by the other tool is taken over; its new file is indexed once.
    expect(after.messages.filter((m) => m.flags.includes('\\Flagged'))).toHaveLength(1);
    expect(after.messages.filter((m) => m.size === MSG(99_999_999).length)).toHaveLength(1);
    // One row per file, and a full reindex finds nothing to add or remove.
    expect((await readdir(cur)).filter((n) => !n.startsWith('.'))).toHaveLength(all.length);
    expect(await store.reindex(A)).toMatchObject({ added: 0, removed: 0, messages: all.length });
  }, 60_000);
});
