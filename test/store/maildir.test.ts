// The store contract over MaildirStore in temp data roots: mailboxes, durable delivery,
// flags in file names, expunge, copy/move, CONDSTORE modseqs, usage and quota, files of
// other tools, reindex and failure cleanup. Real files, real SQLite, no mocks.
import { mkdtempSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { text } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createStore } from '../../src/store/index.js';
import { MaildirStore } from '../../src/store/maildir/index.js';
import { UID_FILE_AHEAD } from '../../src/store/maildir/uidlist.js';
import { StoreError, type MailboxId, type Quota, type StoreChange, type Uid, openSnapshot } from '../../src/store/types.js';

const A = 'alice@example.test';
const B = 'bob@example.test';
const MSG = (n = 0): Buffer => Buffer.from(`From: x@y.test\r\nTo: alice@example.test\r\nSubject: test ${n}\r\n\r\nHello ${n}\r\n`);

let root: string;
let store: MaildirStore;
let quotas: Map<string, Quota>;

function make(opts: { analyzer?: Parameters<typeof createStore>[0]['analyzer'] } = {}): MaildirStore {
  return new MaildirStore({ dataRoot: root, quotaOf: (a) => quotas.get(a), ...opts });
}

const acctDir = (account = A): string => {
  const [local, domain] = account.split('@');
  return path.join(root, 'maildir', domain, local);
};
const files = async (dir: string): Promise<string[]> => (await readdir(dir)).filter((n) => !n.startsWith('.')).sort();

async function storeError(p: Promise<unknown>): Promise<StoreError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(StoreError);
    return e as StoreError;
  }
  throw new Error('expected a StoreError');
}

beforeEach(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'store-test-'));
  quotas = new Map();
  store = make();
  await store.ensureAccount(A);
});

afterEach(async () => {
  await store.close();
  await rm(root, { recursive: true, force: true });
});

describe('accounts and mailboxes', () => {
  it('creates the Maildir++ layout with special-use folders (RFC 6154)', async () => {
    const dir = acctDir();
    for (const d of ['cur', 'new', 'tmp', '.Sent/cur', '.Drafts/new', '.Junk/tmp', '.Trash/cur', '.Archive/cur']) {
      expect((await stat(path.join(dir, d))).isDirectory(), d).toBe(true);
    }
    expect((await stat(path.join(dir, '.Sent', 'maildirfolder'))).isFile()).toBe(true);
    const list = await store.listMailboxes(A);
    expect(list.map((m) => [m.name, m.specialUse, m.subscribed])).toEqual([
      ['INBOX', undefined, true],
      ['Archive', '\\Archive', true],
      ['Drafts', '\\Drafts', true],
      ['Junk', '\\Junk', true],
      ['Sent', '\\Sent', true],
      ['Trash', '\\Trash', true],
    ]);
    expect(new Set(list.map((m) => m.uidValidity)).size).toBe(list.length);
    await store.ensureAccount(A);
    expect((await store.listMailboxes(A)).length).toBe(6);
  });

  it('creates hierarchy with parents, renames with children, deletes leaves', async () => {
    await store.createMailbox(A, 'Projects/2024/Q1');
    expect((await store.listMailboxes(A)).map((m) => m.name)).toEqual(expect.arrayContaining(['Projects', 'Projects/2024', 'Projects/2024/Q1']));
    expect((await storeError(store.createMailbox(A, 'Projects'))).kind).toBe('exists');
    const before = await store.getMailbox(A, 'Projects/2024');
    await store.renameMailbox(A, 'Projects', 'Old/Work');
    const names = (await store.listMailboxes(A)).map((m) => m.name);
    expect(names).toEqual(expect.arrayContaining(['Old', 'Old/Work', 'Old/Work/2024', 'Old/Work/2024/Q1']));
    expect(names).not.toContain('Projects');
    expect((await stat(path.join(acctDir(), '.Old.Work.2024.Q1', 'cur'))).isDirectory()).toBe(true);
    await expect(stat(path.join(acctDir(), '.Projects'))).rejects.toThrow();
    // RENAME keeps UIDVALIDITY (the UIDs stay valid).
    expect((await store.getMailbox(A, 'Old/Work/2024')).uidValidity).toBe(before.uidValidity);
    expect((await storeError(store.renameMailbox(A, 'Old/Work', 'Sent'))).kind).toBe('exists');
    expect((await storeError(store.renameMailbox(A, 'Nope', 'X'))).kind).toBe('nonexistent');
    expect((await storeError(store.renameMailbox(A, 'Old', 'Old/Inner'))).kind).toBe('invalidName');
    expect((await storeError(store.deleteMailbox(A, 'Old/Work'))).kind).toBe('hasChildren');
    expect((await storeError(store.deleteMailbox(A, 'inbox'))).kind).toBe('noPermission');
    await store.deleteMailbox(A, 'Old/Work/2024/Q1');
    await expect(stat(path.join(acctDir(), '.Old.Work.2024.Q1'))).rejects.toThrow();
    expect((await storeError(store.getMailbox(A, 'Old/Work/2024/Q1'))).kind).toBe('nonexistent');
    // A re-created mailbox gets a new, larger UIDVALIDITY (RFC 9051 §2.3.1.1).
    const again = await store.createMailbox(A, 'Old/Work/2024/Q1');
    expect(again.uidValidity).toBeGreaterThan(before.uidValidity);
  });

  it('renaming INBOX moves its messages to the new mailbox and leaves INBOX empty (RFC 9051 §6.3.6)', async () => {
    await store.createMailbox(A, 'INBOX/Child');
    await store.deliver([{ account: A }], { data: MSG(1) });
    await store.deliver([{ account: A }], { data: MSG(2) });
    const changes: StoreChange[] = [];
    store.changes.subscribe(A, (c) => changes.push(c));
    await store.renameMailbox(A, 'INBOX', 'Old Inbox');
    const inbox = await openSnapshot(store, A, 'INBOX');
    expect(inbox.messages).toEqual([]);
    expect(inbox.mailbox.uidNext).toBe(3);
    const moved = await openSnapshot(store, A, 'Old Inbox');
    expect(moved.messages.map((m) => m.uid)).toEqual([1, 2]);
    expect(await text((await store.readMessage(A, moved.mailbox.id, 2 as Uid)).stream)).toBe(MSG(2).toString());
    expect(await files(path.join(acctDir(), 'cur'))).toEqual([]);
    expect(await files(path.join(acctDir(), 'new'))).toEqual([]);
    expect((await store.listMailboxes(A)).map((m) => m.name)).toContain('INBOX/Child');
    expect(changes.some((c) => c.kind === 'expunged' && c.uids.length === 2)).toBe(true);
    // New mail still goes to INBOX with fresh UIDs.
    const [d] = await store.deliver([{ account: A }], { data: MSG(3) });
    expect(d.uid).toBe(3);
  });

  it('refuses names that could escape the account directory', async () => {
    const outside = await readdir(path.join(root, 'maildir', 'example.test'));
    for (const bad of ['..', '../bob', 'a/../../../etc', '/etc', 'a//b', '~x', 'a\u0000b', 'a\rb', 'x'.repeat(600), Array(40).fill('d').join('/')]) {
      expect((await storeError(store.createMailbox(A, bad))).kind, JSON.stringify(bad)).toBe('invalidName');
      expect((await storeError(store.renameMailbox(A, 'Sent', bad))).kind).toBe('invalidName');
      expect((await storeError(store.append(A, bad, { data: MSG() }))).kind).toBe('invalidName');
    }
    expect((await storeError(store.ensureAccount('../../x@example.test'))).kind).toBe('invalidName');
    expect(await readdir(path.join(root, 'maildir', 'example.test'))).toEqual(outside);
    expect(await readdir(root)).toEqual(['maildir']);
  });

  it('removes an account with its Maildir and index; a later delivery starts afresh', async () => {
    await store.deliver([{ account: B }], { data: MSG(1) });
    expect((await stat(path.join(acctDir(B), 'index.sqlite'))).isFile()).toBe(true);
    await store.removeAccount(B);
    await expect(stat(acctDir(B))).rejects.toThrow();
    expect((await stat(acctDir(A))).isDirectory()).toBe(true);
    await store.removeAccount(B);
    const [d] = await store.deliver([{ account: B }], { data: MSG(2) });
    expect(d.uid).toBe(1);
    expect((await store.getMailbox(B, 'INBOX')).uidValidity).toBeGreaterThan(0);
  });

  it('keeps subscriptions', async () => {
    await store.createMailbox(A, 'Lists');
    expect((await store.getMailbox(A, 'Lists')).subscribed).toBe(false);
    await store.setSubscribed(A, 'Lists', true);
    expect((await store.getMailbox(A, 'Lists')).subscribed).toBe(true);
    await store.setSubscribed(A, 'Sent', false);
    expect((await store.getMailbox(A, 'Sent')).subscribed).toBe(false);
    expect((await storeError(store.setSubscribed(A, 'Missing', true))).kind).toBe('nonexistent');
  });

  it('a subscription outlives its mailbox (RFC 3501 §6.3.6), follows a rename, and can be removed by name', async () => {
    await store.createMailbox(A, 'Old/Child');
    await store.setSubscribed(A, 'Old/Child', true);
    await store.renameMailbox(A, 'Old', 'New');
    expect(await store.listSubscriptions(A)).toContain('New/Child');
    expect(await store.listSubscriptions(A)).not.toContain('Old/Child');
    await store.deleteMailbox(A, 'New/Child');
    expect(await store.listSubscriptions(A)).toContain('New/Child');
    await store.createMailbox(A, 'New/Child'); // made again: subscribed, as the name is
    expect((await store.getMailbox(A, 'New/Child')).subscribed).toBe(true);
    await store.deleteMailbox(A, 'New/Child');
    await store.setSubscribed(A, 'New/Child', false);
    expect(await store.listSubscriptions(A)).not.toContain('New/Child');
    await store.setSubscribed(A, 'Never/Subscribed', false); // no error
  });
});

describe('delivery and append', () => {
  it('delivers durably into new/ with size and UID in the name, and publishes "added"', async () => {
    const seen: StoreChange[] = [];
    store.changes.subscribe(A, (c) => seen.push(c));
    const [r] = await store.deliver([{ account: A }], { data: MSG(1) });
    expect(r).toEqual({ account: A, mailbox: 'INBOX', uid: 1 });
    expect(seen).toEqual([{ kind: 'added', account: A, mailboxId: expect.any(Number), uids: [1], origin: { via: 'deliver' } }]);
    const names = await files(path.join(acctDir(), 'new'));
    expect(names).toHaveLength(1);
    expect(names[0]).toMatch(new RegExp(`^\\d+\\.M\\d+P\\d+Q\\d+\\..+,S=${MSG(1).length},U=1$`));
    expect(await readFile(path.join(acctDir(), 'new', names[0]))).toEqual(MSG(1));
    expect(await files(path.join(acctDir(), 'tmp'))).toEqual([]);
    const info = await store.getMailbox(A, 'INBOX');
    expect(info).toMatchObject({ messages: 1, unseen: 1, recent: 1, size: MSG(1).length, uidNext: 2 });
  });

  it('stores one message for several mailboxes as hard links, once per mailbox, Junk falling back to INBOX', async () => {
    await store.ensureAccount(B);
    const spool = path.join(root, 'spool');
    await mkdir(spool);
    const src = path.join(spool, 'msg1');
    await writeFile(src, MSG(7));
    await store.deleteMailbox(B, 'Junk');
    const res = await store.deliver(
      [{ account: A }, { account: A, mailbox: 'inbox' }, { account: A, mailbox: 'Junk' }, { account: B, mailbox: 'Junk' }, { account: B }],
      { path: src },
    );
    expect(res.map((r) => [r.account, r.mailbox, r.uid])).toEqual([
      [A, 'INBOX', 1],
      [A, 'Junk', 1],
      [B, 'INBOX', 1],
    ]);
    const inodes = new Set<bigint>();
    for (const d of [path.join(acctDir(A), 'new'), path.join(acctDir(A), '.Junk', 'new'), path.join(acctDir(B), 'new')]) {
      const names = await files(d);
      expect(names).toHaveLength(1);
      inodes.add((await stat(path.join(d, names[0]), { bigint: true })).ino);
    }
    inodes.add((await stat(src, { bigint: true })).ino);
    expect(inodes.size).toBe(1);
    expect((await stat(src)).nlink).toBe(4);
    // The caller still owns the spool file; removing it leaves the mailbox copies intact.
    await unlink(src);
    const snap = await openSnapshot(store, B, 'INBOX');
    expect(await text((await store.readMessage(B, snap.mailbox.id, 1 as Uid)).stream)).toBe(MSG(7).toString());
  });

  it('gives each target its own flags when it has some (Sieve fileinto :flags), in one delivery', async () => {
    await store.ensureAccount(B);
    const res = await store.deliver([{ account: A }, { account: A, mailbox: 'Archive', flags: ['\\Seen', '$Label1'] }, { account: B, flags: ['\\Flagged'] }], { data: MSG(8) }, { flags: ['\\Answered'] });
    const flagsOf = async (acct: string, mailbox: string) => {
      const mb = await store.getMailbox(acct, mailbox);
      return (await store.fetchMeta(acct, mb.id))[0]!.flags.slice().sort();
    };
    expect(res.map((r) => [r.account, r.mailbox])).toEqual([[A, 'INBOX'], [A, 'Archive'], [B, 'INBOX']]);
    expect(await flagsOf(A, 'INBOX')).toEqual(['\\Answered']);
    expect(await flagsOf(A, 'Archive')).toEqual(['$Label1', '\\Seen']);
    expect(await flagsOf(B, 'INBOX')).toEqual(['\\Flagged']);
    // System flags live in the name: each copy is in cur/ with its own letters.
    expect((await files(path.join(acctDir(A), '.Archive', 'cur')))[0]).toMatch(/:2,S$/);
    expect((await files(path.join(acctDir(B), 'cur')))[0]).toMatch(/:2,F$/);
  });

  it('runs the analyzer once per delivered message and stores its result for every copy', async () => {
    await store.close();
    let calls = 0;
    store = make({
      analyzer: async (s) => {
        calls++;
        const body = Buffer.isBuffer(s) ? s.toString('latin1') : await text(s);
        return { envelope: { subject: /Subject: (.*)\r/.exec(body)?.[1] }, bodyStructure: ['text', 'plain'] };
      },
    });
    await store.ensureAccount(B);
    await store.deliver([{ account: A }, { account: A, mailbox: 'Archive' }, { account: B }], { data: MSG(3) });
    expect(calls).toBe(1);
    for (const [acc, mbox] of [
      [A, 'INBOX'],
      [A, 'Archive'],
      [B, 'INBOX'],
    ]) {
      const info = await store.getMailbox(acc, mbox);
      const [m] = await store.fetchMeta(acc, info.id);
      expect(m.envelope).toEqual({ subject: 'test 3' });
      expect(m.bodyStructure).toEqual(['text', 'plain']);
    }
  });

  it('a failure midway through deliver leaves no file and no index row anywhere', async () => {
    await store.ensureAccount(B);
    // Make B's INBOX unwritable for links: new/ replaced by a plain file (works as root too).
    await rm(path.join(acctDir(B), 'new'), { recursive: true });
    await writeFile(path.join(acctDir(B), 'new'), 'not a directory');
    const spool = path.join(root, 'spool-file');
    await writeFile(spool, MSG(9));
    await expect(store.deliver([{ account: A }, { account: A, mailbox: 'Sent' }, { account: B }], { path: spool })).rejects.toThrow();
    await expect(store.deliver([{ account: A }, { account: B }], { data: MSG(9) })).rejects.toThrow();
    for (const d of ['new', 'cur', 'tmp', '.Sent/new', '.Sent/cur']) expect(await files(path.join(acctDir(A), d)), d).toEqual([]);
    expect(await files(path.join(acctDir(B), 'tmp'))).toEqual([]);
    expect(await store.usage(A)).toEqual({ bytes: 0, messages: 0 });
    expect((await openSnapshot(store, A, 'INBOX')).messages).toEqual([]);
    expect((await stat(spool)).nlink).toBe(1);
  });

  it('append stores flags in the name (cur/), keeps internal date, accepts UIDVALIDITY and UIDs from outside', async () => {
    await store.createMailbox(A, 'Imported');
    const mb = await store.setUidState(A, 'Imported', { uidValidity: 12345 });
    expect(mb.uidValidity).toBe(12345);
    const date = new Date('2020-02-03T04:05:06Z');
    const r = await store.importMessage(A, 'Imported', { data: MSG(1) }, { flags: ['\\Seen', '\\Flagged', 'Work'], internalDate: date, uid: 100 });
    expect(r).toEqual({ uid: 100, uidValidity: 12345, mailboxId: mb.id });
    const cur = await files(path.join(acctDir(), '.Imported', 'cur'));
    expect(cur).toHaveLength(1);
    expect(cur[0]).toMatch(/,U=100:2,FS$/);
    expect((await stat(path.join(acctDir(), '.Imported', 'cur', cur[0]))).mtime.getTime()).toBe(date.getTime());
    const r2 = await store.append(A, 'Imported', { data: MSG(2) });
    expect(r2.uid).toBe(101);
    expect((await storeError(store.importMessage(A, 'Imported', { data: MSG(3) }, { uid: 50 }))).kind).toBe('exists');
    const meta = await store.fetchMeta(A, mb.id);
    expect(meta.map((m) => [m.uid, m.flags, m.internalDate.getTime()])).toEqual([
      [100, ['\\Seen', '\\Flagged', 'Work'], date.getTime()],
      [101, [], expect.any(Number)],
    ]);
    expect((await storeError(store.append(A, 'Nope', { data: MSG() }))).kind).toBe('nonexistent');
  });

  it('readMessage streams the file and survives a concurrent flag rename', async () => {
    const { mailboxId, uid } = await store.append(A, 'INBOX', { data: MSG(5) });
    const reads = [];
    for (let i = 0; i < 5; i++) {
      reads.push(store.readMessage(A, mailboxId, uid).then((r) => text(r.stream)));
      void store.updateFlags(A, mailboxId, [uid], i % 2 ? 'remove' : 'add', ['\\Seen']);
    }
    for (const body of await Promise.all(reads)) expect(body).toBe(MSG(5).toString());
    // Renamed by another tool behind our back: found again by a rescan.
    const cur = path.join(acctDir(), 'cur');
    await store.updateFlags(A, mailboxId, [uid], 'set', ['\\Seen']);
    const [name] = await files(cur);
    await rename(path.join(cur, name), path.join(cur, name.replace(/:2,.*$/, ':2,FS')));
    const r = await store.readMessage(A, mailboxId, uid);
    expect(r.size).toBe(MSG(5).length);
    expect(await text(r.stream)).toBe(MSG(5).toString());
    expect((await store.fetchMeta(A, mailboxId))[0].flags).toEqual(['\\Seen', '\\Flagged']);
    expect((await storeError(store.readMessage(A, mailboxId, 99 as Uid))).kind).toBe('nonexistent');
  });
});

describe('flags, modseq, expunge', () => {
  it('maps flags to sorted Maildir letters and back (DFPRST)', async () => {
    await store.deliver([{ account: A }], { data: MSG() });
    const snap = await openSnapshot(store, A, 'INBOX');
    expect(snap.mailbox.recent).toBe(1);
    const id = snap.mailbox.id;
    const name = async (): Promise<string> => (await files(path.join(acctDir(), 'cur')))[0];
    expect(await name()).toMatch(/,U=1:2,$/);
    await store.updateFlags(A, id, [1 as Uid], 'add', ['\\Seen', '\\answered', '\\Flagged', '\\Deleted', '\\Draft', '$Forwarded']);
    expect(await name()).toMatch(/:2,DFPRST$/);
    let [m] = await store.fetchMeta(A, id);
    expect(m.flags).toEqual(['\\Seen', '\\Answered', '\\Flagged', '\\Deleted', '\\Draft', '$Forwarded']);
    await store.updateFlags(A, id, [1 as Uid], 'remove', ['\\Deleted', '\\Draft', '$forwarded']);
    expect(await name()).toMatch(/:2,FRS$/);
    const before = await name();
    const res = await store.updateFlags(A, id, [1 as Uid], 'add', ['Important', '$Label1']);
    expect(res.changed[0].flags).toEqual(['\\Seen', '\\Answered', '\\Flagged', 'Important', '$Label1']);
    expect(await name()).toBe(before);
    await store.updateFlags(A, id, [1 as Uid], 'set', ['\\Draft', 'important']);
    expect(await name()).toMatch(/:2,D$/);
    [m] = await store.fetchMeta(A, id);
    expect(m.flags).toEqual(['\\Draft', 'important']);
    expect((await store.getMailbox(A, 'INBOX')).unseen).toBe(1);
  });

  it('bumps modseqs per change and honours UNCHANGEDSINCE (RFC 7162 §3.1.3)', async () => {
    for (let i = 0; i < 3; i++) await store.deliver([{ account: A }], { data: MSG(i) });
    const { mailbox } = await openSnapshot(store, A, 'INBOX');
    const h0 = mailbox.highestModseq;
    const r1 = await store.updateFlags(A, mailbox.id, [1, 2] as Uid[], 'add', ['\\Seen']);
    expect(r1.changed.map((c) => c.modseq)).toEqual([h0 + 1, h0 + 1]);
    expect((await store.getMailbox(A, 'INBOX')).highestModseq).toBe(h0 + 1);
    expect((await store.fetchMeta(A, mailbox.id, { changedSince: h0 })).map((m) => m.uid)).toEqual([1, 2]);
    const r2 = await store.updateFlags(A, mailbox.id, [1, 2, 3] as Uid[], 'add', ['\\Flagged'], { unchangedSince: h0 });
    expect(r2.failed).toEqual([1, 2]);
    expect(r2.changed.map((c) => c.uid)).toEqual([3]);
    const noop = await store.updateFlags(A, mailbox.id, [3] as Uid[], 'add', ['\\Flagged']);
    expect(noop.changed).toEqual([]);
    expect((await store.fetchMeta(A, mailbox.id, { uids: [3 as Uid] }))[0].modseq).toBe(h0 + 2);
  });

  it('expunges \\Deleted messages (files and rows) and never reuses their UIDs', async () => {
    for (let i = 0; i < 4; i++) await store.deliver([{ account: A }], { data: MSG(i) });
    const { mailbox } = await openSnapshot(store, A, 'INBOX');
    await store.updateFlags(A, mailbox.id, [2, 4] as Uid[], 'add', ['\\Deleted']);
    const changes: StoreChange[] = [];
    store.changes.subscribe(A, (c) => changes.push(c));
    expect(await store.expunge(A, mailbox.id)).toEqual([2, 4]);
    const { highestModseq } = await store.getMailbox(A, 'INBOX');
    expect(changes).toEqual([{ kind: 'expunged', account: A, mailboxId: mailbox.id, uids: [2, 4], modseq: highestModseq }]);
    expect(await files(path.join(acctDir(), 'cur'))).toHaveLength(2);
    expect(await store.usage(A)).toEqual({ bytes: MSG(0).length + MSG(2).length, messages: 2 });
    expect(await store.expunge(A, mailbox.id, [1 as Uid])).toEqual([1]);
    expect((await openSnapshot(store, A, 'INBOX')).messages.map((m) => m.uid)).toEqual([3]);
    const [d] = await store.deliver([{ account: A }], { data: MSG(5) });
    expect(d.uid).toBe(5);
  });
});

describe('copy and move', () => {
  it('copy hard-links with new UIDs and kept flags; move renames and expunges the source', async () => {
    for (let i = 0; i < 3; i++) await store.deliver([{ account: A }], { data: MSG(i) });
    const { mailbox } = await openSnapshot(store, A, 'INBOX');
    await store.updateFlags(A, mailbox.id, [2 as Uid], 'add', ['\\Seen', 'Work']);
    await store.append(A, 'Archive', { data: MSG(9) });
    // All or nothing: UID 77 is not there, so nothing is copied.
    expect((await store.copy(A, mailbox.id, [2, 3, 77] as Uid[], 'Archive')).from).toEqual([]);
    expect((await store.getMailbox(A, 'Archive')).messages).toBe(1);
    const cp = await store.copy(A, mailbox.id, [2, 3] as Uid[], 'Archive');
    const arch = await store.getMailbox(A, 'Archive');
    expect(cp).toEqual({ uidValidity: arch.uidValidity, from: [2, 3], to: [2, 3] });
    const archMeta = await store.fetchMeta(A, arch.id, { uids: [2 as Uid] });
    expect(archMeta[0].flags).toEqual(['\\Seen', 'Work']);
    const inoOf = async (dir: string, uid: number): Promise<bigint> => {
      const n = (await files(dir)).find((f) => f.includes(`,U=${uid}:`))!;
      return (await stat(path.join(dir, n), { bigint: true })).ino;
    };
    expect(await inoOf(path.join(acctDir(), '.Archive', 'cur'), 2)).toBe(await inoOf(path.join(acctDir(), 'cur'), 2));
    expect(await store.usage(A)).toEqual({ bytes: MSG(0).length + MSG(1).length * 2 + MSG(2).length * 2 + MSG(9).length, messages: 6 });

    const events: StoreChange[] = [];
    store.changes.subscribe(A, (c) => events.push(c));
    const mv = await store.move(A, mailbox.id, [1, 2] as Uid[], 'Trash');
    const trash = await store.getMailbox(A, 'Trash');
    expect(mv).toEqual({ uidValidity: trash.uidValidity, from: [1, 2], to: [1, 2] });
    expect(events.map((e) => e.kind)).toEqual(['expunged', 'added']);
    expect(events[1]).toMatchObject({ mailboxId: trash.id, origin: { via: 'move', from: mailbox.id } });
    expect((await openSnapshot(store, A, 'INBOX')).messages.map((m) => m.uid)).toEqual([3]);
    expect(await files(path.join(acctDir(), 'cur'))).toHaveLength(1);
    // Names sort by their delivery time's digits, not by UID: compare as a set.
    const inTrash = await files(path.join(acctDir(), '.Trash', 'cur'));
    expect(inTrash).toHaveLength(2);
    expect(inTrash).toEqual(expect.arrayContaining([expect.stringMatching(/,U=1:2,$/), expect.stringMatching(/,U=2:2,S$/)]));
    expect((await store.fetchMeta(A, trash.id)).map((m) => m.flags)).toEqual([[], ['\\Seen', 'Work']]);
    expect((await store.usage(A)).messages).toBe(6);
    expect((await storeError(store.copy(A, mailbox.id, [3 as Uid], 'Nowhere'))).kind).toBe('nonexistent');
  });
});

describe('usage and quota', () => {
  it('refuses appends, deliveries and copies over quota and changes nothing', async () => {
    await store.deliver([{ account: A }], { data: MSG(1) });
    const size = MSG(1).length;
    quotas.set(A, { bytes: size * 2 + 5 });
    await store.append(A, 'Sent', { data: MSG(1) });
    expect(await store.usage(A)).toEqual({ bytes: size * 2, messages: 2 });
    const e1 = await storeError(store.append(A, 'Sent', { data: MSG(1) }));
    expect(e1.kind).toBe('overQuota');
    const e2 = await storeError(store.deliver([{ account: A }], { data: MSG(1) }));
    expect(e2).toMatchObject({ kind: 'overQuota', account: A });
    const inbox = await store.getMailbox(A, 'INBOX');
    expect((await storeError(store.copy(A, inbox.id, [1 as Uid], 'Archive'))).kind).toBe('overQuota');
    quotas.set(A, { messages: 2 });
    expect((await storeError(store.deliver([{ account: A }], { data: MSG(2) }))).kind).toBe('overQuota');
    // Moving within the account does not grow usage, so it stays allowed over quota.
    await store.move(A, inbox.id, [1 as Uid], 'Trash');
    expect(await store.usage(A)).toEqual({ bytes: size * 2, messages: 2 });
    for (const d of ['new', 'cur', 'tmp', '.Sent/tmp', '.Archive/cur', '.Archive/new']) {
      expect(await files(path.join(acctDir(), d)), d).toEqual([]);
    }
    expect(await files(path.join(acctDir(), '.Sent', 'cur'))).toHaveLength(0);
    expect(await files(path.join(acctDir(), '.Sent', 'new'))).toHaveLength(1);
  });
});

describe('files of other tools and reindex', () => {
  it('picks up files dropped into new/ and cur/, takes over flag renames and notices deletions', async () => {
    const dir = acctDir();
    await store.deliver([{ account: A }], { data: MSG(1) });
    let snap = await openSnapshot(store, A, 'INBOX');
    const events: StoreChange[] = [];
    store.changes.subscribe(A, (c) => events.push(c));
    // Another MDA writes tmp/ → new/ (plain fs), mutt drops a read message into cur/.
    await writeFile(path.join(dir, 'new', '1700000000.P1Q1.otherhost'), MSG(2));
    await writeFile(path.join(dir, 'cur', '1700000001.P1Q2.otherhost:2,S'), MSG(3));
    snap = await openSnapshot(store, A, 'INBOX');
    expect(snap.messages.map((m) => [m.uid, m.flags])).toEqual([
      [1, []],
      [2, []],
      [3, ['\\Seen']],
    ]);
    expect(snap.mailbox.recent).toBe(1);
    expect(events.filter((e) => e.kind === 'added').flatMap((e) => (e.kind === 'added' ? e.uids : []))).toEqual([2, 3]);
    const cur = await files(path.join(dir, 'cur'));
    expect(cur).toHaveLength(3);
    // The file from new/ moves to cur/ carrying its UID; the one dropped into cur/ keeps
    // its name (renaming every file of a 100 000-message import made its first open slow).
    expect(cur.filter((n) => n.includes('otherhost')).sort()).toEqual([expect.stringMatching(/^1700000000\.P1Q1\.otherhost,U=2:2,$/), '1700000001.P1Q2.otherhost:2,S']);
    expect(await files(path.join(dir, 'new'))).toEqual([]);
    expect(await text((await store.readMessage(A, snap.mailbox.id, 2 as Uid)).stream)).toBe(MSG(2).toString());

    // mutt marks uid 2 flagged (rename) and deletes uid 1 (unlink).
    const n2 = cur.find((n) => n.includes(',U=2:'))!;
    await rename(path.join(dir, 'cur', n2), path.join(dir, 'cur', n2.replace(/:2,.*$/, ':2,F')));
    await unlink(path.join(dir, 'cur', cur.find((n) => n.includes(',U=1:'))!));
    snap = await openSnapshot(store, A, 'INBOX');
    expect(snap.messages.map((m) => [m.uid, m.flags])).toEqual([
      [2, ['\\Flagged']],
      [3, ['\\Seen']],
    ]);
    expect(events.some((e) => e.kind === 'expunged' && e.uids.includes(1 as Uid))).toBe(true);
    expect(await store.usage(A)).toEqual({ bytes: MSG(2).length + MSG(3).length, messages: 2 });
  });

  it('lists folders created and removed by other tools', async () => {
    const dir = path.join(acctDir(), '.Lists.node%2Ejs');
    for (const d of ['cur', 'new', 'tmp']) await mkdir(path.join(dir, d), { recursive: true });
    await writeFile(path.join(dir, 'new', '1700000000.P1Q1.host'), MSG(1));
    // Keep the UIDVALIDITY another instance of us recorded.
    await writeFile(path.join(dir, 'mailserver-uidvalidity'), 'V4242 N7\n');
    const old = new Date(Date.now() + 5000);
    await utimes(acctDir(), old, old);
    const list = await store.listMailboxes(A);
    const found = list.find((m) => m.name === 'Lists/node.js');
    expect(found).toMatchObject({ uidValidity: 4242, uidNext: 7 });
    const snap = await openSnapshot(store, A, 'Lists/node.js');
    expect(snap.messages.map((m) => m.uid)).toEqual([7]);
    await rm(path.join(acctDir(), '.Trash'), { recursive: true });
    await utimes(acctDir(), new Date(Date.now() + 9000), new Date(Date.now() + 9000));
    expect((await store.listMailboxes(A)).map((m) => m.name)).not.toContain('Trash');
  });

  it('indexes thousands of files dropped into the cur/ of an empty mailbox: UIDs by name, kept `,U=`, sizes, flags and counters', async () => {
    // Written in an order other than the names' (the listing order is the directory's).
    const N = 9000;
    const cur = path.join(acctDir(), 'cur');
    const name = (i: number): string => {
      const base = `${1700000000 + i}.M${i}P1.tool`;
      if (i === 7) return `${base},S=${MSG(i).length},U=9000:2,S`; // a free `,U=`: kept
      if (i === 8) return `${base}:2,F`; // no `,S=`: stat'ed
      return `${base},S=${MSG(i).length}:2,${i % 3 === 0 ? 'S' : ''}`;
    };
    const order = Array.from({ length: N }, (_, i) => (i * 7919) % N);
    for (let k = 0; k < N; k += 500) await Promise.all(order.slice(k, k + 500).map((i) => writeFile(path.join(cur, name(i)), MSG(i))));
    const snap = await openSnapshot(store, A, 'INBOX');
    expect(snap.messages).toHaveLength(N);
    const byUid = new Map(snap.messages.map((m) => [m.uid as number, m]));
    // The free `,U=` kept; the others after it (RFC 9051 §2.3.1.1: UIDs ascend), in name order (i).
    const fresh = (i: number): number => 9001 + (i < 7 ? i : i - 1);
    expect(byUid.get(9000)).toMatchObject({ size: MSG(7).length, flags: ['\\Seen'] });
    expect(byUid.get(fresh(0))).toMatchObject({ size: MSG(0).length, flags: ['\\Seen'] });
    expect(byUid.get(fresh(8))).toMatchObject({ size: MSG(8).length, flags: ['\\Flagged'] });
    expect(byUid.get(fresh(N - 1))).toMatchObject({ size: MSG(N - 1).length, flags: [] });
    expect(snap.messages.map((m) => m.uid)).toEqual(Array.from({ length: N }, (_, k) => 9000 + k));
    expect(snap.mailbox.uidNext).toBe(9000 + N);
    const bytes = Array.from({ length: N }, (_, i) => MSG(i).length).reduce((x, y) => x + y, 0);
    expect(await store.usage(A)).toEqual({ bytes, messages: N });
    const unseen = Array.from({ length: N }, (_, i) => i).filter((i) => i % 3 !== 0 && i !== 7).length;
    expect((await store.listMailboxes(A)).find((m) => m.name === 'INBOX')).toMatchObject({ messages: N, unseen });
    // A second open finds them indexed: nothing added.
    expect((await openSnapshot(store, A, 'INBOX')).messages).toHaveLength(N);
  });

  it('picks up around a name that is no file and a taken `,U=`: the others keep the UIDs planned for them', async () => {
    const cur = path.join(acctDir(), 'cur');
    const body = (i: number): Buffer => MSG(i);
    await writeFile(path.join(cur, `1700000001.M1P1.tool,S=${body(1).length},U=5:2,S`), body(1)); // kept: 5
    await writeFile(path.join(cur, `1700000002.M2P1.tool,S=${body(2).length},U=5:2,`), body(2)); // 5 taken: the first new UID
    await mkdir(path.join(cur, '1700000000.M0P1.tool:2,')); // no size in the name: stat'ed, no file, left out
    await writeFile(path.join(cur, '1700000003.M3P1.tool:2,F'), body(3)); // stat'ed
    await writeFile(path.join(cur, `1700000004.M4P1.tool,S=${body(4).length}:2,`), body(4)); // by name
    const snap = await openSnapshot(store, A, 'INBOX');
    // New UIDs after the kept one (RFC 9051 §2.3.1.1), `,U=` names first, then by name; the
    // UID planned for the directory is not given to another message.
    expect(snap.messages.map((m) => [m.uid, m.size, m.flags])).toEqual([
      [5, body(1).length, ['\\Seen']],
      [6, body(2).length, []],
      [8, body(3).length, ['\\Flagged']],
      [9, body(4).length, []],
    ]);
    expect(snap.mailbox.uidNext).toBe(10);
    expect((await store.listMailboxes(A)).find((m) => m.name === 'INBOX')).toMatchObject({ messages: 4, unseen: 3 });
    expect(await store.usage(A)).toEqual({ bytes: [1, 2, 3, 4].reduce((n, i) => n + body(i).length, 0), messages: 4 });
  });

  it('indexes a file left by a crash between link and index under the UID in its name', async () => {
    await store.deliver([{ account: A }], { data: MSG(1) });
    // As if the process died after linking uid 4 into new/ (uid 2 and 3 reserved, never stored).
    await writeFile(path.join(acctDir(), 'new', `1700000000.M1P9Q9.host,S=${MSG(4).length},U=4`), MSG(4));
    // A concurrent file of another tool carrying a UID that is taken gets a new one.
    await writeFile(path.join(acctDir(), 'new', `1700000000.M2P9Q9.host,S=${MSG(5).length},U=1`), MSG(5));
    const snap = await openSnapshot(store, A, 'INBOX');
    expect(snap.messages.map((m) => [m.uid, m.size])).toEqual([
      [1, MSG(1).length],
      [4, MSG(4).length],
      [5, MSG(5).length],
    ]);
    expect(snap.mailbox.uidNext).toBe(6);
    const [d] = await store.deliver([{ account: A }], { data: MSG(6) });
    expect(d.uid).toBe(6);
    expect(await text((await store.readMessage(A, snap.mailbox.id, 5 as Uid)).stream)).toBe(MSG(5).toString());
  });

  it('does not list cur/ on open while its mtime is unchanged (cheap open)', async () => {
    const cur = path.join(acctDir(), 'cur');
    const old = new Date(Date.now() - 60_000);
    await utimes(cur, old, old);
    await openSnapshot(store, A, 'INBOX');
    await writeFile(path.join(cur, 'hidden.P1.host:2,'), MSG(1));
    await utimes(cur, old, old);
    expect((await openSnapshot(store, A, 'INBOX')).messages).toEqual([]);
    const rep = await store.reindex(A);
    expect(rep.added).toBe(1);
    expect((await openSnapshot(store, A, 'INBOX')).messages.map((m) => m.uid)).toEqual([1]);
  });

  it('rebuilds a deleted index from the files with the same UIDVALIDITY and UIDs', async () => {
    await store.createMailbox(A, 'Lists/Node.js');
    for (let i = 0; i < 4; i++) await store.deliver([{ account: A }], { data: MSG(i) });
    await store.deliver([{ account: A, mailbox: 'Lists/Node.js' }], { data: MSG(10) });
    const { mailbox } = await openSnapshot(store, A, 'INBOX');
    await store.updateFlags(A, mailbox.id, [3 as Uid], 'add', ['\\Seen', '\\Answered']);
    await store.expunge(A, mailbox.id, [4 as Uid]);
    await store.deliver([{ account: A }], { data: MSG(5) }); // uid 5, still in new/
    const before = await store.listMailboxes(A);
    await store.close();
    for (const f of ['index.sqlite', 'index.sqlite-wal', 'index.sqlite-shm']) await rm(path.join(acctDir(), f), { force: true });

    store = make();
    const after = await store.listMailboxes(A);
    expect(after.map((m) => [m.name, m.uidValidity, m.specialUse])).toEqual(before.map((m) => [m.name, m.uidValidity, m.specialUse]));
    const inbox = await openSnapshot(store, A, 'INBOX');
    expect(inbox.messages.map((m) => [m.uid, m.flags])).toEqual([
      [1, []],
      [2, []],
      [3, ['\\Seen', '\\Answered']],
      [5, []],
    ]);
    // UIDNEXT comes back from mailserver-uidvalidity's high-water N: at least 6 (UIDs
    // only have to ascend; N runs up to UID_FILE_AHEAD beyond the UIDs given).
    expect(inbox.mailbox.uidNext).toBeGreaterThanOrEqual(6);
    expect(inbox.mailbox.uidNext).toBeLessThanOrEqual(6 + UID_FILE_AHEAD);
    expect((await openSnapshot(store, A, 'Lists/Node.js')).messages.map((m) => m.uid)).toEqual([1]);
    expect(await store.usage(A)).toEqual({ bytes: MSG(0).length * 3 + MSG(5).length + MSG(10).length, messages: 5 });
    // An expunged top UID is not handed out again.
    await store.expunge(A, inbox.mailbox.id, [5 as Uid]);
    await store.close();
    for (const f of ['index.sqlite', 'index.sqlite-wal', 'index.sqlite-shm']) await rm(path.join(acctDir(), f), { force: true });
    store = make();
    const [d] = await store.deliver([{ account: A }], { data: MSG(6) });
    expect(d.uid).toBeGreaterThanOrEqual(inbox.mailbox.uidNext);
    const rep = await store.reindex(A);
    expect(rep).toMatchObject({ mailboxes: 8, added: 0, removed: 0, messages: 5 });
  });
});

describe('light reads for SELECT and FETCH of flags', () => {
  it('selectMailbox and fetchMeta fields:flags agree with the full reads', async () => {
    await store.close();
    store = make({
      analyzer: async (s) => {
        if (!Buffer.isBuffer(s)) for await (const _ of s) void _;
        return { envelope: { subject: 'x' }, bodyStructure: { headerSize: 100, bodySize: 23 } };
      },
    });
    for (let i = 1; i <= 6; i++) await store.deliver([{ account: A }], { data: MSG(i) });
    const { mailbox } = await openSnapshot(store, A, 'INBOX');
    await store.updateFlags(A, mailbox.id, [1, 2, 4] as Uid[], 'add', ['\\Seen']);
    await store.updateFlags(A, mailbox.id, [4] as Uid[], 'add', ['$Work', '\\Flagged']);
    await store.updateFlags(A, mailbox.id, [5] as Uid[], 'add', ['$Later']);
    await store.expunge(A, mailbox.id, [6 as Uid]);

    const view = await store.selectMailbox(A, 'INBOX');
    const snap = await openSnapshot(store, A, 'INBOX');
    expect(view.uids).toEqual([1, 2, 3, 4, 5]);
    expect(view.uids).toEqual(snap.messages.map((m) => m.uid));
    expect(view.keywords.sort()).toEqual(['$Later', '$Work']);
    expect(view.firstUnseen).toBe(3);
    expect(view.mailbox).toEqual(snap.mailbox);

    const full = await store.fetchMeta(A, mailbox.id);
    const light = await store.fetchMeta(A, mailbox.id, { fields: 'flags', rfc822Size: true });
    expect(full[0]!.bodyStructure).toEqual({ headerSize: 100, bodySize: 23 });
    expect(light.map((m) => [m.uid, m.flags, m.modseq, m.size, m.internalDate.getTime()])).toEqual(
      full.map((m) => [m.uid, m.flags, m.modseq, m.size, m.internalDate.getTime()]),
    );
    expect(light.every((m) => m.envelope === undefined && m.bodyStructure === undefined && m.rfc822Size === 123)).toBe(true);
    const some = await store.fetchMeta(A, mailbox.id, { uids: [2, 4] as Uid[], fields: 'flags', changedSince: full[1]!.modseq - 1 });
    expect(some.map((m) => [m.uid, m.flags])).toEqual([
      [2, ['\\Seen']],
      [4, ['\\Seen', '\\Flagged', '$Work']],
    ]);

    await store.updateFlags(A, mailbox.id, [1, 2, 3, 4, 5] as Uid[], 'add', ['\\Seen']);
    expect((await store.selectMailbox(A, 'INBOX')).firstUnseen).toBeUndefined();
  });

  it('does not list cur/ again on SELECT while its mtime is unchanged', async () => {
    const dir = acctDir();
    for (let i = 1; i <= 3; i++) await store.deliver([{ account: A }], { data: MSG(i) });
    const cur = path.join(dir, 'cur');
    expect((await store.selectMailbox(A, 'INBOX')).uids).toEqual([1, 2, 3]); // new/ → cur/
    // A fixed whole-second mtime well in the past: trusted, and restorable exactly.
    const old = new Date('2020-01-01T00:00:00Z');
    await utimes(cur, old, old);
    expect((await store.selectMailbox(A, 'INBOX')).uids).toEqual([1, 2, 3]);
    // A file slipped in with the mtime put back is not seen (no listing of cur/)...
    await writeFile(path.join(cur, '1700000001.P1Q2.otherhost:2,S'), MSG(4));
    await utimes(cur, old, old);
    expect((await store.selectMailbox(A, 'INBOX')).uids).toEqual([1, 2, 3]);
    // ...until cur/ changes: then it is listed and the file indexed.
    const later = new Date('2021-01-01T00:00:00Z');
    await utimes(cur, later, later);
    expect((await store.selectMailbox(A, 'INBOX')).uids).toEqual([1, 2, 3, 4]);
  });
});

describe('index damage', () => {
  it('moves an unreadable index aside and rebuilds it from the files', async () => {
    for (let i = 0; i < 3; i++) await store.deliver([{ account: A }], { data: MSG(i) });
    const { mailbox } = await openSnapshot(store, A, 'INBOX');
    await store.updateFlags(A, mailbox.id, [2 as Uid], 'add', ['\\Seen']);
    await store.close();
    for (const f of ['index.sqlite-wal', 'index.sqlite-shm']) await rm(path.join(acctDir(), f), { force: true });
    await writeFile(path.join(acctDir(), 'index.sqlite'), Buffer.alloc(8192, 0x5a));
    store = make();
    const snap = await openSnapshot(store, A, 'INBOX');
    expect(snap.mailbox.uidValidity).toBe(mailbox.uidValidity);
    expect(snap.messages.map((m) => [m.uid, m.flags])).toEqual([
      [1, []],
      [2, ['\\Seen']],
      [3, []],
    ]);
    expect((await readdir(acctDir())).some((n) => n.startsWith('index.sqlite.corrupt-'))).toBe(true);
  });
});

describe('change bus', () => {
  it('delivers events per account only and unsubscribes', async () => {
    await store.ensureAccount(B);
    const a: StoreChange[] = [];
    const b: StoreChange[] = [];
    const offA = store.changes.subscribe(A, (c) => a.push(c));
    const all: StoreChange[] = [];
    const offAll = store.changes.subscribeAll((c) => all.push(c));
    store.changes.subscribe(B, (c) => b.push(c));
    store.changes.subscribe(B, () => {
      throw new Error('a broken listener does not stop the others');
    });
    await store.deliver([{ account: B }], { data: MSG() });
    expect(a).toEqual([]);
    expect(b).toEqual([{ kind: 'added', account: B, mailboxId: expect.any(Number), uids: [1], origin: { via: 'deliver' } }]);
    expect(all.map((c) => c.account)).toEqual([B]);
    offA();
    offAll();
    await store.deliver([{ account: A }], { data: MSG() });
    expect(a).toEqual([]);
  });

  it('concurrent deliveries into one mailbox get distinct UIDs and share directory fsyncs and index commits', async () => {
    const s = store as MaildirStore;
    const before = s.dirFsyncs;
    const commits = s.indexCommits;
    const res = await Promise.all(Array.from({ length: 50 }, (_, i) => store.deliver([{ account: A }], { data: MSG(i) })));
    expect(new Set(res.map((r) => r[0].uid)).size).toBe(50);
    expect(await files(path.join(acctDir(), 'new'))).toHaveLength(50);
    expect(await files(path.join(acctDir(), 'tmp'))).toEqual([]);
    expect(s.dirFsyncs - before).toBeLessThan(50);
    expect(s.indexCommits - commits).toBeLessThan(50);
    const snap = await openSnapshot(store, A, 'INBOX');
    expect(snap.messages).toHaveLength(50);
    expect(snap.mailbox.recent).toBe(50);
    expect((await store.getMailbox(A, 'INBOX')).recent).toBe(0);
    void (0 as unknown as MailboxId);
  });

  it('opens and flag changes racing with deliveries neither lose nor duplicate messages', async () => {
    const id = (await store.getMailbox(A, 'INBOX')).id;
    const deliveries = Promise.all(Array.from({ length: 120 }, (_, i) => store.deliver([{ account: A }, { account: A, mailbox: 'Archive' }], { data: MSG(i) })));
    const racing = (async () => {
      for (let i = 0; i < 15; i++) {
        const snap = await openSnapshot(store, A, 'INBOX');
        if (snap.messages.length) await store.updateFlags(A, id, [snap.messages[0].uid], i % 2 ? 'add' : 'remove', ['\\Seen']);
        await new Promise((r) => setImmediate(r));
      }
    })();
    const [res] = await Promise.all([deliveries, racing]);
    const snap = await openSnapshot(store, A, 'INBOX');
    expect(snap.messages.map((m) => m.uid)).toEqual(res.map((r) => r[0].uid).sort((x, y) => x - y));
    expect(new Set(snap.messages.map((m) => m.uid)).size).toBe(120);
    expect(await files(path.join(acctDir(), 'cur'))).toHaveLength(120);
    expect(await files(path.join(acctDir(), 'new'))).toEqual([]);
    expect(await store.usage(A)).toEqual({ bytes: 2 * Array.from({ length: 120 }, (_, i) => MSG(i).length).reduce((x, y) => x + y), messages: 240 });
    const rep = await store.reindex(A);
    expect(rep).toMatchObject({ added: 0, removed: 0, messages: 240 });
  });
});
