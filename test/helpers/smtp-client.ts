/**
 * A tiny line-level SMTP client for protocol tests: send a line, read one (possibly
 * multi-line) reply, assert on code and text. Real sockets, no parsing shortcuts.
 */
import net from 'node:net';

export interface SmtpReply {
  code: number;
  lines: string[];
  text: string;
}

export class SmtpTestClient {
  private buf = '';
  private waiters: Array<() => void> = [];
  closed = false;

  private constructor(readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.buf += d;
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  private wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  static async connect(port: number, host = '127.0.0.1'): Promise<SmtpTestClient> {
    return SmtpTestClient.fromSocket(net.connect(port, host));
  }

  /** A client on a socket being connected (e.g. bound to a local address of its own). */
  static async fromSocket(socket: net.Socket): Promise<SmtpTestClient> {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new SmtpTestClient(socket);
  }

  /** Reads one complete reply (all continuation lines). */
  async reply(timeoutMs = 10_000): Promise<SmtpReply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const lines = this.buf.split('\r\n');
      for (let i = 0; i < lines.length - 1; i++) {
        if (/^\d{3} /.test(lines[i]!) || /^\d{3}$/.test(lines[i]!)) {
          const replyLines = lines.slice(0, i + 1);
          this.buf = lines.slice(i + 1).join('\r\n');
          return { code: Number(replyLines[0]!.slice(0, 3)), lines: replyLines, text: replyLines.join('\n') };
        }
      }
      if (this.closed) throw new Error(`connection closed; unread: ${JSON.stringify(this.buf)}`);
      if (Date.now() > deadline) throw new Error(`timeout waiting for reply; have ${JSON.stringify(this.buf)}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50).unref();
      });
    }
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Sends a command line and returns its reply. */
  async cmd(line: string): Promise<SmtpReply> {
    this.socket.write(line + '\r\n');
    return this.reply();
  }

  /** Greeting + EHLO. */
  async hello(name = 'client.example.net'): Promise<SmtpReply> {
    const g = await this.reply();
    if (g.code !== 220) throw new Error(`bad greeting ${g.text}`);
    return this.cmd(`EHLO ${name}`);
  }

  async waitClosed(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return this.closed;
  }

  close(): void {
    this.socket.destroy();
  }
}
