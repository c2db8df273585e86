// Interoperability with real clients from Debian: python3 imaplib, and mbsync (isync)
// syncing a few hundred messages in several folders to a local Maildir and back, with
// flags, twice, with nothing lost or duplicated.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchAttrs, valueText } from '../helpers/imap-client.js';
import { message, startImapFixture, type ImapFixture } from './fixture.js';
import { needs, peer } from '../helpers/peers.js';

const run = promisify(execFile);
let f: ImapFixture;
beforeAll(async () => {
  f = await startImapFixture({ store: 'memory' });
});
afterAll(async () => {
  await f.close();
});

const PY = String.raw`
import imaplib, json, sys
port, user, pw = int(sys.argv[1]), sys.argv[2], sys.argv[3]
out = {}
M = imaplib.IMAP4('127.0.0.1', port)
out['login'] = M.login(user, pw)[0]
out['create'] = M.create('Py/Sub')[0]
typ, data = M.list()
out['list'] = [d.decode() for d in data]
out['append'] = M.append('INBOX', '(\\Flagged)', None, b'From: a@example.org\r\nSubject: from python\r\n\r\nhello python\r\n')[0]
typ, data = M.select('INBOX')
out['exists'] = int(data[0])
typ, data = M.search(None, 'SUBJECT', '"from python"')
out['search'] = data[0].decode()
num = data[0].split()[-1]
typ, data = M.fetch(num, '(FLAGS BODY.PEEK[TEXT])')
out['fetch_flags'] = data[0][0].decode()
out['fetch_text'] = data[0][1].decode()
typ, data = M.store(num, '+FLAGS', '(\\Seen)')
out['store'] = data[0].decode()
out['copy'] = M.copy(num, 'Py/Sub')[0]
typ, data = M.uid('SEARCH', None, 'ALL')
out['uids'] = data[0].decode()
out['status'] = M.status('Py/Sub', '(MESSAGES UNSEEN)')[1][0].decode()
M.store(num, '+FLAGS', '(\\Deleted)')
typ, data = M.expunge()
out['expunge'] = [d.decode() for d in data if d]
M.close()
M.logout()
print(json.dumps(out))
`;

describe('python3 imaplib', needs('python3'), () => {
  it('logs in, lists, appends, searches, fetches, stores, copies and expunges', async () => {
    const user = 'py@example.test';
    await f.addAccount(user, 'pw');
    await f.deliver(user, message(1));
    const { stdout } = await run(peer('python3'), ['-c', PY, String(f.port), user, 'pw']);
    const out = JSON.parse(stdout) as Record<string, unknown>;
    expect(out.login).toBe('OK');
    expect(out.create).toBe('OK');
    expect((out.list as string[]).some((l) => l.endsWith('"/" Py/Sub'))).toBe(true);
    expect(out.exists).toBe(2);
    expect(out.search).toBe('2');
    // imaplib speaks IMAP4rev1: the first session to see new mail sees it \Recent (RFC 3501 §2.3.2).
    expect(out.fetch_flags).toContain('FLAGS (\\Flagged \\Recent)');
    expect(out.fetch_text).toBe('hello python\r\n');
    expect(out.store).toContain('\\Seen');
    expect(out.copy).toBe('OK');
    expect(out.uids).toBe('1 2');
    expect(out.status).toContain('MESSAGES 1 UNSEEN 0');
    expect(out.expunge).toEqual(['2']);
  });
});

async function listMaildir(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const sub of ['cur', 'new']) {
    const files = await readdir(path.join(dir, sub)).catch(() => [] as string[]);
    out.push(...files.map((x) => path.join(dir, sub, x)));
  }
  return out;
}

async function messageIds(files: string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const file of files) {
    const m = /^Message-ID: (.*)$/im.exec(await readFile(file, 'utf8'));
    ids.push(m ? m[1]!.trim() : '?');
  }
  return ids.sort();
}

describe('mbsync', needs('mbsync'), () => {
  it('syncs several folders both ways, twice, with flags, nothing lost or duplicated', async () => {
    const user = 'sync@example.test';
    await f.addAccount(user, 'pw');
    const folders: Record<string, number> = { INBOX: 120, Work: 100, 'Archive/2024': 80 };
    for (const name of Object.keys(folders)) if (name !== 'INBOX') await f.ctx.store.createMailbox(user, name);
    let n = 0;
    for (const [name, count] of Object.entries(folders)) {
      for (let i = 0; i < count; i++) {
        n++;
        await f.ctx.store.append(user, name, { data: Buffer.from(message(n, { subject: `${name} ${i}` })) }, { flags: i % 3 === 0 ? ['\\Seen'] : [] });
      }
    }
    const dir = await mkdtemp(path.join(tmpdir(), 'mbsync-'));
    try {
      const local = path.join(dir, 'mail');
      const rc = path.join(dir, 'mbsyncrc');
      await mkdir(local, { recursive: true });
      await writeFile(
        rc,
        [
          // No fsync of the local Maildir and state files (a global option: before the
          // sections): what is tested is the server's side, not the local disk.
          'FSync no',
          '',
          'IMAPAccount test',
          'Host 127.0.0.1',
          `Port ${f.port}`,
          `User ${user}`,
          'Pass pw',
          'SSLType None',
          'AuthMechs LOGIN',
          '',
          'IMAPStore remote',
          'Account test',
          '',
          'MaildirStore local',
          `Path ${local}/`,
          `Inbox ${local}/INBOX`,
          'SubFolders Verbatim',
          '',
          'Channel sync',
          'Far :remote:',
          'Near :local:',
          'Patterns *',
          'Create Both',
          'Expunge Both',
          'SyncState *',
          '',
        ].join('\n'),
      );
      const sync = () => run(peer('mbsync'), ['-c', rc, '-a'], { timeout: 60_000 });
      await sync();
      const localOf = (name: string) => path.join(local, name);
      for (const [name, count] of Object.entries(folders)) {
        const files = await listMaildir(localOf(name));
        expect(files.length, name).toBe(count);
        expect(new Set(await messageIds(files)).size).toBe(count);
        expect(files.filter((x) => /:2,[A-Z]*S/.test(x)).length, `${name} seen`).toBe(Math.ceil(count / 3));
      }
      // Local changes: flag some, delete one, add a new message in Work.
      const work = await listMaildir(localOf('Work'));
      const unseen = work.filter((x) => !/:2,[A-Z]*S/.test(x)).slice(0, 5);
      const addFlags = (file: string, add: string) =>
        file.includes(':2,') ? file.replace(/:2,([A-Z]*)$/, (_m, fl: string) => `:2,${[...new Set((fl + add).split(''))].sort().join('')}`) : `${file}:2,${add}`;
      for (const file of unseen) await rename(file, addFlags(file, 'FS').replace('/new/', '/cur/'));
      const victim = work.find((x) => /:2,[A-Z]*S/.test(x) && !unseen.includes(x))!;
      await rename(victim, addFlags(victim, 'T').replace('/new/', '/cur/'));
      await writeFile(path.join(localOf('Work'), 'new', `${Date.now()}.local.host`), message(9999, { subject: 'made locally' }).replace(/\r\n/g, '\n'));
      // Server-side changes: flag and append in INBOX.
      const c = await f.client(user, 'pw');
      await c.transact('ok', 'SELECT INBOX');
      await c.transact('ok', 'STORE 2 +FLAGS (\\Answered)');
      await c.transact('ok', ['APPEND INBOX ', Buffer.from(message(8888, { subject: 'made on server' }))]);
      await sync();
      await sync(); // twice: the second run must change nothing
      // Server view of Work: 100 - 1 deleted + 1 new; 5 more flagged+seen.
      await c.transact('ok', 'SELECT Work');
      const all = await c.transact('ok', 'FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])');
      const fetches = all.untagged.filter((r) => r.type === 'FETCH');
      expect(fetches.length).toBe(100);
      const ids = fetches.map((r) => valueText(Object.entries(fetchAttrs(r)).find(([k]) => k.startsWith('BODY['))![1]).trim());
      expect(ids.filter((id) => !/^Message-ID: <m\d+@example\.org>$/i.test(id))).toEqual([]);
      expect(new Set(ids).size).toBe(100);
      const flagged = fetches.filter((r) => (fetchAttrs(r).FLAGS as string[]).includes('\\Flagged'));
      expect(flagged.length).toBe(5);
      const search = await c.transact('ok', 'SEARCH SUBJECT "made locally"');
      expect(search.untagged.find((r) => r.type === 'SEARCH')!.values.length).toBe(1);
      // Local view of INBOX: 121 messages, the server's \Answered arrived as "R".
      const inbox = await listMaildir(localOf('INBOX'));
      expect(inbox.length).toBe(121);
      expect(new Set(await messageIds(inbox)).size).toBe(121);
      expect(inbox.filter((x) => /:2,[A-Z]*R/.test(x)).length).toBe(1);
      const localWork = await listMaildir(localOf('Work'));
      expect(localWork.length).toBe(100);
      expect(new Set(await messageIds(localWork)).size).toBe(100);
      const arch = await listMaildir(localOf('Archive/2024'));
      expect(arch.length).toBe(80);
      await c.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
