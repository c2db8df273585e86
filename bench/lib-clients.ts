/**
 * Minimal protocol clients for timing benchmarks: they wait for the end of each reply
 * and parse nothing else, so the client costs little next to the server it measures.
 */
import net from 'node:net';

/** IMAP: sends one tagged command, resolves with the tagged line (rejects unless OK). */
export class RawClient {
  private tail = '';
  private waiter: ((line: string) => void) | undefined;
  private tag = '';
  bytes = 0;
  /** Keep the whole of each command's responses (`answer`), not just the tail. */
  keep = false;
  private kept: Buffer[] = [];
  private n = 0;
  constructor(private readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.bytes += d.length;
      if (!this.waiter) return;
      if (this.keep) this.kept.push(d);
      this.tail = (this.tail + d.toString('latin1', Math.max(0, d.length - 4096))).slice(-8192);
      const i = this.tail.indexOf(`\r\n${this.tag} `);
      const j = this.tail.startsWith(`${this.tag} `) ? 0 : -1;
      const at = i >= 0 ? i + 2 : j;
      if (at >= 0) {
        const end = this.tail.indexOf('\r\n', at);
        if (end < 0) return;
        const w = this.waiter;
        this.waiter = undefined;
        w(this.tail.slice(at, end));
      }
    });
  }
  static async connect(port: number): Promise<RawClient> {
    const s = net.connect({ port, host: '127.0.0.1' });
    await new Promise((r, j) => {
      s.once('data', r);
      s.once('error', j);
    });
    return new RawClient(s);
  }
  cmd(text: string): Promise<string> {
    this.tag = `r${++this.n}`;
    this.tail = '\r\n';
    this.kept = [];
    this.bytes = 0;
    return new Promise((resolve, reject) => {
      this.waiter = (line) => (/^\S+ OK/.test(line) ? resolve(line) : reject(new Error(line)));
      this.socket.write(`${this.tag} ${text}\r\n`);
    });
  }
  /** The last few KB of the latest command's responses. */
  get lastText(): string {
    return this.tail;
  }
  /** All of the latest command's responses, when `keep` is set. */
  get answer(): string {
    return Buffer.concat(this.kept).toString('latin1');
  }
  close(): void {
    this.socket.destroy();
  }
}

/** POP3: one command at a time; `multi` waits for the terminating "." line of RETR/LIST. */
export class RawPop3 {
  private buf = '';
  private wake: (() => void) | undefined;
  private closed = false;
  private constructor(private readonly s: net.Socket) {
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      this.buf += d;
      this.wake?.();
    });
    s.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
    s.on('error', () => undefined);
  }
  static async connect(port: number): Promise<RawPop3> {
    const s = net.connect({ port, host: '127.0.0.1' });
    await new Promise((r, j) => {
      s.once('connect', r);
      s.once('error', j);
    });
    const c = new RawPop3(s);
    await c.reply(false);
    return c;
  }
  /** The reply's first line; throws with it unless +OK. */
  async reply(multi: boolean): Promise<string> {
    for (;;) {
      const eol = this.buf.indexOf('\r\n');
      if (eol >= 0) {
        const first = this.buf.slice(0, eol);
        if (!first.startsWith('+OK')) {
          this.buf = this.buf.slice(eol + 2);
          throw new Error(first);
        }
        if (!multi) {
          this.buf = this.buf.slice(eol + 2);
          return first;
        }
        const end = this.buf.indexOf('\r\n.\r\n', eol);
        if (end >= 0) {
          this.buf = this.buf.slice(end + 5);
          return first;
        }
      }
      if (this.closed) throw new Error('connection closed');
      await new Promise<void>((r) => (this.wake = r));
      this.wake = undefined;
    }
  }
  cmd(line: string, multi = false): Promise<string> {
    this.s.write(line + '\r\n');
    return this.reply(multi);
  }
  close(): void {
    this.s.destroy();
  }
}
