// Differential check of the on-disk format: the Maildir++ tree our store writes is read
// by Debian's Dovecot (imap binary in PREAUTH mode on stdin/stdout): same folders
// (modified UTF-7 names), same flags from the file names, same sizes and bytes.
// Skipped when dovecot-imapd is not installed.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { chmod, chown, cp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createStore } from '../../src/store/index.js';
import { nameOfFolder } from '../../src/store/maildir/index.js';
import { needs } from '../helpers/peers.js';
import { openSnapshot } from '../../src/store/types.js';

const IMAP_BIN = '/usr/lib/dovecot/imap';
const root = mkdtempSync(path.join(os.tmpdir(), 'store-dovecot-'));

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function chownTree(p: string, uid: number, gid: number): Promise<void> {
  await chown(p, uid, gid);
  if ((await stat(p)).isDirectory()) for (const e of await readdir(p)) await chownTree(path.join(p, e), uid, gid);
}

describe('Dovecot reads our Maildir++ tree', needs('dovecot-imap'), () => {
  it('lists the folders and shows the same flags, sizes and bytes', async () => {
    const store = createStore({ dataRoot: path.join(root, 'data') });
    const A = 'u@x.test';
    await store.ensureAccount(A);
    await store.createMailbox(A, 'Entwürfe/v1.2');
    const one = Buffer.from('Subject: one\r\n\r\nbody one\r\n');
    const two = Buffer.from('Subject: two\r\n\r\nbody two, longer\r\n');
    await store.deliver([{ account: A }, { account: A, mailbox: 'Entwürfe/v1.2' }], { data: one });
    const { mailboxId, uid } = await store.append(A, 'INBOX', { data: two }, { flags: ['\\Seen', '\\Flagged'] });
    await openSnapshot(store, A, 'INBOX');
    await store.updateFlags(A, mailboxId, [uid], 'add', ['\\Answered']);
    const ours = (await store.listMailboxes(A)).map((m) => m.name).sort();
    const acct = (store as unknown as { accountRoot(a: string): string }).accountRoot(A);
    await store.close();

    // Dovecot refuses root: give a copy to nobody when we are root.
    const copy = path.join(root, 'copy');
    await cp(acct, copy, { recursive: true });
    const home = path.join(root, 'home');
    await mkdir(home);
    const isRoot = process.getuid?.() === 0;
    const user = isRoot ? 'nobody' : os.userInfo().username;
    const group = isRoot ? 'nogroup' : execFileSync('id', ['-gn'], { encoding: 'utf8' }).trim();
    if (isRoot) {
      await chmod(root, 0o755);
      const uid = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }));
      const gid = Number(execFileSync('id', ['-g', 'nobody'], { encoding: 'utf8' }));
      await chownTree(copy, uid, gid);
      await chownTree(home, uid, gid);
    }
    const conf = path.join(root, 'dovecot.conf');
    for (const d of ['run', 'state']) await mkdir(path.join(root, d));
    await writeFile(
      conf,
      [
        `base_dir = ${root}/run`,
        `state_dir = ${root}/state`,
        `log_path = ${root}/dovecot.log`,
        `mail_location = maildir:${copy}:INDEX=MEMORY`,
        'ssl = no',
        'first_valid_uid = 0',
        'first_valid_gid = 0',
        `mail_uid = ${user}`,
        `mail_gid = ${group}`,
        'mail_privileged_group =',
        `userdb {\n  driver = static\n  args = uid=${user} gid=${group} home=${home}\n}`,
        'passdb {\n  driver = static\n  args = nopassword=y\n}',
        '',
      ].join('\n'),
    );
    const script = [
      'a LIST "" "*"',
      'b SELECT INBOX',
      'c FETCH 1:* (FLAGS RFC822.SIZE BODY.PEEK[])',
      'd SELECT "Entw&APw-rfe.v1%2E2"',
      'e FETCH 1:* (FLAGS RFC822.SIZE)',
      'f LOGOUT',
      '',
    ].join('\r\n');
    // Through a shell pipe: on a socket stdin/stdout (what Node's pipes are) Dovecot
    // assumes inetd and refuses; a plain file cannot be polled.
    const input = path.join(root, 'script.txt');
    await writeFile(input, script);
    const output = path.join(root, 'output.txt');
    const r = spawnSync('sh', ['-c', `cat "${input}" | "${IMAP_BIN}" -c "${conf}" > "${output}"`], { env: { ...process.env, USER: 'u', HOME: home }, encoding: 'utf8', timeout: 20_000 });
    const out = await readFile(output, "utf8");
    expect(out, r.stderr).toContain('f OK');

    const listed = [...out.matchAll(/^\* LIST \([^)]*\) "\." "?([^"\r\n]+)"?\r$/gm)].map((m) => nameOfFolder(m[1] === 'INBOX' ? '' : '.' + m[1]));
    expect(listed.sort()).toEqual(ours);

    const inbox = out.slice(out.indexOf('b OK'), out.indexOf('c OK'));
    // \Recent is Dovecot's own (the messages are new to it); the rest comes from our file names.
    expect(inbox).toContain(`* 1 FETCH (FLAGS (\\Recent) RFC822.SIZE ${one.length} BODY[] {${one.length}}\r\n${one}`);
    expect(inbox).toContain(`* 2 FETCH (FLAGS (\\Answered \\Flagged \\Seen \\Recent) RFC822.SIZE ${two.length} BODY[] {${two.length}}\r\n${two}`);
    const sub = out.slice(out.indexOf('d OK'), out.indexOf('e OK'));
    expect(sub).toContain(`* 1 FETCH (FLAGS (\\Recent) RFC822.SIZE ${one.length})`);
  });
});
