// COMPRESS=DEFLATE (RFC 4978): imapflow (which asks for it whenever it is offered) over
// plaintext loopback and TLS, a raw deflate client checking the §3 rules, and streams
// that do not inflate or inflate to far more than any line may hold.
import net from 'node:net';
import zlib from 'node:zlib';
import { ImapFlow } from 'imapflow';
import { describe, expect, it } from 'vitest';
import { fixtureForFile, message } from './fixture.js';

const t = fixtureForFile({ store: 'memory' });
const account = (): Promise<string> => t.account('cz');

function flow(user: string, tls: boolean): ImapFlow {
  return new ImapFlow({ host: '127.0.0.1', port: tls ? t.f.tlsPort : t.f.port, secure: tls, auth: { user, pass: 'pw' }, tls: { rejectUnauthorized: false }, logger: false });
}

/** A message of about `size` bytes of compressible text. */
function bigMessage(size: number): string {
  const line = 'The quick brown fox jumps over the lazy dog, again and again and again.\r\n';
  return message(1, { body: line.repeat(Math.ceil(size / line.length)) });
}

/** A client speaking raw deflate after COMPRESS, by hand (RFC 4978 §3, §4). */
class RawClient {
  private plain = '';
  private readonly deflate = zlib.createDeflateRaw();
  private readonly inflate = zlib.createInflateRaw();
  private compressed = false;
  closed: Promise<void>;
  constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => (this.compressed ? this.inflate.write(d) : (this.plain += d.toString('latin1'))));
    this.inflate.on('data', (d: Buffer) => (this.plain += d.toString('latin1')));
    this.inflate.on('error', () => undefined);
    this.deflate.on('data', (d: Buffer) => socket.write(d));
    this.closed = new Promise((r) => socket.once('close', () => r()));
    socket.on('error', () => undefined);
  }
  static async connect(): Promise<RawClient> {
    const s = await new Promise<net.Socket>((resolve, reject) => {
      const x = net.connect({ port: t.f.port, host: '127.0.0.1' }, () => resolve(x));
      x.once('error', reject);
    });
    const c = new RawClient(s);
    await c.until(/^\* OK .*\r\n/m);
    return c;
  }
  async until(re: RegExp, ms = 5000): Promise<string> {
    const end = Date.now() + ms;
    while (!re.test(this.plain)) {
      if (Date.now() > end) throw new Error(`timeout waiting for ${re}; got ${JSON.stringify(this.plain.slice(-300))}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    const got = this.plain;
    this.plain = '';
    return got;
  }
  send(line: string | Buffer): void {
    if (!this.compressed) this.socket.write(line);
    else {
      this.deflate.write(line);
      this.deflate.flush(zlib.constants.Z_SYNC_FLUSH);
    }
  }
  async compress(): Promise<void> {
    this.send('z COMPRESS DEFLATE\r\n');
    // Everything after the OK's CRLF is compressed.
    await this.until(/^z OK .*\r\n/m);
    this.compressed = true;
  }
}

/** A new account's raw session, logged in, COMPRESS DEFLATE done. */
async function compressedSession(): Promise<{ user: string; c: RawClient }> {
  const user = await account();
  const c = await RawClient.connect();
  c.send(`a LOGIN ${user} pw\r\n`);
  await c.until(/^a OK .*\r\n/m);
  await c.compress();
  return { user, c };
}

describe('COMPRESS=DEFLATE', () => {
  for (const tls of [false, true]) {
    it(`imapflow compresses ${tls ? 'over TLS' : 'over plaintext loopback'}: a 1 MB message both ways, IDLE woken through the stream`, async () => {
      const user = await account();
      const big = bigMessage(1 << 20);
      const c = flow(user, tls);
      await c.connect();
      try {
        expect((c as unknown as { _deflate?: unknown })._deflate, 'imapflow negotiated COMPRESS').toBeTruthy();
        const before = (c as unknown as { socket: net.Socket }).socket.bytesRead;
        const appended = await c.append('INBOX', big);
        await c.mailboxOpen('INBOX');
        const got = await c.fetchOne(String(appended && appended.uid), { source: true }, { uid: true });
        expect(got && got.source?.toString()).toBe(big.replace(/\r?\n/g, '\r\n'));
        if (!tls) {
          // What came over the wire for a 1 MB message: the deflated form (about 1 % of it).
          const wire = (c as unknown as { socket: net.Socket }).socket.bytesRead - before;
          expect(wire).toBeLessThan(100_000);
        }
        // An unsolicited EXISTS is flushed at once, not left in the deflater.
        const exists = new Promise<number>((resolve) => c.on('exists', (d: { count: number }) => resolve(d.count)));
        const idling = c.idle();
        await new Promise((r) => setTimeout(r, 100));
        await t.f.deliver(user, message(2, { to: user }));
        expect(await exists).toBe(2);
        void idling;
      } finally {
        await c.logout();
      }
    });
  }

  it('answers by RFC 4978 §3: only after login, once per connection (NO [COMPRESSIONACTIVE]), DEFLATE only', async () => {
    const user = await account();
    const c = await RawClient.connect();
    c.send('a COMPRESS DEFLATE\r\n');
    expect(await c.until(/^a (BAD|NO) .*\r\n/m)).toMatch(/^a (BAD|NO) /m);
    c.send(`b LOGIN ${user} pw\r\n`);
    expect(await c.until(/^b OK .*\r\n/m)).toMatch(/\bCOMPRESS=DEFLATE\b/);
    c.send('c COMPRESS GZIP\r\n');
    await c.until(/^c BAD .*\r\n/m);
    await c.compress();
    c.send('d NOOP\r\n');
    await c.until(/^d OK .*\r\n/m);
    c.send('e COMPRESS DEFLATE\r\n');
    expect(await c.until(/^e NO .*\r\n/m)).toMatch(/^e NO \[COMPRESSIONACTIVE\]/m);
    c.send('f SELECT INBOX\r\n');
    expect(await c.until(/^f OK .*\r\n/m)).toMatch(/\* 0 EXISTS/);
    c.send('g LOGOUT\r\n');
    expect(await c.until(/^g OK .*\r\n/m)).toMatch(/\* BYE/);
    await c.closed;
  });

  it('a stream that does not inflate closes that connection only; the server goes on', async () => {
    const { user, c } = await compressedSession();
    c.socket.write(Buffer.from('this is not deflate at all \xff\xfe\x00\x01'.repeat(100), 'latin1'));
    await c.closed;
    const other = flow(user, false);
    await other.connect();
    expect(((await other.status('INBOX', { messages: true })) as { messages: number }).messages).toBe(0);
    await other.logout();
  });

  it('64 MB of line in 64 KB of deflate: BYE for the line, then the close; the server goes on', async () => {
    const { user, c } = await compressedSession();
    const block = Buffer.alloc(1 << 20, 0x41);
    c.send('b NOOP ');
    for (let i = 0; i < 64; i++) c.send(block);
    // The framer's line limit refuses the line (the server reads the inflated bytes under
    // backpressure, as it reads a plain socket); then the connection ends.
    expect(await c.until(/\* BYE .*\r\n/m, 20_000)).toMatch(/\* BYE .*(long|line)/i);
    await c.closed;
    const other = flow(user, false);
    await other.connect();
    await other.noop();
    await other.logout();
  });
});
