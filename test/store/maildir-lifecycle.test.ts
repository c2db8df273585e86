// The Maildir store's life around its files: what a crash or another tool leaves in
// tmp/ is removed at open, UIDs never come back after the index is lost, the internal
// date reaches every copy of a delivery, directories made again keep their mode, and
// the account cache neither evicts an account under its opener nor deletes one under it.
import { mkdtempSync } from 'node:fs';
import { mkdir, readdir, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MaildirStore } from '../../src/store/maildir/index.js';
import type { MailStore, Uid } from '../../src/store/types.js';

const A = 'alice@example.test';
const B = 'bob@example.test';
const MSG = (n: number | string = 0): Buffer => Buffer.from(`From: x@y.test\r\nTo: ${A}\r\nSubject: test ${n}\r\n\r\nHello ${n}\r\n`);
const DAY = 24 * 3600_000;

let root: string;
let store: MaildirStore;
const extra: string[] = [];

function acctDir(account = A): string {
  const [local, domain] = account.split('@');
  return path.join(root, 'maildir', domain!, local!);
}

async function listed(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).sort();
}

async function loseIndex(account = A): Promise<void> {
  for (const f of ['index.sqlite', 'index.sqlite-wal', 'index.sqlite-shm']) await rm(path.join(acctDir(account), f), { force: true });
}

async function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_r, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not done after ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

beforeEach(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'store-life-'));
  store = new MaildirStore({ dataRoot: root });
  await store.ensureAccount(A);
});

afterEach(async () => {
  await store.close();
  await rm(root, { recursive: true, force: true });
  for (const d of extra.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('tmp/ at open', () => {
  it('removes stale leftovers in every folder\'s tmp/, not only the account root\'s', async () => {
    await store.createMailbox(A, 'Lists/Work');
    await store.close();
    const old = new Date(Date.now() - 2 * DAY);
    const stale = [path.join(acctDir(), 'tmp', 'root-left'), path.join(acctDir(), '.Sent', 'tmp', 'append-left'), path.join(acctDir(), '.Lists.Work', 'tmp', 'copy-left.copy')];
    for (const f of stale) {
      await writeFile(f, 'half a message');
      await utimes(f, old, old);
    }
    const fresh = path.join(acctDir(), '.Sent', 'tmp', 'being-written');
    await writeFile(fresh, 'another writer');
    store = new MaildirStore({ dataRoot: root });
    await store.getMailbox(A, 'INBOX');
    for (const f of stale) expect(await stat(f).then(() => 'there', () => 'gone'), f).toBe('gone');
    expect(await stat(fresh).then(() => 'there', () => 'gone')).toBe('there');
  });

  it('goes on past an entry it cannot find again (a name that is not UTF-8 here)', async () => {
    await store.close();
    const old = new Date(Date.now() - 2 * DAY);
    const tmp = path.join(acctDir(), 'tmp');
    // readdir gives this name with U+FFFD in place of the byte, so a stat by that name
    // finds nothing: the same as a file that vanished between the listing and the stat.
    const odd = Buffer.concat([Buffer.from(tmp + path.sep), Buffer.from([0x61, 0xff, 0x62])]);
    await writeFile(odd, 'x');
    await utimes(odd, old, old);
    const names = ['z1', 'z2', 'z3'];
    for (const n of names) {
      await writeFile(path.join(tmp, n), 'x');
      await utimes(path.join(tmp, n), old, old);
    }
    await mkdir(path.join(tmp, '.deleted-7-1'), { recursive: true });
    store = new MaildirStore({ dataRoot: root });
    await store.getMailbox(A, 'INBOX');
    expect(await listed(tmp)).toEqual([]);
  });
});

describe('UIDs after the index is lost (RFC 9051 §2.3.1.1: never reused under one UIDVALIDITY)', () => {
  it('UIDs given by deliveries and then removed are not given again', async () => {
    const inbox = await store.getMailbox(A, 'INBOX');
    const got: number[] = [];
    for (let i = 0; i < 3; i++) got.push((await store.deliver([{ account: A }], { data: MSG(i) }))[0]!.uid);
    await store.close();
    // Another tool (mutt) deletes the newest message while the server is down, and the index is lost.
    const newDir = path.join(acctDir(), 'new');
    for (const n of await listed(newDir)) if (n.includes(`,U=${got[2]}`)) await rm(path.join(newDir, n));
    await loseIndex();
    store = new MaildirStore({ dataRoot: root });
    const after = await store.getMailbox(A, 'INBOX');
    expect(after.uidValidity).toBe(inbox.uidValidity);
    const [d] = await store.deliver([{ account: A }], { data: MSG('next') });
    expect(d!.uid).toBeGreaterThan(got[2]!);
  });

  it('an expunge racing deliveries does not write a UIDNEXT older than theirs', async () => {
    const inbox = await store.getMailbox(A, 'INBOX');
    for (let i = 0; i < 5; i++) await store.append(A, 'INBOX', { data: MSG(i) });
    const [, delivered] = await Promise.all([
      store.expunge(A, inbox.id, [1 as Uid]),
      Promise.all(Array.from({ length: 6 }, (_v, i) => store.deliver([{ account: A }], { data: MSG(`d${i}`) }))),
    ]);
    const top = Math.max(...delivered.map((r) => r[0]!.uid));
    await store.close();
    // The delivered messages are removed by another tool, and the index is lost.
    for (const sub of ['new', 'cur']) {
      for (const n of await listed(path.join(acctDir(), sub))) {
        const uid = Number(/,U=(\d+)/.exec(n)?.[1]);
        if (uid > 5) await rm(path.join(acctDir(), sub, n));
      }
    }
    await loseIndex();
    store = new MaildirStore({ dataRoot: root });
    const { uid } = await store.append(A, 'INBOX', { data: MSG('after') });
    expect(uid).toBeGreaterThan(top);
  });
});

describe('delivery', () => {
  it('gives the internal date to every target, also to a copy on another file system', async (ctx) => {
    const shm = '/dev/shm';
    const dev = async (p: string): Promise<number | undefined> => (await stat(p).catch(() => undefined))?.dev;
    if ((await dev(shm)) === undefined || (await dev(shm)) === (await dev(root))) return ctx.skip();
    // Bob's Maildir lives on another disk (a symlinked account directory).
    const away = mkdtempSync(path.join(shm, 'store-life-'));
    extra.push(away);
    await mkdir(path.dirname(acctDir(B)), { recursive: true });
    await symlink(away, acctDir(B));
    const date = new Date('2019-05-06T07:08:09Z');
    const r = await store.deliver([{ account: A }, { account: B }, { account: B, mailbox: 'Archive' }], { data: MSG(1) }, { internalDate: date });
    expect(r).toHaveLength(3);
    for (const [account, folder] of [
      [A, ''],
      [B, ''],
      [B, '.Archive'],
    ] as const) {
      const dir = path.join(acctDir(account), folder, 'new');
      const [name] = await listed(dir);
      expect((await stat(path.join(dir, name!))).mtime.getTime(), `${account} ${folder}`).toBe(date.getTime());
    }
    // So an index rebuilt from the files keeps it.
    await store.close();
    await loseIndex(B);
    store = new MaildirStore({ dataRoot: root });
    const archive = await store.getMailbox(B, 'Archive');
    const [meta] = await store.fetchMeta(B, archive.id);
    expect(meta!.internalDate.getTime()).toBe(date.getTime());
  });
});

describe('directories', () => {
  it('a folder directory removed by another tool is made again with mode 0750', async () => {
    const mask = process.umask(0o022);
    try {
      await rm(path.join(acctDir(), '.Sent', 'new'), { recursive: true });
      await rm(path.join(acctDir(), '.Sent', 'tmp'), { recursive: true });
      await store.selectMailbox(A, 'Sent');
      for (const d of ['new', 'tmp', 'cur']) expect((await stat(path.join(acctDir(), '.Sent', d))).mode & 0o777, d).toBe(0o750);
    } finally {
      process.umask(mask);
    }
  });
});

describe('the account cache', () => {
  it('an account just opened is not evicted under its opener, even with room for one', async () => {
    await store.close();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let analysing = 0;
    store = new MaildirStore({
      dataRoot: root,
      maxOpenAccounts: 1,
      // Holds A's delivery (and so A's account) open until released.
      analyzer: async () => {
        analysing++;
        await held;
        return {};
      },
    });
    await store.ensureAccount(A);
    const busy = store.deliver([{ account: A }], { data: MSG(1) });
    while (analysing === 0) await new Promise((r) => setTimeout(r, 5));
    try {
      await within(5000, store.ensureAccount(B), 'opening B while A is busy');
      await within(5000, store.getMailbox(B, 'INBOX'), 'using B');
    } finally {
      release();
      await busy;
    }
    expect((await store.getMailbox(A, 'INBOX')).messages).toBe(1);
  });

  it('removeAccount during the first open leaves no half account behind', async () => {
    for (let round = 0; round < 5; round++) {
      const results = await Promise.allSettled([store.ensureAccount(B), store.removeAccount(B)]);
      expect(results.map((r) => r.status), `round ${round}: ${results.map((r) => (r.status === 'rejected' ? String(r.reason) : '')).join(' ')}`).toEqual(['fulfilled', 'fulfilled']);
      // Whichever ran last, B is either gone entirely or whole (folders and an index on disk).
      if (await stat(acctDir(B)).then(() => true, () => false)) {
        expect((await stat(path.join(acctDir(B), 'index.sqlite'))).isFile()).toBe(true);
        expect((await stat(path.join(acctDir(B), '.Sent', 'cur'))).isDirectory()).toBe(true);
      }
      // And B opens afresh, whole, with an index that is on disk.
      await store.deliver([{ account: B }], { data: MSG(round) });
      expect((await store.getMailbox(B, 'INBOX')).messages).toBe(1);
      expect((await stat(path.join(acctDir(B), 'index.sqlite'))).isFile()).toBe(true);
      expect((await stat(path.join(acctDir(B), '.Sent', 'cur'))).isDirectory()).toBe(true);
      await store.removeAccount(B);
    }
  });
});

describe('close', () => {
  it('waits for operations under way; they finish, later calls fail with StoreError closed', async () => {
    const s: MailStore = store;
    const work = Promise.all(Array.from({ length: 10 }, (_v, i) => s.deliver([{ account: A }, { account: A, mailbox: 'Sent' }], { data: MSG(i) })));
    const moreWork = s.createMailbox(A, 'Made/While/Closing');
    await s.close();
    await expect(work).resolves.toHaveLength(10);
    await expect(moreWork).resolves.toMatchObject({ name: 'Made/While/Closing' });
    await expect(s.getMailbox(A, 'INBOX')).rejects.toMatchObject({ name: 'StoreError', kind: 'closed' });
    await expect(s.deliver([{ account: A }], { data: MSG('late') })).rejects.toMatchObject({ name: 'StoreError', kind: 'closed' });
    // Nothing half done: a new store sees all 20 copies.
    store = new MaildirStore({ dataRoot: root });
    expect((await store.getMailbox(A, 'INBOX')).messages).toBe(10);
    expect((await store.getMailbox(A, 'Sent')).messages).toBe(10);
  });
});
