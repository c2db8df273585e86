/**
 * A raw IMAP session that returns the exact bytes of each command's responses (up to
 * its tagged line), for byte-for-byte comparisons: against Dovecot's recorded answers,
 * or between two ways of reading the same message.
 */
import net from 'node:net';

export class RawImap {
  private buf = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  private n = 0;
  private constructor(private readonly s: net.Socket) {
    s.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake?.();
    });
    s.on('close', () => this.wake?.());
  }

  /** Connects to 127.0.0.1:port and waits for the greeting. */
  static async connect(port: number): Promise<RawImap> {
    const s = net.connect(port, '127.0.0.1');
    await new Promise((r, j) => {
      s.once('data', r);
      s.once('error', j);
    });
    return new RawImap(s);
  }

  /**
   * Sends one command (literals in it must be LITERAL+ "{n+}"); returns the untagged bytes before the tagged OK, or with
   * `expectNo` the tagged status text (from "NO" or "BAD" on). Any other status throws.
   */
  async cmd(command: string | Buffer, expectNo = false): Promise<Buffer> {
    const tag = `r${++this.n}`;
    const text = typeof command === 'string' ? command : command.toString('latin1');
    this.s.write(Buffer.concat([Buffer.from(`${tag} `), Buffer.from(command), Buffer.from('\r\n')]));
    const marker = Buffer.from(`${tag} `);
    for (;;) {
      const i = this.buf.indexOf(marker);
      if (i === 0 || (i > 0 && this.buf[i - 1] === 10)) {
        const end = this.buf.indexOf('\r\n', i);
        if (end > 0) {
          const out = this.buf.subarray(0, i);
          const status = this.buf.subarray(i, end).toString();
          this.buf = this.buf.subarray(end + 2);
          if (!(expectNo ? / (NO|BAD) /.test(status) : / OK /.test(status))) throw new Error(`${text.slice(0, 200)}: ${status}`);
          return expectNo ? Buffer.from(status.slice(marker.length)) : out;
        }
      }
      if (this.s.destroyed) throw new Error(`connection closed during ${text.slice(0, 200)}`);
      await new Promise<void>((r) => (this.wake = r));
    }
  }

  close(): void {
    this.s.destroy();
  }
}
