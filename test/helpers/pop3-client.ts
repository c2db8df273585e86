/**
 * A tiny POP3 test client over a real socket (mox testconn idea): send a command, get
 * the parsed status line, or the status line and the un-stuffed body lines of a
 * multi-line response, or the raw bytes when a test checks the wire form itself.
 */
import net from 'node:net';
import tls from 'node:tls';

export interface Pop3Status {
  ok: boolean;
  /** RFC 2449 §8 response code without brackets, e.g. 'IN-USE'. */
  code?: string;
  /** Text after the status word (and the code). */
  text: string;
  line: string;
}

export interface Pop3Multi extends Pop3Status {
  /** Body lines with the byte-stuffing removed (RFC 1939 §3). */
  lines: string[];
}

export function parseStatus(line: string): Pop3Status {
  const m = /^(\+OK|-ERR)(?: (?:\[([^\]]+)\] ?)?(.*))?$/i.exec(line);
  if (!m) throw new Error(`not a POP3 status line: ${JSON.stringify(line)}`);
  return { ok: m[1]!.toUpperCase() === '+OK', code: m[2], text: m[3] ?? '', line };
}

export class Pop3Client {
  private buf = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  private ended = false;
  greeting = '';

  private constructor(private socket: net.Socket) {
    this.listen(socket);
  }

  /** Connects and reads the greeting. */
  static async connect(port: number, opts: { host?: string; tls?: boolean; localAddress?: string } = {}): Promise<Pop3Client> {
    const host = opts.host ?? '127.0.0.1';
    const bind = opts.localAddress === undefined ? {} : { localAddress: opts.localAddress };
    const socket = opts.tls
      ? tls.connect({ port, host, ...bind, rejectUnauthorized: false, servername: 'localhost' })
      : net.connect({ port, host, ...bind });
    await new Promise<void>((resolve, reject) => {
      socket.once(opts.tls ? 'secureConnect' : 'connect', () => resolve());
      socket.once('error', reject);
    });
    const c = new Pop3Client(socket);
    c.greeting = (await c.readLine()) ?? '';
    return c;
  }

  private listen(socket: net.Socket): void {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wakeUp();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wakeUp();
    });
    socket.on('error', () => undefined);
  }

  private wakeUp(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** The TLS socket after STLS or on an implicit-TLS connection. */
  get tlsSocket(): tls.TLSSocket | undefined {
    return this.socket instanceof tls.TLSSocket ? this.socket : undefined;
  }

  get secure(): boolean {
    return this.socket instanceof tls.TLSSocket && this.socket.encrypted;
  }

  /** True once the server has closed the connection. */
  get isClosed(): boolean {
    return this.ended;
  }

  private async waitFor<T>(take: () => T | undefined, timeoutMs = 10_000): Promise<T | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = take();
      if (v !== undefined) return v;
      if (this.ended) return undefined;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`POP3 client: timed out; buffered ${JSON.stringify(this.buf.toString('latin1').slice(0, 200))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** The next CRLF-terminated line, without the CRLF; undefined at end of stream. */
  async readLine(): Promise<string | undefined> {
    return this.waitFor(() => {
      const i = this.buf.indexOf('\r\n');
      if (i === -1) return undefined;
      const line = this.buf.subarray(0, i).toString('utf8');
      this.buf = this.buf.subarray(i + 2);
      return line;
    });
  }

  /** The raw bytes of a multi-line body up to and including the terminating ".\r\n". */
  async readMultiRaw(): Promise<Buffer> {
    // Linear in the body size: each arriving chunk is scanned once, with the last four
    // bytes before it (initially a virtual CRLF, so a body of just "." is found too).
    const parts: Buffer[] = [];
    let tail = Buffer.from('\r\n');
    const raw = await this.waitFor(() => {
      if (this.buf.length === 0) return undefined;
      const hay = Buffer.concat([tail, this.buf]);
      const j = hay.indexOf('\r\n.\r\n');
      if (j === -1) {
        parts.push(this.buf);
        tail = hay.subarray(Math.max(0, hay.length - 4));
        this.buf = Buffer.alloc(0);
        return undefined;
      }
      const endInBuf = j + 5 - tail.length; // bytes of this.buf that belong to the body
      parts.push(this.buf.subarray(0, endInBuf));
      this.buf = this.buf.subarray(endInBuf);
      return Buffer.concat(parts);
    }, 60_000);
    if (!raw) throw new Error('POP3 client: connection closed inside a multi-line response');
    return raw;
  }

  send(data: string | Buffer): void {
    this.socket.write(data);
  }

  async status(): Promise<Pop3Status> {
    const line = await this.readLine();
    if (line === undefined) throw new Error('POP3 client: connection closed');
    return parseStatus(line);
  }

  /** Sends a command, returns the status line. */
  async cmd(line: string): Promise<Pop3Status> {
    this.send(`${line}\r\n`);
    return this.status();
  }

  /** Sends a command that answers multi-line on success; returns status and un-stuffed lines. */
  async multi(line: string): Promise<Pop3Multi> {
    const st = await this.cmd(line);
    if (!st.ok) return { ...st, lines: [] };
    const raw = await this.readMultiRaw();
    return { ...st, lines: unstuff(raw) };
  }

  /** Sends a command that answers multi-line on success; returns status and the raw body. */
  async multiRaw(line: string): Promise<Pop3Status & { raw: Buffer }> {
    const st = await this.cmd(line);
    if (!st.ok) return { ...st, raw: Buffer.alloc(0) };
    return { ...st, raw: await this.readMultiRaw() };
  }

  async login(user: string, pass: string): Promise<Pop3Status> {
    const u = await this.cmd(`USER ${user}`);
    if (!u.ok) return u;
    return this.cmd(`PASS ${pass}`);
  }

  /** STLS then the TLS handshake on the same socket (RFC 2595 §4). */
  async startTls(): Promise<Pop3Status> {
    const st = await this.cmd('STLS');
    if (!st.ok) return st;
    await this.upgradeTls();
    return st;
  }

  /** The TLS handshake on the current socket, once the server's STLS "+OK" was read. */
  async upgradeTls(): Promise<void> {
    this.socket.removeAllListeners('data');
    this.socket.removeAllListeners('close');
    const secure = tls.connect({ socket: this.socket, rejectUnauthorized: false, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', () => resolve());
      secure.once('error', reject);
    });
    this.socket = secure;
    this.listen(secure);
  }

  /** Resolves when the server has closed the connection (fails after the timeout). */
  async waitClosed(timeoutMs = 10_000): Promise<void> {
    await this.waitFor(() => (this.ended ? true : undefined), timeoutMs);
  }

  /** Stops reading from the socket (a client that stalls in the middle of a reply). */
  pauseReading(): void {
    this.socket.pause();
  }

  /** Drops the connection without QUIT. */
  destroy(): void {
    this.socket.destroy();
  }

  async quit(): Promise<Pop3Status> {
    const st = await this.cmd('QUIT');
    await this.waitClosed();
    return st;
  }
}

/** Body lines of a raw multi-line response, terminator dropped, stuffing removed. */
export function unstuff(raw: Buffer): string[] {
  const text = raw.toString('utf8');
  const lines = text.split('\r\n');
  // "...\r\n.\r\n" splits into [..., '.', '']
  lines.splice(-2, 2);
  return lines.map((l) => (l.startsWith('.') ? l.slice(1) : l));
}
