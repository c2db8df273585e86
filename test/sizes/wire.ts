/**
 * Line-and-literal reading over a real socket for the size matrix's IMAP and POP3
 * checks: lines as they come, and literals of any size copied once into one buffer
 * (a 50 MB FETCH or RETR is not gathered by repeated concatenation).
 */
import net from 'node:net';

export class WireReader {
  private head: Buffer = Buffer.alloc(0);
  private queue: Buffer[] = [];
  private wake?: () => void;
  private closed = false;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.queue.push(d);
      this.wake?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
    socket.on('error', () => undefined);
  }

  static async connect(port: number, host = '127.0.0.1'): Promise<WireReader> {
    const socket = net.connect(port, host);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new WireReader(socket);
  }

  private async pull(): Promise<void> {
    while (this.queue.length === 0) {
      if (this.closed) throw new Error(`connection closed; unread: ${JSON.stringify(this.head.toString('latin1').slice(0, 200))}`);
      await new Promise<void>((r) => (this.wake = r));
      this.wake = undefined;
    }
    const next = this.queue.shift()!;
    this.head = this.head.length ? Buffer.concat([this.head, next]) : next;
  }

  /** The next line without its CRLF, as bytes. */
  async lineBytes(): Promise<Buffer> {
    for (let from = 0; ; ) {
      const i = this.head.indexOf('\r\n', from);
      if (i >= 0) {
        const l = this.head.subarray(0, i);
        this.head = this.head.subarray(i + 2);
        return l;
      }
      from = Math.max(0, this.head.length - 1);
      await this.pull();
    }
  }

  async line(): Promise<string> {
    return (await this.lineBytes()).toString('latin1');
  }

  /** Exactly n bytes. */
  async bytes(n: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(n);
    for (let o = 0; o < n; ) {
      if (this.head.length === 0) await this.pull();
      const k = Math.min(n - o, this.head.length);
      this.head.copy(out, o, 0, k);
      this.head = this.head.subarray(k);
      o += k;
    }
    return out;
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** The answer to one IMAP command: the tagged line, the untagged lines, literals by the item before them ("BODY[]", "BINARY[2]"). */
export interface ImapAnswer {
  tagged: string;
  untagged: string[];
  literals: Map<string, Buffer>;
}

/** A logged-in IMAP session (plaintext on loopback) on its selected INBOX, reading literals whole. */
export class ImapSession {
  private n = 0;
  private constructor(readonly w: WireReader) {}

  static async open(port: number, user: string, pass: string): Promise<ImapSession> {
    const s = new ImapSession(await WireReader.connect(port));
    await s.w.line(); // greeting
    for (const c of [`LOGIN ${user} ${pass}`, 'SELECT INBOX']) {
      const r = await s.command(c);
      if (!/ OK /.test(r.tagged)) throw new Error(`${c}: ${r.tagged}`);
    }
    return s;
  }

  /** Sends a command (and its literal after the server's "+") and reads to its tagged reply. */
  async command(line: string, literal?: Buffer): Promise<ImapAnswer> {
    const tag = `s${++this.n}`;
    this.w.write(`${tag} ${line}\r\n`);
    const untagged: string[] = [];
    const literals = new Map<string, Buffer>();
    for (;;) {
      let l = await this.w.line();
      if (l.startsWith('+ ') && literal) {
        this.w.write(literal);
        this.w.write('\r\n');
        continue;
      }
      if (l.startsWith(`${tag} `)) return { tagged: l, untagged, literals };
      // A line may carry literals ({n}, or ~{n} for BINARY, RFC 3516 §4.2) and go on after each.
      for (let m = /([^\s(]+) ~?\{(\d+)\}$/.exec(l); m; m = /([^\s(]+) ~?\{(\d+)\}$/.exec(l)) {
        literals.set(m[1]!, await this.w.bytes(Number(m[2])));
        l = `${l.slice(0, m.index)}<literal> ${await this.w.line()}`;
      }
      untagged.push(l);
    }
  }

  close(): void {
    this.w.close();
  }
}
