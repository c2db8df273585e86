/**
 * One POP3 connection: the read loop, writes, STLS, limits, and the one place where
 * errors become replies.
 *
 * Implementation notes:
 * - One command at a time (mox): the loop awaits each command; lines the client
 *   pipelines meanwhile (RFC 2449 §6.6 PIPELINING) wait in a small queue, and the
 *   socket is paused when that queue grows, so a client cannot make us buffer.
 * - Writes honour backpressure: `write() === false` → await 'drain' (RETR of a large
 *   message never holds more than a chunk or two in memory).
 * - Limits: a maximum line length, an idle timeout (RFC 1939 §3: the autologout timer
 *   is at least 10 minutes; it counts while we wait for a command or for the client to
 *   read a reply, not while we work), a bad-command budget (`limits.maxBadCommands`; unknown
 *   commands, garbage, over-long lines, syntax errors and commands in the wrong state
 *   count) and MAX_AUTH_FAILURES failed logins; past either, the connection closes.
 * - Deadlines (issue 14, src/util/deadline.ts): log in within `loginDeadlineMs` of
 *   connecting, and finish each command line within `commandDeadlineMs` of its first
 *   byte, whatever trickles in (one byte a second does not keep a connection). A
 *   connection a timer ends is destroyed after a grace whatever its write buffer holds.
 * - A connection that ends without QUIT in TRANSACTION state never enters UPDATE
 *   (RFC 1939 §6): nothing is deleted, the maildrop lock is released.
 * - Error mapping (STYLE.md principle 4): Pop3Error → `-ERR [code] text`; StoreError →
 *   `-ERR` with [SYS/TEMP] or a plain message, never internal detail; anything else is
 *   logged with its stack and answered `-ERR [SYS/TEMP] Internal error`. An error after
 *   a multi-line response has begun cannot be reported in-band, so the connection is
 *   closed instead (the client sees no terminating ".").
 */
import type net from 'node:net';
import type { ServerContext } from '../context.js';
import type { Logger } from '../log.js';
import { StoreError, type AccountId, type Uid } from '../store/types.js';
import { COMMANDS } from './commands.js';
import { Pop3Error, type Pop3Conn, type SessionState } from './session.js';
import { LineFramer, MultilineEncoder, parseCommand, type FramedUnit } from './wire.js';
import { Deadline, endWithin } from '../util/deadline.js';
import { ConnectionClosed, LineConnection } from '../util/line-connection.js';

export interface ConnectionOptions {
  /** The socket is already TLS (port 995). */
  secure: boolean;
  idleTimeoutMs: number;
  /** From connect to TRANSACTION state. */
  loginDeadlineMs: number;
  /** From the first byte of a command line to its end. */
  commandDeadlineMs: number;
  maxLineLength: number;
  /** A connection a timer ended is destroyed this long after, whatever its write buffer holds. */
  closeGraceMs: number;
  log: Logger;
}

/** RETR/TOP output is gathered up to this size before a write. */
const COALESCE_BYTES = 64 * 1024;

/** Pause reading when this many client lines wait to be processed. */
const MAX_QUEUED = 32;

export class Pop3Connection extends LineConnection<FramedUnit> implements Pop3Conn {
  state: SessionState = { name: 'authorization' };
  private framer: LineFramer;
  private busy = false;
  private onClient = false;
  private midResponse = false;
  private badCommands = 0;
  private authFailures = 0;
  private readonly loginDeadline = new Deadline(() => this.expire('Login timeout'));
  private readonly lineDeadline = new Deadline(() => {
    // Not the client's fault while we do not read (queue full).
    if (this.socket.isPaused()) return this.lineDeadline.arm(this.opts.commandDeadlineMs);
    this.expire('Command line timeout');
  });

  constructor(
    ctx: ServerContext,
    socket: net.Socket,
    private readonly opts: ConnectionOptions,
  ) {
    super(ctx, socket, opts, MAX_QUEUED);
    this.framer = new LineFramer(opts.maxLineLength);
    this.attach(socket);
    this.loginDeadline.arm(opts.loginDeadlineMs);
  }

  // RFC 1939 §3's autologout: the socket's idle timer.
  protected override attach(socket: net.Socket): void {
    super.attach(socket);
    socket.on('timeout', this.onTimeout);
    socket.setTimeout(this.opts.idleTimeoutMs);
  }

  protected override detach(socket: net.Socket): void {
    super.detach(socket);
    socket.off('timeout', this.onTimeout);
    socket.setTimeout(0);
  }

  protected received(chunk: Buffer): FramedUnit[] {
    const units = this.framer.push(chunk);
    // A line under way must end within its deadline, counted from its first byte.
    if (this.framer.pending === 0) this.lineDeadline.clear();
    else if (!this.lineDeadline.armed) this.lineDeadline.arm(this.opts.commandDeadlineMs);
    return units;
  }

  protected resetFraming(): void {
    this.framer = new LineFramer(this.opts.maxLineLength);
  }

  protected override waitingOnClient(waiting: boolean): void {
    this.onClient = waiting;
  }

  private readonly onTimeout = (): void => {
    // Our own slow work (a login's password hash, a store call) is not client idleness;
    // a client that stops reading a reply, owes a SASL response or stalls in the STLS
    // handshake is.
    if (this.busy && !this.onClient) return;
    // RFC 1939 §3: autologout closes without entering UPDATE.
    this.expire('Autologout; idle for too long');
  };

  /**
   * A timer ends the connection: the reply only between commands and when the socket
   * takes it at once, then destroyed after the grace whatever its write buffer holds.
   * No UPDATE state (RFC 1939 §3, §6): nothing is deleted.
   */
  private expire(reason: string): void {
    if (this.closed) return;
    this.log.info({ reason }, 'pop3 connection ended by timer');
    this.closing = true;
    endWithin(this.socket, this.busy ? undefined : `-ERR [SYS/TEMP] ${reason}\r\n`, this.opts.closeGraceMs);
  }

  protected onClosed(): void {
    this.loginDeadline.clear();
    this.lineDeadline.clear();
    if (this.state.name === 'transaction') {
      // Dropped (or timed out) in TRANSACTION state: no UPDATE, nothing deleted.
      this.log.info('pop3 connection dropped; no messages deleted');
      this.state.unlock();
    }
    this.state = { name: 'update' };
    this.log.info('pop3 close');
  }

  /** Greets and runs commands until the connection ends. Never rejects. */
  async run(): Promise<void> {
    try {
      // RFC 1939 §4: the greeting.
      await this.ok(`${this.ctx.config.hostname} POP3 server ready`);
      while (!this.closed && !this.closing) {
        const u = await this.nextUnit();
        if (!u) break;
        this.busy = true;
        // At work until the reply is written: the store's background work waits meanwhile (MailStore.beginWork).
        const endWork = this.ctx.store.beginWork();
        try {
          await this.runUnit(u);
        } finally {
          this.busy = false;
          endWork();
        }
        if (this.state.name !== 'authorization') this.loginDeadline.clear();
      }
    } catch (err) {
      if (!(err instanceof ConnectionClosed)) this.log.error({ err }, 'pop3 connection failed');
    } finally {
      // A login that completed while the client was going away still took the lock.
      if (this.closed && this.state.name === 'transaction') {
        this.state.unlock();
        this.state = { name: 'update' };
      }
      this.end();
    }
  }

  private async runUnit(u: FramedUnit): Promise<void> {
    if ('tooLong' in u) {
      await this.reply(new Pop3Error('Line too long', undefined, { bad: true }));
      return;
    }
    const cmd = parseCommand(u.line);
    const spec = cmd && COMMANDS.get(cmd.name);
    this.ctx.metrics?.command('pop3', spec ? spec.name : 'UNKNOWN');
    if (!cmd || !spec) {
      this.log.debug({ cmd: cmd?.name }, 'pop3 unknown command');
      await this.reply(new Pop3Error('Unknown command', undefined, { bad: true }));
      return;
    }
    if (!spec.states.includes(this.state.name)) {
      await this.reply(new Pop3Error(`${spec.name} not allowed now`, undefined, { bad: true }));
      return;
    }
    const started = Date.now();
    try {
      await spec.handle(this, cmd);
    } catch (err) {
      await this.reply(err);
    }
    this.log.debug({ cmd: spec.name, ms: Date.now() - started }, 'pop3 command');
  }

  /** The one place errors become replies. */
  private async reply(err: unknown): Promise<void> {
    if (err instanceof ConnectionClosed) throw err;
    if (this.midResponse) {
      // Part of a multi-line response is out: the only honest signal left is to close.
      this.log.warn({ err }, 'pop3 error during a multi-line response; closing');
      this.socket.destroy();
      throw new ConnectionClosed();
    }
    let e: Pop3Error;
    if (err instanceof Pop3Error) {
      e = err;
    } else if (err instanceof StoreError) {
      e =
        err.kind === 'nonexistent'
          ? new Pop3Error('Message no longer exists')
          : new Pop3Error('Storage error, try again later', 'SYS/TEMP');
      this.log.warn({ kind: err.kind, msg: err.message }, 'pop3 store error');
    } else {
      this.log.error({ err }, 'pop3 internal error');
      e = new Pop3Error('Internal error', 'SYS/TEMP');
    }
    let close = e.opts.close === true;
    let text = e.message;
    if (e.opts.bad) {
      this.badCommands++;
      if (this.badCommands >= this.ctx.config.limits.maxBadCommands) {
        close = true;
        text += '; too many bad commands, closing';
      }
    }
    await this.send(`-ERR ${e.code ? `[${e.code}] ` : ''}${text}\r\n`);
    if (close) this.closeAfterReply();
  }

  // --- Pop3Conn ---

  async ok(text: string): Promise<void> {
    await this.send(text ? `+OK ${text}\r\n` : '+OK\r\n');
  }

  async okLines(text: string, lines: string[]): Promise<void> {
    // RFC 1939 §3: multi-line responses end with "." and lines starting with "." are stuffed.
    const body = lines.map((l) => (l.startsWith('.') ? `.${l}` : l) + '\r\n').join('');
    await this.send(`+OK${text ? ` ${text}` : ''}\r\n${body}.\r\n`);
  }

  async okMessage(text: string, uid: Uid, bodyLines?: number): Promise<void> {
    if (this.state.name !== 'transaction') throw new Error('okMessage outside TRANSACTION');
    const { drop } = this.state;
    // Open first, so a missing message is still an ordinary -ERR.
    const { stream } = await this.ctx.store.readMessage(drop.account, drop.mailboxId, uid);
    const enc = new MultilineEncoder(bodyLines === undefined ? {} : { bodyLines });
    stream.on('error', (err) => enc.destroy(err));
    stream.pipe(enc);
    // The status line, the message and the final "." leave in as few writes as the
    // size allows (one for most mail): each write to a socket is a system call and a
    // wake-up of the reader, which under load costs more than the copy.
    let pending: Buffer[] = [Buffer.from(`+OK ${text}\r\n`)];
    let pendingBytes = pending[0]!.length;
    const flush = async (): Promise<void> => {
      const data = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
      this.midResponse = true;
      await this.send(data);
    };
    try {
      for await (const chunk of enc) {
        pending.push(chunk as Buffer);
        pendingBytes += (chunk as Buffer).length;
        if (pendingBytes >= COALESCE_BYTES) await flush();
        // TOP: the rest of the file is not needed.
        if (enc.state.finished && !stream.destroyed) {
          stream.unpipe(enc);
          stream.destroy();
          if (!enc.writableEnded) enc.end();
        }
      }
      if (pendingBytes > 0) await flush();
      this.midResponse = false;
    } finally {
      if (!stream.destroyed) stream.destroy();
    }
  }

  async writeLine(line: string): Promise<void> {
    await this.send(`${line}\r\n`);
  }

  async readLine(): Promise<string | undefined> {
    this.onClient = true;
    let u: FramedUnit | undefined;
    try {
      u = await this.nextUnit();
    } finally {
      this.onClient = false;
    }
    if (!u) return undefined;
    if ('tooLong' in u) throw new Pop3Error('Line too long', undefined, { bad: true });
    return u.line;
  }

  async startTls(okText: string): Promise<void> {
    const secure = await this.upgradeToTls(`+OK ${okText}\r\n`);
    // RFC 2595 §4: the client must forget what it knew, so must we: back to a fresh
    // AUTHORIZATION state.
    this.state = { name: 'authorization' };
    this.log.debug({ protocol: secure.getProtocol() }, 'pop3 STLS done');
  }

  noteAuthFailure(): number {
    return ++this.authFailures;
  }

  setUser(account: AccountId): void {
    this.log = this.log.child({ user: account });
  }

  /** Server shutdown: close at once when idle between commands, else after this command. */
  shutdown(): void {
    if (this.closed) return;
    this.closing = true;
    if (!this.busy) {
      this.socket.write('-ERR [SYS/TEMP] Server shutting down\r\n');
      this.end();
    }
  }

  private end(): void {
    if (this.closed) return;
    this.socket.end();
    // A client that never reads must not keep the socket forever.
    setTimeout(() => this.socket.destroy(), 5000).unref();
    this.markClosedSoon();
  }

  private markClosedSoon(): void {
    // 'close' follows end() once the peer has its bytes; until then the lock stays
    // released only if we were not in TRANSACTION (QUIT already moved us to UPDATE).
    if (this.state.name !== 'transaction') return;
    this.markClosed();
  }
}
