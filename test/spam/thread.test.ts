// Port 25 scores in a thread of its own (src/spam/score-thread.ts): messages of every size
// go through it and come back with their verdict, a message after a training is scored
// with it, and a thread that does not answer within score_timeout_ms never holds a
// delivery: the message is delivered unscored (and logged), the next one is scored by a
// new thread.
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureLog } from '../helpers/log-capture.js';
import { maildirFolder } from '../helpers/maildir.js';
import type { TestServer } from '../helpers/servers.js';
import { PW, seedBase, send, smtp, spamServer } from './env.js';

const A = 'threaded@example.test';
const MIN_TRAINED = 5;
const captured = captureLog('info');
let t: TestServer;

const head = (subject: string) => `From: someone@remote.example\r\nTo: ${A}\r\nSubject: ${subject}\r\nMIME-Version: 1.0\r\n`;

/** The stored message whose Subject is `subject` (INBOX or Junk). */
function stored(subject: string): { text: string; size: number } | undefined {
  const all = [...maildirFolder(t.dataRoot, A, '', 'latin1'), ...maildirFolder(t.dataRoot, A, 'Junk', 'latin1')];
  const m = all.find((x) => x.text.includes(`Subject: ${subject}\r\n`));
  return m && { text: m.text, size: Buffer.byteLength(m.text, 'latin1') };
}

beforeAll(async () => {
  t = await spamServer((c) => {
    c.spam.minTrained = MIN_TRAINED;
  }, captured.log);
  await t.addAccount(A, PW);
  // A shared base trained on a few corpus messages, as `mailserver spam seed` makes it.
  seedBase(t.dataRoot, MIN_TRAINED);
});
afterAll(() => t?.close());

describe('the scoring thread', () => {
  it('scores 0-byte, 1 KB and 5 MB messages (the first 1 MB read): each stored whole, with its verdict', async () => {
    const before = { ...t.ctx.spam!.scans };
    const bodies: Array<[string, Buffer]> = [
      ['zero', Buffer.alloc(0)],
      ['one-kb', Buffer.from(`${head('one-kb')}\r\n${'Lunch on Thursday? '.repeat(52)}\r\n`)],
      ['five-mb', Buffer.from(`${head('five-mb')}\r\n${'meeting notes for the quarterly planning\r\n'.repeat(125_000)}`)],
    ];
    const tr = smtp(t);
    try {
      for (const [, raw] of bodies) expect((await send(tr, A, raw)).code).toBe(250);
    } finally {
      tr.close();
    }
    expect(t.ctx.spam!.scans.tokenised).toBe(before.tokenised + 3);
    expect(t.ctx.spam!.thread.threads).toBe(1);
    for (const [name, raw] of bodies.slice(1)) {
      const m = stored(name);
      expect(m?.text, name).toMatch(/^X-Spam-Status: (Yes|No), score=\d\.\d{3} required=0\.900\r\n\ttests=BAYES/m);
      expect(m?.text, name).toMatch(/^X-Spam-Reasons: bayes \d\.\d{3} \(trained \d+ ham, \d+ spam\)/m);
      expect(m!.text.endsWith(raw.subarray(raw.indexOf('\r\n\r\n')).toString('latin1')), name).toBe(true);
    }
    // The empty message: our trace and spam fields, nothing of its own.
    const inbox = maildirFolder(t.dataRoot, A, '', 'latin1');
    const empty = inbox.find((x) => !x.text.includes('Subject:'));
    expect(empty?.text).toMatch(/^X-Spam-Status: No, score=/m);
  });

  it('is named spam-score on Linux (top -H, ps -L, bench/spam\'s CPU per thread)', () => {
    if (process.platform !== 'linux') return;
    expect(t.ctx.spam!.thread.threads).toBe(1);
    const names = readdirSync('/proc/self/task').map((tid) => {
      try {
        return readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
      } catch {
        return ''; // exited meanwhile
      }
    });
    expect(names).toContain('spam-score');
  });

  it('a thread that does not answer within score_timeout_ms: delivered unscored at once, logged, the next message scored by a new thread', async () => {
    // Short here only: the first message waited for the thread to start (tsx compiles it).
    t.ctx.config.spam.scoreTimeoutMs = 400;
    t.ctx.spam!.thread.block(20_000);
    const tr = smtp(t);
    try {
      const t0 = Date.now();
      expect((await send(tr, A, Buffer.from(`${head('while stuck')}\r\nLunch on Thursday?\r\n`))).code).toBe(250);
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(t.ctx.spam!.thread.timeouts).toBe(1);
      const m = stored('while stuck');
      expect(m?.text).toContain('Lunch on Thursday?');
      expect(m?.text).not.toMatch(/^X-Spam-/m);
      expect(captured.lines.some((l) => l.msg === 'spam scoring thread did not answer; ended, its messages delivered unscored')).toBe(true);
      expect(captured.lines.some((l) => l.msg === 'delivered' && l.spam === 'timeout')).toBe(true);

      // A new thread starts for the next message (given the time tsx takes to start it).
      t.ctx.config.spam.scoreTimeoutMs = 10_000;
      expect((await send(tr, A, Buffer.from(`${head('after the stuck one')}\r\nLunch on Thursday?\r\n`))).code).toBe(250);
      expect(stored('after the stuck one')?.text).toMatch(/^X-Spam-Status: No, score=\d\.\d{3} required=0\.900\r\n\ttests=BAYES/m);
    } finally {
      tr.close();
    }
    // The stuck thread was ended; one is left.
    for (let i = 0; i < 50 && t.ctx.spam!.thread.threads > 1; i++) await new Promise((r) => setTimeout(r, 100));
    expect(t.ctx.spam!.thread.threads).toBe(1);
  });

  it('a thread with no message for idleMs exits (its memory back to the OS); the next message starts one and is scored', async () => {
    const thread = t.ctx.spam!.thread;
    expect(thread.threads).toBe(1);
    thread.idleMs = 300;
    try {
      const tr = smtp(t);
      try {
        expect((await send(tr, A, Buffer.from(`${head('before idle')}\r\nLunch on Thursday?\r\n`))).code).toBe(250);
        for (let i = 0; i < 100 && thread.threads > 0; i++) await new Promise((r) => setTimeout(r, 50));
        expect(thread.threads).toBe(0);
        thread.idleMs = 10 * 60_000;
        expect((await send(tr, A, Buffer.from(`${head('after idle')}\r\nLunch on Thursday?\r\n`))).code).toBe(250);
      } finally {
        tr.close();
      }
      expect(stored('before idle')?.text).toMatch(/^X-Spam-Status: No, score=\d\.\d{3} required=0\.900\r\n\ttests=BAYES/m);
      expect(stored('after idle')?.text).toMatch(/^X-Spam-Status: No, score=\d\.\d{3} required=0\.900\r\n\ttests=BAYES/m);
      expect(thread.threads).toBe(1);
    } finally {
      thread.idleMs = 10 * 60_000;
    }
  });
});
