// mutt (Debian `mutt`, driven in a tmux session and read with capture-pane) tells new
// mail by \Recent: on its first look at a mailbox in a session it asks STATUS (RECENT
// ...) (mutt imap/command.c, $mail_check_recent) and counts the mailbox in "Inc:" only
// when RECENT > 0. A message some session was already told of is unseen but not recent
// (RFC 3501 §2.3.2): mutt shows no new mail; one nobody was told of makes "Inc:1".
// Skipped, with a line naming the package, when mutt or tmux is missing.
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startImapFixture, type ImapFixture } from './fixture.js';

const missing = ['mutt', 'tmux'].filter((p) => spawnSync('sh', ['-c', `command -v ${p}`]).status !== 0);
if (missing.length > 0) console.log(`skip: the mutt test needs the Debian package(s) ${missing.join(', ')}`);

const USER = 'mutt@example.test';
const SOCKET = `mailserver-mutt-${process.pid}`;

let f: ImapFixture;
let dir: string;

let lastTmuxError = '';
function tmux(...args: string[]): string {
  const r = spawnSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8' });
  if (r.status !== 0) lastTmuxError = `tmux ${args[0]}: ${r.error?.message ?? r.stderr}`;
  return r.stdout ?? '';
}

async function screenUntil(pred: (s: string) => boolean, ms: number): Promise<string> {
  const deadline = Date.now() + ms;
  let s = '';
  while (Date.now() < deadline) {
    s = tmux('capture-pane', '-p', '-t', 'mutt');
    if (pred(s)) return s;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`mutt's screen never matched; last:\n${s}\n(last tmux error: ${lastTmuxError || 'none'})`);
}

async function startMutt(): Promise<void> {
  tmux('kill-session', '-t', 'mutt');
  // remain-on-exit keeps the pane of a mutt that ended, so a failure shows what it printed.
  tmux('new-session', '-d', '-s', 'mutt', '-x', '110', '-y', '12', `HOME=${dir} mutt -n -F ${path.join(dir, 'muttrc')}`);
  tmux('set-option', '-t', 'mutt', 'remain-on-exit', 'on');
  await screenUntil((s) => s.includes('Mutt: =INBOX'), 20_000);
}

describe.skipIf(missing.length > 0)('mutt', () => {
  beforeAll(async () => {
    f = await startImapFixture();
    await f.addAccount(USER, 'pw');
    dir = await mkdtemp(path.join(tmpdir(), 'mutt-'));
    await writeFile(
      path.join(dir, 'muttrc'),
      [
        `set folder="imap://${encodeURIComponent(USER)}@127.0.0.1:${f.port}/"`,
        'set spoolfile="+INBOX"',
        // Without a hostname mutt looks its machine's name up before it draws anything: on a
        // machine whose /etc/hosts lacks it that waits on DNS, which CI once took 20 s over.
        'set hostname="example.test"',
        'mailboxes =Lists',
        `set imap_user="${USER}"`,
        'set imap_pass="pw"',
        'set ssl_starttls=no',
        'set ssl_force_tls=no',
        'set mail_check=1',
        'set mail_check_recent=yes',
        'set timeout=1',
        'set imap_idle=no',
        'set header_cache=""',
        'set message_cachedir=""',
        'set record=""',
        'set postponed=""',
        'set index_format="[%Z] %s"',
        '',
      ].join('\n'),
    );
  });
  afterAll(async () => {
    tmux('kill-server');
    await f?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('shows mail nobody has seen as new (RECENT), and mail another session was told of as not new', async () => {
    const c = await f.client(USER, 'pw');
    await c.transact('ok', 'CREATE Lists');
    await c.transact('ok', ['APPEND Lists ', Buffer.from('From: a@example.org\r\nSubject: told before\r\n\r\nold\r\n')]);
    await c.transact('ok', 'SELECT Lists'); // this session is told of it: no longer \Recent
    await c.transact('ok', 'UNSELECT');

    await startMutt();
    await new Promise((r) => setTimeout(r, 3000)); // three mailbox checks
    expect(tmux('capture-pane', '-p', '-t', 'mutt')).not.toMatch(/Inc:/);

    // A message no session was told of: \Recent for the next one, so mutt's first look counts it.
    await c.transact('ok', ['APPEND Lists ', Buffer.from('From: a@example.org\r\nSubject: fresh\r\n\r\nnew\r\n')]);
    await startMutt();
    await screenUntil((s) => /Inc:1\b/.test(s), 30_000);

    // New mail in the mailbox mutt has open shows up as new too.
    await f.deliver(USER, 'From: b@example.org\r\nSubject: arriving\r\n\r\nhi\r\n');
    const s = await screenUntil((x) => /New:1\b/.test(x) && x.includes('arriving'), 30_000);
    expect(s).toMatch(/\[N\s*\] arriving/);
    await c.transact('ok', 'LOGOUT');
  }, 120_000); // mutt checks once a second; a loaded machine stretches that
});
