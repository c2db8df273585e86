// Interoperability: imapflow (the client the project uses for load generation) drives
// list, select, fetch, search, append, move and IDLE wake-up on delivery.
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { message, PASS, startImapFixture, USER, type ImapFixture } from './fixture.js';

let f: ImapFixture;
beforeAll(async () => {
  f = await startImapFixture({ store: 'memory' });
});
afterAll(async () => {
  await f.close();
});

function client(opts: { tls?: boolean } = {}): ImapFlow {
  return new ImapFlow({
    host: '127.0.0.1',
    port: opts.tls ? f.tlsPort : f.port,
    secure: !!opts.tls,
    auth: { user: USER, pass: PASS },
    tls: { rejectUnauthorized: false },
    logger: false,
  });
}

describe('imapflow', () => {
  it('lists, appends, selects, fetches, searches and moves', async () => {
    const c = client();
    await c.connect();
    try {
      const boxes = await c.list();
      expect(boxes.map((b) => b.path)).toContain('INBOX');
      await c.mailboxCreate('Work/Projects');
      for (let i = 1; i <= 5; i++) {
        const r = await c.append('INBOX', message(i, { subject: i % 2 ? `odd ${i}` : `even ${i}` }), i === 1 ? ['\\Seen'] : []);
        expect(r && r.uid).toBe(i);
      }
      const lock = await c.getMailboxLock('INBOX');
      try {
        expect((c.mailbox as { exists: number }).exists).toBe(5);
        const seen: number[] = [];
        for await (const m of c.fetch('1:*', { uid: true, flags: true, envelope: true, source: true })) {
          seen.push(m.uid);
          expect(m.envelope?.subject).toMatch(/^(odd|even) \d$/);
          expect(m.source?.toString()).toContain(`Body of message ${m.uid}.`);
        }
        expect(seen).toEqual([1, 2, 3, 4, 5]);
        expect(await c.search({ seen: false })).toEqual([2, 3, 4, 5]);
        expect(await c.search({ subject: 'odd' }, { uid: true })).toEqual([1, 3, 5]);
        expect(await c.search({ body: 'message 4' })).toEqual([4]);
        await c.messageFlagsAdd('2', ['\\Flagged']);
        expect(await c.search({ flagged: true })).toEqual([2]);
        const moved = await c.messageMove('1:2', 'Work/Projects');
        expect(moved && moved.uidMap && [...moved.uidMap.values()]).toEqual([1, 2]);
        expect((c.mailbox as { exists: number }).exists).toBe(3);
      } finally {
        lock.release();
      }
      const st = await c.status('Work/Projects', { messages: true, unseen: true, uidNext: true });
      if (!st) throw new Error('no STATUS');
      expect(st.messages).toBe(2);
      expect(st.unseen).toBe(1);
    } finally {
      await c.logout();
    }
  });

  it('wakes up in IDLE when a message is delivered', async () => {
    const c2 = client({ tls: true });
    await c2.connect();
    try {
      await c2.mailboxOpen('INBOX');
      const before = (c2.mailbox as { exists: number }).exists;
      const got = new Promise<number>((resolve) => c2.on('exists', (d: { count: number }) => resolve(d.count)));
      const idling = c2.idle();
      await new Promise((r) => setTimeout(r, 100));
      await f.deliver(USER, message(99));
      // The server does not poll in IDLE: only the delivery's change event can bring this
      // EXISTS, so its arrival is the proof; a lost wake-up fails by the test's timeout.
      expect(await got).toBe(before + 1);
      void idling;
    } finally {
      await c2.logout();
    }
  });
});
