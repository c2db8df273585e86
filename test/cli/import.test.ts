// `mailserver import maildir` (the real binary) on a Dovecot Maildir++ tree as
// docker-mailserver leaves it: folders, flags, keywords (dovecot-keywords), and UIDs and
// UIDVALIDITY from dovecot-uidlist kept; then read back through the store.
import { mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { text } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore } from '../../src/store/index.js';
import type { MailStore } from '../../src/store/types.js';
import { tempRoot } from './run.js';
import { openSnapshot } from '../../src/store/types.js';

const msg = (n: string) => `From: old@example.test\r\nTo: alice@example.test\r\nSubject: ${n}\r\n\r\nbody of ${n}\r\n`;

function put(dir: string, sub: 'cur' | 'new', name: string, body: string, mtime: number): void {
  mkdirSync(path.join(dir, 'cur'), { recursive: true });
  mkdirSync(path.join(dir, 'new'), { recursive: true });
  mkdirSync(path.join(dir, 'tmp'), { recursive: true });
  const f = path.join(dir, sub, name);
  writeFileSync(f, body);
  utimesSync(f, mtime, mtime);
}

describe('import maildir', () => {
  const t = tempRoot();
  const src = path.join(t.dir, 'old-server', 'alice');
  let store: MailStore;

  beforeAll(async () => {
    expect((await t.cli(['domain', 'add', 'example.test'])).code).toBe(0);
    expect((await t.cli(['account', 'add', 'alice@example.test', '--password-stdin'], { input: 'pw\n' })).code).toBe(0);
    // INBOX: three listed messages (one with keywords), one delivered after the uidlist.
    put(src, 'cur', '1700000001.M1P1.old:2,S', msg('one'), 1_700_000_001);
    put(src, 'cur', '1700000002.M2P1.old:2,RSab', msg('two'), 1_700_000_002);
    put(src, 'new', '1700000003.M3P1.old', msg('three'), 1_700_000_003);
    put(src, 'new', '1700000004.M4P1.old', msg('four'), 1_700_000_004);
    writeFileSync(
      path.join(src, 'dovecot-uidlist'),
      '3 V1600000000 N10 G0123456789abcdef0123456789abcdef\n3 :1700000001.M1P1.old\n5 W123 :1700000002.M2P1.old\n7 :1700000003.M3P1.old\n',
    );
    writeFileSync(path.join(src, 'dovecot-keywords'), '0 Work\n1 $Important\n');
    // A nested folder with its own uidlist (version 1), and Sent without one.
    put(path.join(src, '.Archive.2023'), 'cur', '1600000000.M9P1.old:2,S', msg('archived'), 1_600_000_000);
    writeFileSync(path.join(src, '.Archive.2023', 'dovecot-uidlist'), '1 1500000000 2\n1 1600000000.M9P1.old\n');
    put(path.join(src, '.Sent'), 'cur', '1700000005.M5P1.old:2,S', msg('sent'), 1_700_000_005);
  });
  afterAll(async () => {
    await store?.close();
    t.cleanup();
  });

  it('keeps folders, flags, keywords, dates, UIDs and UIDVALIDITY', async () => {
    const r = await t.cli(['import', 'maildir', 'alice@example.test', src]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('INBOX: 4 message(s), UIDs kept (UIDVALIDITY 1600000000)');
    expect(r.stdout).toContain('Archive/2023: 1 message(s), UIDs kept (UIDVALIDITY 1500000000)');
    expect(r.stdout).toContain('Sent: 1 message(s), new UIDs');

    store = createStore({ dataRoot: t.dir });
    const inbox = await openSnapshot(store, 'alice@example.test', 'INBOX');
    expect(inbox.mailbox.uidValidity).toBe(1600000000);
    // Listed UIDs kept; the unlisted message comes after the origin's UIDNEXT (10).
    expect(inbox.messages.map((m) => m.uid)).toEqual([3, 5, 7, 10]);
    expect(inbox.mailbox.uidNext).toBe(11);
    const byUid = new Map(inbox.messages.map((m) => [m.uid as number, m]));
    expect(byUid.get(3)!.flags).toEqual(['\\Seen']);
    expect([...byUid.get(5)!.flags].sort()).toEqual(['$Important', 'Work', '\\Answered', '\\Seen'].sort());
    expect(byUid.get(7)!.flags).toEqual([]);
    expect(byUid.get(5)!.internalDate.getTime()).toBe(1_700_000_002_000);
    const { stream } = await store.readMessage('alice@example.test', inbox.mailbox.id, 5 as never);
    expect(await text(stream)).toBe(msg('two'));

    const archive = await openSnapshot(store, 'alice@example.test', 'Archive/2023');
    expect(archive.mailbox.uidValidity).toBe(1500000000);
    expect(archive.messages.map((m) => m.uid)).toEqual([1]);
    expect(archive.mailbox.uidNext).toBe(2);
    expect((await store.listMailboxes('alice@example.test')).find((m) => m.name === 'Archive/2023')?.subscribed).toBe(true);
    // The source tree is only read.
    expect(readFileSync(path.join(src, 'cur', '1700000002.M2P1.old:2,RSab'), 'utf8')).toBe(msg('two'));
  });

  it('a second run brings over only what arrived meanwhile', async () => {
    // Meanwhile on the old server: Dovecot listed "four" as 10, and "five" arrived as 11.
    put(src, 'new', '1700000006.M6P1.old', msg('five'), 1_700_000_006);
    writeFileSync(
      path.join(src, 'dovecot-uidlist'),
      '3 V1600000000 N12 G0123456789abcdef0123456789abcdef\n3 :1700000001.M1P1.old\n5 :1700000002.M2P1.old\n7 :1700000003.M3P1.old\n10 :1700000004.M4P1.old\n11 :1700000006.M6P1.old\n',
    );
    await store.close();
    const r = await t.cli(['import', 'maildir', 'alice@example.test', src]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('INBOX: 1 message(s), 4 already here, UIDs kept (UIDVALIDITY 1600000000)');
    expect(r.stdout).toContain('Archive/2023: 0 message(s), 1 already here, UIDs kept (UIDVALIDITY 1500000000)');
    expect(r.stdout).toContain('Sent: skipped: it holds mail here already');
    store = createStore({ dataRoot: t.dir });
    const inbox = await openSnapshot(store, 'alice@example.test', 'INBOX');
    expect(inbox.messages.map((m) => m.uid)).toEqual([3, 5, 7, 10, 11]);
    expect(inbox.mailbox.uidNext).toBe(12);
    expect((await store.getMailbox('alice@example.test', 'Sent')).messages).toBe(1);
  });

  it('refuses an unknown account or a path that is not a directory, with one line', async () => {
    const a = await t.cli(['import', 'maildir', 'nobody@example.test', src]);
    expect(a.code).not.toBe(0);
    expect(a.stderr.trim()).toBe('mailserver: error: unknown account nobody@example.test');
    const b = await t.cli(['import', 'maildir', 'alice@example.test', path.join(src, 'dovecot-uidlist')]);
    expect(b.code).not.toBe(0);
    expect(b.stderr.trim()).toMatch(/is not a directory$/);
  });
});
