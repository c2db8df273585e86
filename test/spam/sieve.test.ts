// The spam verdict and the user's Sieve script on port 25 (as Dovecot with Rspamd does
// it): the script runs on the message with our X-Spam-* fields already in its header; a
// fileinto of the script decides where the message goes, and Junk is where its keep
// (implicit or explicit) goes when the message is spam. Accounts whose verdicts differ
// get copies of their own, each through its own account's script, in memory and
// spilled to disk (over 512 KB).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { putScript } from '../../src/sieve/settings.js';
import { SieveStore } from '../../src/sieve/store.js';
import { setSpamSettings } from '../../src/spam/settings.js';
import { maildirFolder } from '../helpers/maildir.js';
import type { TestServer } from '../helpers/servers.js';
import { PW, smtp, spamServer } from './env.js';

const GTUBE = 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X';
const LIMITS = { maxScripts: 20, maxScriptBytes: 65536 };
const A = 'sieve-a@example.test';
const B = 'sieve-b@example.test';

let t: TestServer;

beforeAll(async () => {
  t = await spamServer();
  await t.addAccount(A, PW);
  await t.addAccount(B, PW);
  // GTUBE filed to Junk instead of refused, so the script has something to decide.
  setSpamSettings(t.ctx.db, A, { rejectThreshold: 0 });
  setSpamSettings(t.ctx.db, B, { rejectThreshold: 0 });
});
afterAll(() => t?.close());

beforeEach(() => {
  const s = new SieveStore(t.ctx.db);
  for (const a of [A, B]) {
    s.setActive(a, '');
    for (const x of s.list(a)) s.delete(a, x.name);
  }
  setSpamSettings(t.ctx.db, B, { enabled: null });
});

/** Messages of a folder ('' = INBOX) in the Maildir, with their flag letters. */
function folder(address: string, name = ''): Array<{ text: string; flags: string }> {
  return maildirFolder(t.dataRoot, address, name, 'latin1');
}

/** Messages with this subject, by folder. */
function whereIs(address: string, subject: string, names: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of names) {
    const c = folder(address, n).filter((m) => m.text.includes(`Subject: ${subject}\r\n`)).length;
    if (c > 0) out[n || 'INBOX'] = c;
  }
  return out;
}

function message(to: string, subject: string, spam: boolean, size = 0): Buffer {
  const head = `From: someone@remote.example\r\nTo: ${to}\r\nSubject: ${subject}\r\n\r\n`;
  const body = spam ? `Here it is:\r\n${GTUBE}\r\n` : 'Lunch on Thursday?\r\n';
  const pad = size > 0 ? `${'x'.repeat(76)}\r\n`.repeat(Math.ceil(size / 78)) : '';
  return Buffer.from(head + body + pad);
}

async function deliver(to: string[], raw: Buffer): Promise<void> {
  const tr = smtp(t);
  try {
    const info = await tr.sendMail({ envelope: { from: 'someone@remote.example', to }, raw });
    expect(info.response).toMatch(/^250 /);
  } finally {
    tr.close();
  }
}

describe('spam verdict and the user’s Sieve script', () => {
  it('a script that files nothing: spam’s keep goes to Junk, and the script saw X-Spam-Status (its flag is on the copy)', async () => {
    putScript(t.ctx.db, LIMITS, A, 'flag', 'require "imap4flags";\nif header :contains "X-Spam-Status" "Yes" { addflag "\\\\Flagged"; }\n', { activate: true });
    await deliver([A], message(A, 'keep-spam', true));
    await deliver([A], message(A, 'keep-ham', false));
    expect(whereIs(A, 'keep-spam', ['', 'Junk'])).toEqual({ Junk: 1 });
    expect(whereIs(A, 'keep-ham', ['', 'Junk'])).toEqual({ INBOX: 1 });
    const spam = folder(A, 'Junk').find((m) => m.text.includes('Subject: keep-spam\r\n'))!;
    expect(spam.flags).toContain('F');
    expect(spam.text).toMatch(/^X-Spam-Status: Yes, score=1\.000 required=0\.900\r\n\ttests=GTUBE\r\n/m);
    expect(folder(A).find((m) => m.text.includes('Subject: keep-ham\r\n'))!.flags).not.toContain('F');
  });

  it('a script’s fileinto decides: spam to the user’s own folder, not Junk; ham where the script says', async () => {
    putScript(
      t.ctx.db,
      LIMITS,
      A,
      'route',
      'require ["fileinto", "mailbox"];\nif header :contains "X-Spam-Status" "Yes" { fileinto :create "Quarantine"; stop; }\nif header :is "Subject" "to-work" { fileinto :create "Work"; }\n',
      { activate: true },
    );
    await deliver([A], message(A, 'filed-spam', true));
    await deliver([A], message(A, 'to-work', false));
    expect(whereIs(A, 'filed-spam', ['', 'Junk', 'Quarantine'])).toEqual({ Quarantine: 1 });
    expect(whereIs(A, 'to-work', ['', 'Junk', 'Work'])).toEqual({ Work: 1 });
  });

  for (const size of [0, 600 * 1024]) {
    it(`${size ? '600 KB (spilled to disk)' : 'small'}: two accounts with different verdicts, each copy through its own script with its own fields`, async () => {
      // B's mail is not scored: its copy has no X-Spam-* fields, A's says Yes.
      setSpamSettings(t.ctx.db, B, { enabled: false });
      const rule = (box: string) => `require ["fileinto", "mailbox"];\nif header :contains "X-Spam-Status" "Yes" { fileinto :create "${box}"; }\n`;
      putScript(t.ctx.db, LIMITS, A, 'a', rule('Quarantine'), { activate: true });
      putScript(t.ctx.db, LIMITS, B, 'b', rule('Quarantine'), { activate: true });
      const subject = `two-${size}`;
      const raw = message(A, subject, true, size);
      await deliver([A, B], raw);
      expect(whereIs(A, subject, ['', 'Junk', 'Quarantine'])).toEqual({ Quarantine: 1 });
      expect(whereIs(B, subject, ['', 'Junk', 'Quarantine'])).toEqual({ INBOX: 1 });
      const b = folder(B).find((m) => m.text.includes(`Subject: ${subject}\r\n`))!.text;
      expect(b).not.toMatch(/^X-Spam-/m);
      expect(b.endsWith(raw.toString('latin1'))).toBe(true);
      const a = folder(A, 'Quarantine').find((m) => m.text.includes(`Subject: ${subject}\r\n`))!.text;
      expect(a.endsWith(raw.toString('latin1'))).toBe(true);
    });
  }
});
