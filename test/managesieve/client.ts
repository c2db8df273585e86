/**
 * A raw ManageSieve test client: sends exact bytes and parses each response up to its
 * OK/NO/BYE line (literals included), so tests assert on what the server said.
 */
import net from 'node:net';
import tls from 'node:tls';

export interface MsResponse {
  /** Lines before the status line, literals inlined. */
  lines: string[];
  status: 'OK' | 'NO' | 'BYE';
  code?: string;
  text?: string;
}

export class MsClient {
  private buf = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  closed = false;

  private constructor(private sock: net.Socket) {
    this.attach(sock);
  }

  private attach(s: net.Socket): void {
    s.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake?.();
    });
    s.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
    s.on('error', () => undefined);
  }

  static async connect(port: number, host = '127.0.0.1'): Promise<{ c: MsClient; greeting: MsResponse }> {
    const s = await new Promise<net.Socket>((resolve, reject) => {
      const x = net.connect(port, host, () => resolve(x));
      x.once('error', reject);
    });
    const c = new MsClient(s);
    return { c, greeting: await c.read() };
  }

  private async more(): Promise<void> {
    if (this.closed) throw new Error(`connection closed; unread: ${JSON.stringify(this.buf.toString())}`);
    await new Promise<void>((r) => (this.wake = r));
  }

  private async line(): Promise<string> {
    for (;;) {
      const i = this.buf.indexOf('\r\n');
      if (i >= 0) {
        const l = this.buf.subarray(0, i).toString('utf8');
        this.buf = this.buf.subarray(i + 2);
        return l;
      }
      await this.more();
    }
  }

  private async bytes(n: number): Promise<string> {
    while (this.buf.length < n) await this.more();
    const b = this.buf.subarray(0, n).toString('utf8');
    this.buf = this.buf.subarray(n);
    return b;
  }

  /** One whole response. */
  async read(): Promise<MsResponse> {
    const lines: string[] = [];
    for (;;) {
      let l = await this.line();
      const lit = /\{(\d+)\}$/.exec(l);
      if (lit) {
        l = l.slice(0, lit.index) + (await this.bytes(Number(lit[1])));
        const rest = await this.line();
        l += rest;
      }
      const m = /^(OK|NO|BYE)(?: \(([^)]*)\))?(?: (.*))?$/s.exec(l);
      if (m) {
        const t = m[3];
        const text = t === undefined ? undefined : t.startsWith('"') ? t.slice(1, -1).replace(/\\(.)/g, '$1') : t;
        return { lines, status: m[1] as MsResponse['status'], code: m[2], text };
      }
      lines.push(l);
    }
  }

  send(raw: string | Buffer): void {
    this.sock.write(raw);
  }

  /** Sends a command and its final CRLF (after any literal), reads the response. */
  async cmd(raw: string): Promise<MsResponse> {
    this.send(`${raw}\r\n`);
    return this.read();
  }

  /** STARTTLS, the handshake, and the capabilities the server sends again. */
  async startTls(): Promise<MsResponse> {
    const ok = await this.cmd('STARTTLS');
    if (ok.status !== 'OK') throw new Error(`STARTTLS: ${ok.status} ${ok.text}`);
    const plain = this.sock;
    plain.removeAllListeners('data');
    const secure = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ socket: plain, rejectUnauthorized: false }, () => resolve(s));
      s.once('error', reject);
    });
    this.sock = secure;
    this.buf = Buffer.alloc(0);
    this.attach(secure);
    return this.read();
  }

  async login(user: string, pass: string): Promise<MsResponse> {
    return this.cmd(`AUTHENTICATE "PLAIN" "${Buffer.from(`\0${user}\0${pass}`).toString('base64')}"`);
  }

  /** Waits for the server to close the connection (bounded). */
  async closedByServer(ms = 5000): Promise<boolean> {
    const end = Date.now() + ms;
    while (!this.closed && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    return this.closed;
  }

  close(): void {
    this.sock.destroy();
  }
}
