// Training by what the user does, through a real IMAP client (imapflow) against the
// server started in-process: moves and copies into and out of Junk, $Junk/$NotJunk,
// \Answered, Trash, mail sent; and the CLI's `spam train` / `spam status` / `spam set`.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountDbPath } from '../../src/spam/classifier.js';
import { SpamDb } from '../../src/spam/db.js';
import type { TestServer } from '../helpers/servers.js';
import { tempRoot } from '../cli/run.js';
import { corpus } from './corpus.js';
import { crlf, imap, PW, spamServer } from './env.js';

let t: TestServer;
beforeAll(async () => {
  t = await spamServer();
});
afterAll(async () => {
  await t?.close();
});

const msgs = corpus('train', 6);
const spams = msgs.filter((m) => m.spam).map((m) => crlf(m.bytes));
const hams = msgs.filter((m) => !m.spam).map((m) => crlf(m.bytes));

async function settled(): Promise<void> {
  await t.ctx.spam!.idle();
}

function totals(account: string) {
  return t.ctx.spam!.classifiers.totals(account);
}

function judgements(account: string) {
  const db = new SpamDb(accountDbPath(t.dataRoot, account));
  try {
    return db.judgements(50).map((j) => `${j.user} ${j.how}`);
  } finally {
    db.close();
  }
}

describe('training from the user’s moves (IMAP)', () => {
  it('MOVE into Junk trains spam, MOVE out of Junk trains ham and untrains the old verdict; the filter’s own filing and Trash train nothing', async () => {
    const u = 'mover@example.test';
    await t.addAccount(u, PW);
    // As port 25 would file them: two in INBOX, one (a ham) in Junk. Deliveries never train.
    await t.ctx.store.deliver([{ account: u }], { data: spams[0]! });
    await t.ctx.store.deliver([{ account: u }], { data: spams[1]! });
    await t.ctx.store.deliver([{ account: u, mailbox: 'Junk' }], { data: hams[0]! });
    await t.ctx.store.deliver([{ account: u }], { data: hams[1]! });
    await settled();
    expect(totals(u)).toEqual({ nham: 0, nspam: 0 });

    const c = imap(t, u);
    await c.connect();
    try {
      await c.mailboxOpen('INBOX');
      await c.messageMove('1:2', 'Junk', { uid: true });
      await settled();
      expect(totals(u)).toEqual({ nham: 0, nspam: 2 });

      await c.mailboxOpen('Junk');
      // UID 1 is the ham the filter put there; UIDs 2-3 the spam moved in.
      await c.messageMove('1', 'INBOX', { uid: true });
      await settled();
      expect(totals(u)).toEqual({ nham: 1, nspam: 2 });

      // The user changes their mind about a spam: out of Junk, untrained as spam.
      await c.messageMove('2', 'Archive', { uid: true });
      await settled();
      expect(totals(u)).toEqual({ nham: 2, nspam: 1 });

      // Emptying Junk into Trash is no verdict.
      await c.messageMove('3', 'Trash', { uid: true });
      await settled();
      expect(totals(u)).toEqual({ nham: 2, nspam: 1 });
    } finally {
      await c.logout();
    }
    expect(judgements(u)).toEqual(['ham moved out of Junk', 'ham moved out of Junk', 'spam moved to Junk', 'spam moved to Junk']);
  });

  it('COPY and $Junk train spam, $NotJunk in Junk trains ham, \\Answered counts as ham implicitly, mail sent makes known correspondents', async () => {
    const u = 'flagger@example.test';
    await t.addAccount(u, PW);
    for (const m of [spams[0]!, spams[1]!, hams[0]!]) await t.ctx.store.deliver([{ account: u }], { data: m });
    await t.ctx.store.deliver([{ account: u, mailbox: 'Junk' }], { data: hams[1]! });
    const c = imap(t, u);
    await c.connect();
    try {
      await c.mailboxOpen('INBOX');
      await c.messageCopy('1', 'Junk', { uid: true });
      await c.messageFlagsAdd('2', ['$Junk'], { uid: true });
      await c.messageFlagsAdd('3', ['\\Answered'], { uid: true });
      await settled();
      expect(totals(u)).toEqual({ nham: 1, nspam: 2 });
      // Setting \Seen later on the answered message does not train it again.
      await c.messageFlagsAdd('3', ['\\Seen'], { uid: true });
      await c.mailboxOpen('Junk');
      await c.messageFlagsAdd('1', ['$NotJunk'], { uid: true });
      await settled();
      expect(totals(u)).toEqual({ nham: 2, nspam: 2 });
      await c.append('Sent', Buffer.from('From: flagger@example.test\r\nTo: Friend <friend@elsewhere.example>, other@elsewhere.example\r\nSubject: hi\r\n\r\nhello\r\n'), ['\\Seen']);
      await settled();
    } finally {
      await c.logout();
    }
    expect(judgements(u)).toEqual(['ham flagged $NotJunk', 'ham replied to', 'spam flagged $Junk', 'spam copied to Junk']);
    const db = new SpamDb(accountDbPath(t.dataRoot, u));
    try {
      expect(db.reputation([['sent', 'friend@elsewhere.example'], ['sent', 'other@elsewhere.example']]).map((r) => r.key)).toEqual(['friend@elsewhere.example', 'other@elsewhere.example']);
      expect(db.trainedCounts()).toEqual({ ham: 2, spam: 2, implicitHam: 1 });
    } finally {
      db.close();
    }
  });

  it('read mail kept in INBOX counts as ham after kept_inbox_days (the hourly sweep), unread mail does not', async () => {
    const u = 'keeper@example.test';
    await t.addAccount(u, PW);
    await t.ctx.store.deliver([{ account: u }], { data: hams[0]! });
    await t.ctx.store.deliver([{ account: u }], { data: hams[1]! });
    const inbox = await t.ctx.store.getMailbox(u, 'INBOX');
    await t.ctx.store.updateFlags(u, inbox.id, [1 as never], 'add', ['\\Seen']);
    await settled();
    const later = Date.now() + (t.config.spam.keptInboxDays + 1) * 86_400_000;
    await t.ctx.spam!.sweep(Date.now()); // remembers the deliveries
    await t.ctx.spam!.sweep(later); // a week later
    await settled();
    expect(totals(u)).toEqual({ nham: 1, nspam: 0 });
    expect(judgements(u)).toEqual(['ham kept in INBOX']);
  });
});

describe('mailserver spam train / status / set', () => {
  // Each step runs the built CLI as its own process (a few seconds each on a busy machine).
  it('imports Maildir folders, skips what it already knows, shows the training and the settings', { timeout: 120_000 }, async () => {
    const r = tempRoot();
    try {
      expect((await r.cli(['domain', 'add', 'example.test'])).code).toBe(0);
      expect((await r.cli(['account', 'add', 'cli@example.test', '--password-stdin'], { input: 'pw-pw-pw-pw\n' })).code).toBe(0);
      const mk = (name: string, list: Buffer[]) => {
        const dir = path.join(r.dir, 'import', name);
        for (const sub of ['cur', 'new', 'tmp']) mkdirSync(path.join(dir, sub), { recursive: true });
        list.forEach((b, i) => writeFileSync(path.join(dir, i % 2 ? 'new' : 'cur', `${i}.msg`), b));
        return dir;
      };
      const spamDir = mk('.Junk', spams);
      const hamDir = mk('cur-ham', hams);
      const first = await r.cli(['spam', 'train', 'cli@example.test', '--spam', spamDir, '--ham', hamDir]);
      expect(first.stderr).toBe('');
      expect(first.stdout).toContain(`spam: ${spams.length} message(s)`);
      expect(first.stdout).toContain(`now trained on ${hams.length} ham and ${spams.length} spam`);
      const again = await r.cli(['spam', 'train', 'cli@example.test', '--spam', spamDir]);
      expect(again.stdout).toContain(`0 trained, ${spams.length} already trained as spam`);
      // The user disagrees: the ham folder trained as spam moves the counts over.
      const flip = await r.cli(['spam', 'train', 'cli@example.test', '--spam', hamDir]);
      expect(flip.stdout).toContain(`now trained on 0 ham and ${spams.length + hams.length} spam`);

      expect((await r.cli(['spam', 'set', 'cli@example.test', '--junk-threshold', '0.8', '--greylist', 'on'])).code).toBe(0);
      const bad = await r.cli(['spam', 'set', 'cli@example.test', '--junk-threshold', '2']);
      expect(bad.code).toBe(2);
      const st = await r.cli(['spam', 'status', 'cli@example.test']);
      expect(st.stdout).toMatch(/junk threshold: +0\.8 \(set for this account\)/);
      expect(st.stdout).toMatch(/greylisting: +on \(set for this account\)/);
      expect(st.stdout).toMatch(new RegExp(`trained: +${spams.length + hams.length} spam, 0 ham`));
      const js = JSON.parse((await r.cli(['spam', 'status', 'cli@example.test', '--json'])).stdout) as { settings: { junkThreshold: number }; status: { tokens: number; dbBytes: number } };
      expect(js.settings.junkThreshold).toBe(0.8);
      expect(js.status.tokens).toBeGreaterThan(100);
      expect(js.status.dbBytes).toBeGreaterThan(0);
      // The shared base.
      const seed = await r.cli(['spam', 'seed', '--spam', spamDir, '--ham', hamDir]);
      expect(seed.stdout).toContain(`shared base now trained on ${hams.length} ham and ${spams.length} spam`);
      expect((await r.cli(['spam', 'status', 'nobody@example.test'])).code).toBe(1);
    } finally {
      r.cleanup();
    }
  });
});
