/**
 * The socket side of the fuzzers: a raw client that reads what the server sends into
 * one buffer and waits, with a deadline, until a predicate over it holds; and the test
 * server the socket fuzzers share (all listeners, limits loosened so that thousands of
 * bad commands and failed logins from one address go on being answered).
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { startDnsServer } from '../helpers/dns-server.js';
import { captureLog } from '../helpers/log-capture.js';
import { startTestServer, type TestServer } from '../helpers/servers.js';
import { fuzz, testTimeout, type Rng } from './lib.js';

/** How long one command may take to be answered before the fuzzer calls it a hang. */
export const REPLY_DEADLINE_MS = Number(process.env.FUZZ_DEADLINE_MS ?? '15000');

export class RawConn {
  buf: Buffer = Buffer.alloc(0);
  closed = false;
  /** What went each way, for the failure message (each piece cut at 300 bytes). */
  private log: string[] = [];
  private readonly started = Date.now();
  private waiters: Array<() => void> = [];

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      this.note('S', d);
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  static connect(port: number): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1' }, () => resolve(new RawConn(s)));
      s.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  write(data: string | Buffer): void {
    this.note('C', Buffer.isBuffer(data) ? data : Buffer.from(data, 'latin1'));
    if (!this.closed) this.socket.write(data);
  }

  private note(who: string, d: Buffer): void {
    this.log.push(`${who} +${Date.now() - this.started}ms: ${JSON.stringify(d.subarray(0, 300).toString('latin1'))}${d.length > 300 ? ` …(${d.length} bytes)` : ''}`);
    if (this.log.length > 40) this.log.shift();
  }

  /** The last exchanges, for an error message. */
  transcript(): string {
    return this.log.join('\n');
  }

  /**
   * Waits until `done(buf)` returns a position (the end of what it matched; the buffer
   * is consumed up to there) or the connection closes or the deadline passes.
   */
  async until<T>(done: (buf: Buffer) => { end: number; value: T } | undefined, ms = REPLY_DEADLINE_MS): Promise<{ value: T } | 'closed' | 'timeout'> {
    const deadline = Date.now() + ms;
    for (;;) {
      const r = done(this.buf);
      if (r) {
        this.buf = this.buf.subarray(r.end);
        return { value: r.value };
      }
      if (this.closed) return 'closed';
      const left = deadline - Date.now();
      if (left <= 0) return 'timeout';
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

/**
 * Complete response lines (CRLF or LF ended) of `buf` from `from`, the payloads of
 * IMAP/ManageSieve literals ("{n}" at the end of a line) skipped. Stops at the first
 * incomplete line or literal.
 */
export function* lines(buf: Buffer, literals = true): Generator<{ text: string; end: number }> {
  let pos = 0;
  for (;;) {
    const lf = buf.indexOf(0x0a, pos);
    if (lf < 0) return;
    const text = buf.subarray(pos, lf).toString('latin1').replace(/\r$/, '');
    let end = lf + 1;
    const m = literals ? /\{(\d+)\}$/.exec(text) : null;
    if (m) {
      end += Number(m[1]);
      if (end > buf.length) return;
      // the line goes on after the literal: report it once it is complete
      const rest = buf.indexOf(0x0a, end);
      if (rest < 0) return;
      yield { text: text + '…' + buf.subarray(end, rest).toString('latin1').replace(/\r$/, ''), end: rest + 1 };
      pos = rest + 1;
      continue;
    }
    yield { text, end };
    pos = end;
  }
}

/** The first complete line (literals skipped) for which `pick` gives a value. */
export function firstLine<T>(pick: (line: string) => T | undefined, literals = true): (buf: Buffer) => { end: number; value: T } | undefined {
  return (buf) => {
    for (const l of lines(buf, literals)) {
      const v = pick(l.text);
      if (v !== undefined) return { end: l.end, value: v };
    }
    return undefined;
  };
}

export const FUZZ_PASSWORD = 'fuzz-password';

export interface FuzzServer extends TestServer {
  /** Throws what the server logged at level error or above since the last call (an internal error is a finding). */
  checkLog(): void;
}

/** A whole server for the socket fuzzers: no penalties or bans for loopback, many bad commands allowed. */
export async function startFuzzServer(): Promise<FuzzServer> {
  const { log, lines } = captureLog('error');
  // a DNS server that answers at once (NXDOMAIN), so the inbound checks of a message do not wait for timeouts
  const dns = await startDnsServer({ 'example.org': { TXT: ['v=spf1 -all'] } });
  const t = await startTestServer({
    log,
    configure(c) {
      c.auth.allowPlaintextOnLoopback = true;
      c.auth.failureDelayMs = 0;
      c.auth.penaltyBaseMs = 0;
      c.auth.penaltyExempt = ['127.0.0.0/8'];
      c.auth.banFailures = 0;
      c.auth.scryptLn = 4;
      c.limits.maxBadCommands = 1_000_000;
      c.limits.maxConnectionsPerIp = 1000;
      c.submission.maxMessagesPerHour = 1_000_000;
      c.dns.servers = dns.servers;
    },
  });
  const close = t.close.bind(t);
  return Object.assign(t, {
    async close() {
      await close();
      await dns.close();
    },
    checkLog() {
      dns.queries.length = 0;
      const errors = lines.splice(0).filter((l) => Number(l.level) >= 50);
      if (errors.length > 0) throw new Error(`the server logged: ${errors.map((e) => JSON.stringify(e).slice(0, 2000)).join('\n')}`);
    },
  });
}

/** A fresh account every `every` cases, so that what earlier cases stored does not slow the later ones. */
export class Accounts {
  private n = 0;
  private current = '';
  constructor(
    private readonly t: TestServer,
    private readonly every = 200,
  ) {}
  async get(caseNo: number): Promise<string> {
    if (this.current === '' || caseNo >= this.n * this.every) {
      this.current = `fuzz${++this.n}@example.test`;
      await this.t.addAccount(this.current, FUZZ_PASSWORD);
    }
    return this.current;
  }
}

export interface SocketFuzz {
  /** The name in the report line ("imap-socket"). */
  codec: string;
  /** The test's title: what it asserts. */
  asserts: string;
  /** The listener to connect to for this case. */
  listener: (rng: Rng) => string;
  /** A fresh account every this many cases. */
  accountEvery: number;
  /** Before connecting (e.g. deliver messages to the account). */
  prepare?: (t: FuzzServer, user: string, rng: Rng, caseNo: number) => Promise<void>;
  /** One case on a fresh connection; throws on a finding. */
  run: (rng: Rng, c: RawConn, user: string, listener: string) => Promise<void>;
}

/**
 * A socket fuzz test: one server for the file, then cases, each on its own connection;
 * a failure carries the last exchanges, and anything the server logged as an error
 * fails the case too.
 */
export function describeSocketFuzz(title: string, f: SocketFuzz): void {
  describe(title, () => {
    let t: FuzzServer;
    let accounts: Accounts;
    // a whole server: on a loaded machine (npm run fuzz under nice) it takes a while to start
    beforeAll(async () => {
      t = await startFuzzServer();
      accounts = new Accounts(t, f.accountEvery);
    }, 180_000);
    afterAll(() => t?.close());

    it(f.asserts, { timeout: testTimeout() }, async () => {
      await fuzz(f.codec, async (rng, caseNo) => {
        const user = await accounts.get(caseNo);
        await f.prepare?.(t, user, rng, caseNo);
        const listener = f.listener(rng);
        const c = await RawConn.connect(t.port(listener));
        try {
          await f.run(rng, c, user, listener);
        } catch (err) {
          (err as Error).message += `\n--- last exchanges:\n${c.transcript()}`;
          try {
            t.checkLog();
          } catch (logged) {
            (err as Error).message += `\n--- ${(logged as Error).message}`;
          }
          throw err;
        } finally {
          c.close();
        }
        t.checkLog();
      });
    });
  });
}
