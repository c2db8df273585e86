// The size matrix on the paths that leave the server (issue 12), between two instances
// on loopback (A = a.test on 127.0.0.2, B = b.test on 127.0.0.3, MX records on a loopback
// DNS server): submission on A → a remote recipient → A's queue → B's port 25 → B's
// Maildir; and mail from outside to an alias on A that forwards to B. Every size arrives
// byte-identical behind the trace fields both hops add; the maximum + 1 is refused at
// A's door with 552 5.3.4 and leaves nothing in A's queue.
//
// B accepts 1 MiB over A's maximum: a hop adds its Received (and A's DKIM-Signature)
// to a message that was exactly at the limit, so between two servers with the same
// limit a message at the maximum is refused by the second (at MAIL FROM SIZE=, 552
// 5.3.4) and bounced to its sender, as with Postfix (message_size_limit counts them too).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listMessages } from '../../src/queue/repo.js';
import { PASSWORD, startPair, waitFor, type Instance, type Pair } from '../submission/harness.js';
import { buildMessage, leftovers, MAX, MiB, sendRaw, SIZES, smtpTransport, storedMessage, traceOnlyDifference } from './messages.js';

let pair: Pair;
let a: Instance;
let b: Instance;

beforeAll(async () => {
  pair = await startPair({ aAccounts: ['alice@a.test'], bAccounts: ['bob@b.test'], configureB: (c) => (c.limits.maxMessageSize = MAX + MiB) });
  ({ a, b } = pair);
  a.t.accounts.addAlias('fwd@a.test', ['bob@b.test']);
});

afterAll(async () => {
  await pair?.close();
});

const PATHS = [
  {
    name: 'submission → queue → remote',
    from: 'alice@a.test',
    to: 'bob@b.test',
    transport: () => smtpTransport(a.host, a.submissionPort, { tls: 'starttls', user: 'alice@a.test', pass: PASSWORD }),
  },
  { name: 'port 25 → alias → queue → remote', from: 'someone@remote.example', to: 'fwd@a.test', transport: () => smtpTransport(a.host, a.smtpPort) },
];

for (const p of PATHS) {
  describe(p.name, () => {
    for (const s of SIZES) {
      it(`${s.label}: 250 on A, arrives on B byte-identical`, { timeout: 180_000 }, async () => {
        const tag = `${p.to.split('@')[0]}-${s.bytes}`;
        const raw = await buildMessage(s.bytes, { from: p.from, to: p.to, tag });
        expect(await sendRaw(p.transport(), p.from, [p.to], raw)).toMatch(/^250 /);
        const stored = await waitFor(`${tag} on B`, () => storedMessage(b.t.dataRoot, 'bob@b.test', tag), 120_000);
        expect(traceOnlyDifference(stored, raw)).toBeUndefined();
        await waitFor("A's queue to empty", () => listMessages(a.t.ctx.db).length === 0, 20_000);
        expect(leftovers(a.t.dataRoot)).toEqual([]);
        expect(leftovers(b.t.dataRoot)).toEqual([]);
      });
    }

    // The maximum + 1 on the submission listener is refused before any recipient is
    // looked at (test/sizes/submission.test.ts); here, once, with an alias's forward.
    if (p.to === 'fwd@a.test') it('max + 1: 552 5.3.4 at A, nothing queued or left behind', { timeout: 180_000 }, async () => {
      const tag = `${p.to.split('@')[0]}-over`;
      const raw = await buildMessage(MAX + 1, { from: p.from, to: p.to, tag });
      expect(await sendRaw(p.transport(), p.from, [p.to], raw)).toMatch(/^552 5\.3\.4 /);
      expect(listMessages(a.t.ctx.db)).toEqual([]);
      expect(leftovers(a.t.dataRoot)).toEqual([]);
    });
  });
}
