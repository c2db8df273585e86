/**
 * One IMAP connection: the read loop, one command at a time (mox: "We never execute
 * multiple commands at the same time for a connection"), socket backpressure, STARTTLS,
 * continuation reads (AUTHENTICATE, IDLE), and the hostile-client limits:
 * - an unknown command before authentication → BYE (go-imap cross-protocol rule);
 * - a bad-command budget (config limits.maxBadCommands) → BYE;
 * - line and literal size limits (framer), APPENDLIMIT with NO [TOOBIG] before "+"
 *   (RFC 7889 §4);
 * - timeouts: IDLE at least 30 minutes (RFC 9051 §5.4 says 30 min minimum; we use 35
 *   as go-imap does), the auto-logout timer otherwise (30 min once authenticated,
 *   shorter before);
 * - deadlines (issue 14, src/util/deadline.ts): LOGIN within `loginDeadlineMs` of
 *   connecting, and each command line within `commandDeadlineMs` of its first byte
 *   (plus time for its literals at `literalMinRate` bytes/s), whatever trickles in;
 * - a connection a timer ends is destroyed after a grace whatever its write buffer
 *   holds (a client that never reads is logged out anyway).
 *
 * Input that arrives while a command runs stays queued (framed); the socket is paused
 * when the queue grows. Output is written in order through one chain, honouring
 * `write() === false` → 'drain'; literal bodies are piped from their file streams.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { ServerContext } from '../context.js';
import type { Logger } from '../log.js';
import type { StoreChange } from '../store/types.js';
import { deflateSocket } from './compress.js';
import { capabilities } from './capabilities.js';
import { dispatch, flushPending } from './dispatch.js';
import { NotifySession } from './notify-session.js';
import type { ConnState } from './session.js';
import { Encoder, type Chunk } from './wire/encoder.js';
import { Framer, type LiteralDecision, type LiteralInfo } from './wire/framer.js';
import { FileSink, decideLiteral, inMemory, type LiteralHost } from './literals.js';
import { StoreError } from '../store/types.js';
import type { FramedCommand, Literal } from './wire/types.js';
import { loginAllowed } from '../accounts/login.js';
import { CLOSE_GRACE_MS, Deadline, endWithin } from '../util/deadline.js';
import { quickAck } from '../util/quickack.js';
import { WorkHold } from '../store/work-hold.js';

export interface ImapTimeouts {
  /** Before authentication. */
  preAuthMs: number;
  /** Authenticated, not idling: the auto-logout timer (RFC 9051 §5.4: at least 30 minutes). */
  authMs: number;
  /** In IDLE (RFC 2177 §3: clients re-issue every 29 minutes). */
  idleMs: number;
  /** From connect to a successful login, whatever the client sends meanwhile. */
  loginDeadlineMs: number;
  /** From the first byte of a command line to its end. */
  commandDeadlineMs: number;
  /** Literals get extra time for their bytes at this rate (bytes per second). */
  literalMinRate: number;
  /** A connection a timer ends is destroyed this long after its BYE. */
  closeGraceMs: number;
}

export const DEFAULT_TIMEOUTS: ImapTimeouts = {
  preAuthMs: 60_000,
  authMs: 30 * 60_000,
  idleMs: 35 * 60_000,
  loginDeadlineMs: 60_000,
  commandDeadlineMs: 60_000,
  literalMinRate: 4096,
  closeGraceMs: CLOSE_GRACE_MS,
};

export interface ConnectionOptions {
  implicitTls: boolean;
  timeouts: ImapTimeouts;
  /** APPENDLIMIT (RFC 7889): the largest message we accept. */
  appendLimit: number;
  maxLine: number;
  /** Largest literal for commands other than APPEND (names, search strings, passwords). */
  maxLiteral: number;
  /** Literals above this size are spooled to a file under the data root. */
  spoolThreshold: number;
  /** LITERAL- (RFC 7888 §5) instead of LITERAL+. */
  literalMinus?: boolean;
}

const QUEUE_HIGH = 16;

export class ImapConnection implements LiteralHost {
  state: ConnState = { name: 'notAuthenticated' };
  readonly enabled = new Set<string>();
  /** CONDSTORE is on once enabled or used (RFC 7162 §3.1 "CONDSTORE enabling command"). */
  condstore = false;
  /** ENABLE QRESYNC (RFC 7162 §3.2.3): VANISHED instead of EXPUNGE, the QRESYNC select parameter. */
  qresync = false;
  tls: boolean;
  badCommands = 0;
  idling = false;
  closed = false;
  log: Logger;
  /** Set by STARTTLS: the upgrade happens after the tagged OK is written. */
  startTlsRequested = false;
  /** COMPRESS DEFLATE (RFC 4978 §3): 'asked' until its tagged OK is out, then 'on' (compress.ts). */
  compress: 'off' | 'asked' | 'on' = 'off';

  private socket: net.Socket;
  private framer!: Framer;
  private queue: FramedCommand[] = [];
  private lineWaiter: { resolve: (s: string) => void; reject: (e: Error) => void } | undefined;
  private running = false;
  /** Server stop asked while a command was under way: the BYE text, sent once it is done. */
  private stopping: string | undefined;
  private writeChain: Promise<void> = Promise.resolve();
  private unsubscribe: (() => void) | undefined;
  private idleWake: (() => void) | undefined;
  private paused = false;
  /** Writes handed to the chain and not yet done (a BYE may not cut into a response). */
  private writing = 0;
  /** The command being run (its literals count towards the connection's literal memory). */
  private current: FramedCommand | undefined;
  private idleWaiters: Array<() => void> = [];
  /** Literal checks under way (reading stays paused meanwhile). */
  private checking = 0;
  private readonly loginDeadline = new Deadline(() => this.terminate('Login timeout'));
  private readonly lineDeadline = new Deadline(() => this.onLineDeadline());
  /** On while commands run and write, off while waiting for the client: the store's background work waits (work-hold.ts). */
  private readonly work: WorkHold;

  constructor(
    readonly ctx: ServerContext,
    socket: net.Socket,
    readonly opts: ConnectionOptions,
    log: Logger,
    readonly remoteAddress: string,
    private readonly onClosed: (c: ImapConnection) => void,
  ) {
    this.socket = socket;
    this.tls = opts.implicitTls;
    this.log = log;
    this.work = new WorkHold(ctx.store);
    this.attach(socket);
    this.loginDeadline.arm(opts.timeouts.loginDeadlineMs);
    this.setTimer();
  }

  get utf8(): boolean {
    return this.enabled.has('IMAP4REV2') || this.enabled.has('UTF8=ACCEPT');
  }

  get rev2(): boolean {
    return this.enabled.has('IMAP4REV2');
  }

  /** LOGIN/AUTHENTICATE allowed now: over TLS, or from loopback when the config says so (RFC 9051 §6.2.3). */
  authAllowed(): boolean {
    return loginAllowed(this.ctx.config, this.tls, this.remoteAddress);
  }

  capabilities(): string[] {
    return capabilities({
      tls: this.tls,
      authAllowed: this.authAllowed(),
      authenticated: this.state.name === 'authenticated' || this.state.name === 'selected',
      appendLimit: this.opts.appendLimit,
      literalMinus: !!this.opts.literalMinus,
    });
  }

  encoder(): Encoder {
    return new Encoder({ utf8: this.utf8 });
  }

  private attach(socket: net.Socket): void {
    this.framer = new Framer(
      {
        literal: (info) => this.decideLiteral(info),
        command: (cmd) => this.onCommand(cmd),
        continuation: () => void this.write(['+ Ready for literal data\r\n']),
        reject: (response) => void this.write([response + '\r\n']),
        fatal: (response) => void this.bye(response.replace(/^\* BYE /, '')),
        dropped: (lits) => cleanupLiterals(lits),
      },
      { maxLine: this.opts.maxLine, maxDiscard: 64 * 1024, maxLiterals: 64 },
    );
    socket.on('data', this.onData);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    socket.on('timeout', this.onTimeout);
  }

  private detach(socket: net.Socket): void {
    socket.off('data', this.onData);
    socket.off('error', this.onError);
    socket.off('close', this.onClose);
    socket.off('timeout', this.onTimeout);
  }

  private readonly onData = (chunk: Buffer): void => {
    try {
      this.framer.push(chunk);
      // Part of a command is still to come (the CRLF after a literal, say): acknowledge
      // what came at once, or a Nagle-bound client waits out our delayed ACK (util/quickack.ts).
      if (this.framer.midCommand) quickAck(this.socket);
    } catch (err) {
      this.log.error({ err }, 'framer failure');
      void this.bye('Internal error');
    }
    // A command line under way must end within its deadline (counted from its first byte).
    if (!this.framer.midCommand) this.lineDeadline.clear();
    else if (!this.lineDeadline.armed) this.lineDeadline.arm(this.opts.timeouts.commandDeadlineMs);
  };
  private readonly onError = (err: Error): void => {
    this.log.debug({ err: err.message }, 'socket error');
  };
  private readonly onClose = (): void => this.cleanup();
  private readonly onTimeout = (): void => {
    this.terminate('Autologout; idle for too long'); // RFC 9051 §5.4
  };

  private onLineDeadline(): void {
    // Not the client's fault while we do not read (queue full, a literal being checked).
    if (this.paused || this.socket.isPaused()) return this.lineDeadline.arm(this.opts.timeouts.commandDeadlineMs);
    this.terminate('Command line timeout');
  }

  setTimer(): void {
    if (this.state.name !== 'notAuthenticated') this.loginDeadline.clear();
    const t = this.opts.timeouts;
    const ms = this.idling ? t.idleMs : this.state.name === 'notAuthenticated' ? t.preAuthMs : t.authMs;
    this.socket.setTimeout(ms);
  }

  /** Checks before "+" (literals.ts); reading stops while a check waits. */
  private decideLiteral(info: LiteralInfo): LiteralDecision | Promise<LiteralDecision> {
    // The literal's bytes get time at the minimum rate on top of the line's deadline.
    const grant = (d: LiteralDecision): LiteralDecision => {
      if (d.ok) this.lineDeadline.extend(Math.ceil((info.size / this.opts.timeouts.literalMinRate) * 1000));
      return d;
    };
    const d = decideLiteral(this, info);
    if (!(d instanceof Promise)) return grant(d);
    this.checking++;
    this.socket.pause();
    return d.then(grant).finally(() => {
      this.checking--;
      if (!this.paused && !this.closed) this.socket.resume();
    });
  }

  literalMemory(): number {
    let n = inMemory(this.framer.pendingLiterals) + (this.current ? inMemory(this.current.literals) : 0);
    for (const c of this.queue) n += inMemory(c.literals);
    return n;
  }

  /** Resolves when the commands received so far have run (or the running one waits for input). */
  whenIdle(): Promise<void> {
    if (this.closed || (!this.running && this.queue.length === 0) || this.lineWaiter) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private notifyIdle(): void {
    for (const w of this.idleWaiters.splice(0)) w();
  }

  async mailboxExists(account: string, name: string): Promise<boolean> {
    try {
      await this.ctx.store.getMailbox(account, name);
      return true;
    } catch (err) {
      if (err instanceof StoreError && err.kind === 'nonexistent') return false;
      throw err;
    }
  }

  async quotaTakes(account: string, size: number): Promise<boolean> {
    const fit = (await this.ctx.quota?.fit(account, size)) ?? 'fits';
    return fit === 'fits' || fit === 'grace';
  }

  spool(): LiteralDecision {
    const dir = path.join(this.ctx.config.dataRoot, 'tmp', 'imap');
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    return { ok: true, sink: new FileSink(path.join(dir, `append-${Date.now()}-${randomBytes(6).toString('hex')}`)) };
  }

  private onCommand(cmd: FramedCommand): void {
    if (this.closed) {
      cleanupLiterals(cmd.literals);
      return;
    }
    if (this.lineWaiter) {
      const w = this.lineWaiter;
      this.lineWaiter = undefined;
      cleanupLiterals(cmd.literals);
      w.resolve(cmd.lines.join(''));
      return;
    }
    if (this.idling && this.idleWake) {
      // Should not happen (IDLE reads with readLine); treat as DONE.
      this.queue.unshift(cmd);
      this.idleWake();
      return;
    }
    this.queue.push(cmd);
    if (this.queue.length >= QUEUE_HIGH && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.work.on();
    try {
      while (this.queue.length > 0 && !this.closed) {
        const cmd = this.queue.shift()!;
        if (this.paused && this.queue.length < QUEUE_HIGH / 2) {
          this.paused = false;
          if (this.checking === 0) this.socket.resume();
        }
        this.current = cmd;
        try {
          await dispatch(this, cmd);
        } finally {
          this.current = undefined;
          cleanupLiterals(cmd.literals);
        }
        if (this.startTlsRequested) {
          this.startTlsRequested = false;
          await this.upgradeTls();
        }
        if (this.compress === 'asked') {
          this.compress = 'on'; // RFC 4978 §3: compressed from the byte after the tagged OK's CRLF
          this.rewrap(deflateSocket);
        }
        this.setTimer();
      }
    } catch (err) {
      this.log.error({ err }, 'connection loop failure');
      await this.bye('Internal error');
    } finally {
      this.running = false;
      this.work.off();
      this.notifyIdle();
    }
    if (this.notify.active) this.notify.requestPush();
    if (this.stopping !== undefined && this.queue.length === 0 && !this.framer.midCommand) await this.bye(this.stopping);
  }

  /**
   * Server stop: BYE at once between commands (and in IDLE); a command being received
   * or run (an APPEND literal half sent) is let finish first, so it is stored and
   * answered rather than cut off. The listener's grace bounds the wait.
   */
  shutdown(text: string): void {
    if (this.closed) return;
    if (this.idling || (!this.running && this.queue.length === 0 && !this.framer.midCommand)) {
      void this.bye(text);
      return;
    }
    this.stopping = text;
  }

  /**
   * Reads the next client line (AUTHENTICATE responses, IDLE "DONE"). Queued pipelined
   * input is consumed first.
   */
  readLine(): Promise<string> {
    const queued = this.queue.shift();
    if (queued) {
      cleanupLiterals(queued.literals);
      return Promise.resolve(queued.lines.join(''));
    }
    if (this.closed) return Promise.reject(new Error('connection closed'));
    const line = new Promise<string>((resolve, reject) => {
      this.lineWaiter = { resolve, reject };
      this.notifyIdle(); // a literal check waiting for this command may go on: the input is for it
    });
    return this.work.waiting(line); // waiting for the client (IDLE, AUTHENTICATE) is not work
  }

  /** Writes chunks in order after everything written before; resolves when handed to the socket. */
  write(chunks: Chunk[]): Promise<void> {
    this.writing++;
    const p = this.writeChain.then(() => this.writeNow(chunks)).finally(() => this.writing--);
    this.writeChain = p.catch(() => undefined);
    return p;
  }

  send(enc: Encoder): Promise<void> {
    return this.write(enc.done());
  }

  private async writeNow(chunks: Chunk[]): Promise<void> {
    if (this.closed || this.socket.destroyed) return;
    let text: (string | Buffer)[] = [];
    const flushText = async (): Promise<void> => {
      if (text.length === 0) return;
      const buf = text.length === 1 && typeof text[0] === 'string' ? text[0] : Buffer.concat(text.map((t) => (typeof t === 'string' ? Buffer.from(t, 'utf8') : t)));
      text = [];
      if (!this.socket.write(buf)) await this.drain();
    };
    for (const c of chunks) {
      if (typeof c === 'string' || Buffer.isBuffer(c)) {
        text.push(c);
        continue;
      }
      await flushText();
      await this.pipeExactly(await c.open(), c.size);
    }
    await flushText();
  }

  private drain(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed || !this.socket.writableNeedDrain) return resolve();
      const done = (): void => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  /** Pipes exactly `size` bytes (the literal length already announced), padding or truncating. */
  private async pipeExactly(stream: Readable, size: number): Promise<void> {
    let left = size;
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        if (this.socket.destroyed) break;
        if (left <= 0) break;
        const piece = chunk.length > left ? chunk.subarray(0, left) : chunk;
        left -= piece.length;
        if (!this.socket.write(piece)) await this.drain();
      }
    } finally {
      stream.destroy();
    }
    if (left > 0 && !this.socket.destroyed) {
      // The file shrank under us: keep the framing valid.
      this.socket.write(Buffer.alloc(left, 0x20));
    }
  }

  /**
   * Untagged BYE, then close (RFC 9051 §7.1.5). A client that does not read its BYE
   * within the grace is cut off without it.
   */
  async bye(text: string): Promise<void> {
    if (this.closed) return;
    const stuck = setTimeout(() => this.terminate(undefined), this.opts.timeouts.closeGraceMs);
    stuck.unref();
    await this.write([`* BYE ${text}\r\n`]);
    clearTimeout(stuck);
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.state = { name: 'logout' };
    endWithin(this.socket, undefined, this.opts.timeouts.closeGraceMs);
    this.cleanup();
  }

  /**
   * A timer ends the connection (autologout, deadlines): BYE when nothing else is being
   * written, and the socket destroyed after the grace whatever its write buffer holds,
   * so a client that never reads cannot keep it (issue 14; RFC 9051 §5.4 autologout).
   */
  terminate(text: string | undefined): void {
    if (this.closed) return;
    if (text) this.log.info({ reason: text }, 'connection ended by timer');
    const lastWords = text !== undefined && this.writing === 0 ? `* BYE ${text}\r\n` : undefined;
    this.state = { name: 'logout' };
    endWithin(this.socket, lastWords, this.opts.timeouts.closeGraceMs);
    this.cleanup();
  }

  /** Immediately destroys the socket (server shutdown). */
  destroy(): void {
    this.socket.destroy();
    this.cleanup();
  }

  private cleanup(): void {
    if (this.closed) return;
    this.closed = true;
    this.state = { name: 'logout' };
    this.loginDeadline.clear();
    this.lineDeadline.clear();
    this.framer.close();
    for (const c of this.queue) cleanupLiterals(c.literals);
    this.queue = [];
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.lineWaiter?.reject(new Error('connection closed'));
    this.lineWaiter = undefined;
    this.idleWake?.();
    this.notifyIdle();
    this.onClosed(this);
  }

  /** After login: listen to the account's store changes (unilateral EXISTS, EXPUNGE, FETCH: RFC 9051 §5.2, §7.4, §7.5). */
  subscribeChanges(account: string): void {
    this.unsubscribe?.();
    this.unsubscribe = this.ctx.store.changes.subscribe(account, (c) => this.onStoreChange(c));
  }

  private onStoreChange(c: StoreChange): void {
    const view = this.state.name === 'selected' ? this.state.view : undefined;
    const forView = view ? view.enqueue(c) : false;
    const forNotify = this.notify.note(c, view?.mailboxId);
    if (!forView && !forNotify) return;
    if (this.idling) this.idleWake?.();
    else if (this.notify.active) this.notify.requestPush();
  }

  /** NOTIFY (RFC 5465): what this session asked to be told, and its pushes (notify-session.ts). */
  readonly notify = new NotifySession(this, () => !this.closed && !this.running && !this.idling && !this.framer.midCommand);

  /**
   * IDLE (RFC 2177, RFC 9051 §6.3.13): flush pending changes as they arrive until the
   * client sends DONE. Returns the line the client sent.
   */
  async idle(): Promise<string> {
    this.idling = true;
    this.setTimer();
    const donePromise = this.readLine();
    let finished = false;
    let line = '';
    const p = donePromise.then(
      (l) => {
        finished = true;
        line = l;
        this.idleWake?.();
      },
      () => {
        finished = true;
        this.idleWake?.();
      },
    );
    try {
      while (!finished && !this.closed) {
        await flushPending(this, true);
        await this.notify.flush();
        if (finished || this.closed) break;
        await new Promise<void>((resolve) => {
          this.idleWake = resolve;
        });
        this.idleWake = undefined;
      }
    } finally {
      this.idling = false;
      this.idleWake = undefined;
      this.setTimer();
    }
    await p;
    return line;
  }

  /** STARTTLS and COMPRESS: the session goes on over a stream wrapping the socket. */
  private rewrap(wrap: (raw: net.Socket) => net.Socket): net.Socket {
    this.detach(this.socket);
    this.framer.close();
    this.socket = wrap(this.socket);
    this.attach(this.socket);
    return this.socket;
  }

  private async upgradeTls(): Promise<void> {
    // RFC 9051 §6.2.1: discard anything the client sent after STARTTLS before the handshake.
    this.queue = [];
    const secure = this.rewrap((raw) => new tls.TLSSocket(raw, { isServer: true, ...this.ctx.tls.serverOptions() }));
    this.tls = true;
    await new Promise<void>((resolve) => {
      secure.once('secure', () => resolve());
      secure.once('error', () => resolve());
      secure.once('close', () => resolve());
    });
    this.setTimer();
  }

  get remote(): string {
    return this.remoteAddress;
  }

  /** The greeting (RFC 9051 §7.1.1), with capabilities so clients skip a round trip. */
  greet(): Promise<void> {
    return this.write([`* OK [CAPABILITY ${this.capabilities().join(' ')}] ${this.ctx.config.hostname} IMAP ready\r\n`]);
  }
}

function cleanupLiterals(lits: Literal[]): void {
  for (const l of lits) if (l.kind === 'file') fs.rm(l.path, { force: true }, () => undefined);
}
