// The store's background passes wait for sessions at work (issue 16): while an IMAP
// command's response is being written (a FETCH of a large message to a client that is
// not reading yet) or a POP3 RETR is, the analysis of files another tool dropped into
// the Maildir does not advance; between commands and in IDLE it does. Real sockets, the
// whole server; the large message is bigger than what loopback buffers hold (~4 MB), so
// the server really waits to write.
import { mkdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { MaildirStore } from '../../src/store/maildir/index.js';
import { startTestServer, type TestServer } from '../helpers/servers.js';

const A = 'alice@example.test';
const PW = 'secret-password';
const SMALL = 300;
const BIG = 8 * 1024 * 1024;

let t: TestServer;
let store: MaildirStore;

/** A client over a raw socket that can stop reading (pause) mid-response. */
class Client {
  text = '';
  private wake: (() => void) | undefined;
  private constructor(readonly s: net.Socket) {
    s.on('data', (d: Buffer) => {
      // The middle of the large message does not matter here: the ends of each chunk are kept.
      const part = d.length > 8192 ? d.toString('latin1', 0, 4096) + d.toString('latin1', d.length - 4096) : d.toString('latin1');
      this.text = (this.text + part).slice(-65536);
      this.wake?.();
    });
  }
  static async connect(port: number): Promise<Client> {
    const c = new Client(net.connect(port, '127.0.0.1'));
    await c.until(/\r\n/);
    return c;
  }
  /** Waits until the text received matches; returns the match and drops what came before its end. */
  async until(re: RegExp): Promise<string> {
    for (;;) {
      const m = re.exec(this.text);
      if (m) {
        this.text = this.text.slice(m.index + m[0].length);
        return m[0];
      }
      if (this.s.destroyed) throw new Error(`closed before ${re}`);
      await new Promise<void>((r) => (this.wake = r));
    }
  }
  send(line: string): void {
    this.s.write(`${line}\r\n`);
  }
}

beforeEach(async () => {
  t = await startTestServer();
  await t.addAccount(A, PW);
  store = t.ctx.store as unknown as MaildirStore;
  // Dropped by another tool: indexed by name at the first open, analysed by the background pass.
  const cur = path.join(t.dataRoot, 'maildir', 'example.test', 'alice', 'cur');
  await mkdir(cur, { recursive: true });
  for (let i = 0; i < SMALL; i++) {
    await writeFile(path.join(cur, `${1600000000 + i}.M${i}P1.tool:2,S`), `From: s${i}@example.org\r\nSubject: dropped ${i}\r\n\r\nbody ${i}\r\n`);
  }
  const line = `${'x'.repeat(76)}\r\n`;
  const big = `From: big@example.org\r\nSubject: large\r\n\r\n${line.repeat(Math.ceil(BIG / line.length))}`;
  await writeFile(path.join(cur, `${1600000000 + SMALL}.M${SMALL}P1.tool:2,S`), big); // the last UID: the pass reaches it last
});

afterEach(async () => {
  await t.close();
});

/** While the client does not read, the pass stays where it is; returns how many it had done. */
async function heldBack(): Promise<number> {
  await sleep(200); // the group of files the pass had under way (if any) ends
  expect(store.sessionsAtWork).toBe(1);
  const before = store.backfillDone;
  await sleep(500);
  expect(store.backfillDone, 'no background analysis while the response waits to be written').toBe(before);
  expect(store.sessionsAtWork).toBe(1);
  return before;
}

describe('background passes and sessions at work', () => {
  it('IMAP: held back while a FETCH is being written, going on between commands and in IDLE', async () => {
    const c = await Client.connect(t.port('imap'));
    c.send(`a LOGIN ${A} ${PW}`);
    await c.until(/a OK[^\r]*\r\n/);
    c.send('b SELECT INBOX');
    await c.until(/b OK[^\r]*\r\n/);
    c.send(`c FETCH ${SMALL + 1} BODY.PEEK[]`);
    await c.until(/BODY\[\] \{\d+\}\r\n/);
    c.s.pause();
    expect(await heldBack()).toBeLessThan(SMALL);
    c.s.resume();
    await c.until(/c OK[^\r]*\r\n/);
    await vi.waitFor(() => expect(store.sessionsAtWork).toBe(0));
    c.send('d IDLE');
    await c.until(/\+ [^\r]*\r\n/);
    expect(store.sessionsAtWork, 'a session in IDLE waits for its client: not at work').toBe(0);
    await store.backfillIdle();
    expect(store.backfillDone).toBe(SMALL);
    c.send('DONE');
    await c.until(/d OK[^\r]*\r\n/);
    c.s.destroy();
  });

  it('POP3: held back while a RETR is being written, going on between commands', async () => {
    const c = await Client.connect(t.port('pop3'));
    c.send(`USER ${A}`);
    await c.until(/\+OK[^\r]*\r\n/);
    c.send(`PASS ${PW}`);
    await c.until(/\+OK[^\r]*\r\n/);
    c.send(`RETR ${SMALL + 1}`);
    await c.until(/\+OK[^\r]*\r\n/);
    c.s.pause();
    expect(await heldBack()).toBeLessThan(SMALL);
    c.s.resume();
    await c.until(/\r\n\.\r\n/);
    await vi.waitFor(() => expect(store.sessionsAtWork).toBe(0));
    await store.backfillIdle();
    expect(store.backfillDone, 'the large message too: POP3 needs no analysis').toBe(SMALL + 1);
    c.send('QUIT');
    await c.until(/\+OK[^\r]*\r\n/);
    c.s.destroy();
  });
});
