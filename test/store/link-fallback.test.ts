// The hard link → fsynced copy fallback of the durable file steps (src/util/fs.ts
// linkOrCopy): a source on another file system (EXDEV) or one that takes no more links
// (EMLINK) is copied whole under tmp/ and renamed in, the caller's file is left alone,
// and nothing stays in tmp/. It runs on every machine with link(2) refused on purpose
// (the linker hook), and on a real second file system (tmpfs /dev/shm) where there is one.
import { mkdtempSync } from 'node:fs';
import { link, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { adopt, queueDir } from '../../src/queue/spool.js';
import { createStore } from '../../src/store/index.js';
import type { MailStore, Uid } from '../../src/store/types.js';
import { linker } from '../../src/util/fs.js';

const A = 'alice@example.test';
const B = 'bob@example.test';
const MSG = Buffer.from('From: x@y.test\r\nTo: alice@example.test\r\nSubject: far away\r\n\r\nHello from another disk\r\n');

let root: string;
let store: MailStore;
/** Links refused, by source path prefix. */
let refused: { prefix: string; code: string } | undefined;
let refusals = 0;

const acctDir = (account: string): string => {
  const [local, domain] = account.split('@');
  return path.join(root, 'maildir', domain!, local!);
};
const files = async (dir: string): Promise<string[]> => (await readdir(dir)).filter((n) => !n.startsWith('.')).sort();

beforeEach(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'store-link-'));
  store = createStore({ dataRoot: root });
  await store.ensureAccount(A);
  await store.ensureAccount(B);
  refused = undefined;
  refusals = 0;
  linker.link = async (src, dest) => {
    if (refused && src.startsWith(refused.prefix)) {
      refusals++;
      throw Object.assign(new Error(`${refused.code}: link refused (test)`), { code: refused.code });
    }
    return link(src, dest);
  };
});

afterEach(async () => {
  linker.link = link;
  await store.close();
  await rm(root, { recursive: true, force: true });
});

/**
 * Both accounts got the message once, tmp/ empty, the caller's file untouched; from one
 * copy linked between the mailboxes (`copies` 1: a source on another device is staged
 * once) or one copy each (links refused everywhere).
 */
async function expectDelivered(src: string, copies: number): Promise<void> {
  const inodes = new Set<bigint>();
  for (const acc of [A, B]) {
    const names = await files(path.join(acctDir(acc), 'new'));
    expect(names, acc).toHaveLength(1);
    const file = path.join(acctDir(acc), 'new', names[0]!);
    expect(await readFile(file)).toEqual(MSG);
    inodes.add((await stat(file, { bigint: true })).ino);
    expect(await files(path.join(acctDir(acc), 'tmp')), `${acc} tmp/`).toEqual([]);
  }
  expect(inodes.size).toBe(copies);
  expect(inodes.has((await stat(src, { bigint: true })).ino)).toBe(false); // not the source's inode
  expect((await stat(src)).nlink).toBe(1); // the caller's file untouched
  expect(await readFile(src)).toEqual(MSG);
}

describe('link refused: the fsynced copy', () => {
  for (const code of ['EXDEV', 'EMLINK', 'EPERM']) {
    it(`delivers a file it cannot link (${code}) to two accounts as copies`, async () => {
      const spool = path.join(root, 'spool');
      await mkdir(spool);
      const src = path.join(spool, 'm');
      await writeFile(src, MSG);
      refused = { prefix: spool, code };
      const res = await store.deliver([{ account: A }, { account: B }], { path: src });
      expect(res.map((r) => r.account)).toEqual([A, B]);
      expect(refusals).toBeGreaterThan(0); // the fallback ran
      await expectDelivered(src, 2);
    });
  }

  it('appends and copies between mailboxes when no link works at all', async () => {
    const src = path.join(root, 'append-literal');
    await writeFile(src, MSG);
    refused = { prefix: root, code: 'EXDEV' };
    const { mailboxId, uid } = await store.append(A, 'INBOX', { path: src });
    await store.copy(A, mailboxId, [uid], 'Archive');
    expect(refusals).toBeGreaterThanOrEqual(2);
    const archive = (await store.listMailboxes(A)).find((m) => m.name === 'Archive')!;
    const [copied] = await store.fetchMeta(A, archive.id);
    const { stream } = await store.readMessage(A, archive.id, copied!.uid as Uid);
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks)).toEqual(MSG);
    for (const dir of [path.join(acctDir(A), 'tmp'), path.join(acctDir(A), '.Archive', 'tmp')]) expect(await files(dir), dir).toEqual([]);
  });

  it('takes a file into the outbound queue by copying it', async () => {
    const src = path.join(root, 'outgoing');
    await writeFile(src, MSG);
    refused = { prefix: root, code: 'EXDEV' };
    const q = await adopt(root, src);
    expect(refusals).toBe(1);
    expect(q.size).toBe(MSG.length);
    expect(await readFile(q.abs)).toEqual(MSG);
    expect((await stat(q.abs)).ino).not.toBe((await stat(src)).ino);
    expect((await readdir(queueDir(root))).filter((n) => n.endsWith('.copy'))).toEqual([]);
  });
});

// A second file system for real: tmpfs /dev/shm (Linux, and Docker gives every
// container one). Skipped, and named as skipped, where it is missing or on the same device.
const shm = '/dev/shm';
const otherFs = await stat(shm).then(
  async (s) => s.dev !== (await stat(os.tmpdir())).dev,
  () => false,
);

describe.skipIf(!otherFs)(`a source on another file system (${shm})`, () => {
  it('is copied once (EXDEV from the kernel), then linked between mailboxes', async () => {
    const dir = mkdtempSync(path.join(shm, 'store-src-'));
    try {
      const src = path.join(dir, 'm');
      await writeFile(src, MSG);
      await store.deliver([{ account: A }, { account: B }], { path: src });
      await expectDelivered(src, 1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
