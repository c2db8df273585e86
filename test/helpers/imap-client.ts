/**
 * A small typed IMAP test client (mox testconn style): `transact('ok', 'CREATE a/b')`
 * sends one command, collects the untagged responses, checks the tagged status, and
 * returns parsed responses. Literals are read by length; `+` continuations are handled
 * for literals in commands.
 *
 * Strict by default: every command written and every response read goes through an
 * ImapChecker (./imap-checker.ts), which keeps the session's view of the selected
 * mailbox and records responses that contradict it or that the command did not call
 * for. `transact` throws on a violation seen during its command; `leftover()` throws on
 * violations seen elsewhere (IDLE, raw reads) and on untagged responses received while
 * no command ran that no test took (`waitFor`, `drain`). Test fixtures call it when
 * they close. `strict = false` turns the checks off for tests that feed garbage.
 */
import net from 'node:net';
import tls from 'node:tls';
import { ImapChecker } from './imap-checker.js';

export type Value = string | number | null | Value[] | { literal: Buffer };

export interface Response {
  /** '*', '+' or the tag. */
  tag: string;
  /** OK/NO/BAD/BYE/PREAUTH, or the untagged type: EXISTS, FETCH, LIST, SEARCH, ... (upper case). */
  type: string;
  /** "* 3 EXISTS" → 3. */
  num?: number;
  /** Response code inside [...] for status responses, e.g. "UIDVALIDITY 5". */
  code?: string;
  /** Parsed tokens after the type (lists nested). */
  values: Value[];
  /** The text after the status (or the whole line), without literal bytes. */
  text: string;
  raw: string;
}

export class ImapTestClient {
  private buf = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  private tagN = 0;
  /** Read timeout for responses (benchmarks raise it). */
  static defaultTimeoutMs = 10_000;
  closed = false;
  greeting!: Response;
  /** Untagged responses received and not yet taken. */
  pending: Response[] = [];
  /** The session model and the violations found so far. */
  readonly checker = new ImapChecker();
  /** Throw on violations (transact, leftover). */
  strict = true;
  /** Violations already reported by a throw. */
  private reported = 0;

  private constructor(public socket: net.Socket) {
    this.attach(socket);
  }

  private attach(socket: net.Socket): void {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** `localAddress` binds the client to a loopback address of its own (127.0.0.0/8 is all ours on Linux). */
  static async connect(port: number, opts: { host?: string; tls?: boolean; localAddress?: string } = {}): Promise<ImapTestClient> {
    const host = opts.host ?? '127.0.0.1';
    const bind = opts.localAddress === undefined ? {} : { localAddress: opts.localAddress };
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = opts.tls ? tls.connect({ port, host, ...bind, rejectUnauthorized: false }, () => resolve(s)) : net.connect({ port, host, ...bind }, () => resolve(s));
      s.once('error', reject);
    });
    const c = new ImapTestClient(socket);
    c.greeting = await c.readResponse();
    ImapTestClient.unchecked.add(c);
    return c;
  }

  /** Clients whose leftovers no one has checked yet (test/helpers/setup.ts checks them after each test). */
  static readonly unchecked = new Set<ImapTestClient>();

  /** Runs leftover() on every client connected since the last call; throws what they report. */
  static checkAll(): void {
    const problems: string[] = [];
    for (const c of ImapTestClient.unchecked) {
      try {
        c.leftover();
      } catch (e) {
        problems.push((e as Error).message);
      }
    }
    ImapTestClient.unchecked.clear();
    if (problems.length > 0) throw new Error(problems.join('\n'));
  }

  async startTls(): Promise<void> {
    await this.transact('ok', 'STARTTLS');
    this.socket.removeAllListeners('data');
    this.socket.removeAllListeners('close');
    const s = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const t = tls.connect({ socket: this.socket, rejectUnauthorized: false }, () => resolve(t));
      t.once('error', reject);
    });
    this.socket = s;
    this.buf = Buffer.alloc(0);
    this.attach(s);
  }

  private async waitData(timeoutMs: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timeout waiting for server data; buffer: ${JSON.stringify(this.buf.toString('latin1').slice(0, 300))}`)), timeoutMs);
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /** Reads one raw response: the line(s) and literals. */
  async readRaw(timeoutMs = ImapTestClient.defaultTimeoutMs): Promise<{ text: string; literals: Buffer[] }> {
    let text = '';
    const literals: Buffer[] = [];
    for (;;) {
      let i = this.buf.indexOf('\r\n');
      while (i < 0) {
        if (this.closed) throw new Error(`connection closed; partial: ${JSON.stringify(text + this.buf.toString('latin1'))}`);
        await this.waitData(timeoutMs);
        i = this.buf.indexOf('\r\n');
      }
      const line = this.buf.subarray(0, i).toString('utf8');
      this.buf = this.buf.subarray(i + 2);
      const m = /~?\{(\d+)\}$/.exec(line);
      text += line;
      if (!m) return { text, literals };
      const n = Number(m[1]);
      while (this.buf.length < n) {
        if (this.closed) throw new Error('connection closed in literal');
        await this.waitData(timeoutMs);
      }
      literals.push(Buffer.from(this.buf.subarray(0, n)));
      text += '\0LIT' + (literals.length - 1) + '\0';
      this.buf = this.buf.subarray(n);
    }
  }

  async readResponse(timeoutMs?: number): Promise<Response> {
    const { text, literals } = await this.readRaw(timeoutMs);
    const r = parseResponse(text, literals);
    this.checker.received(r);
    return r;
  }

  /** Throws the violations not reported yet (strict mode). */
  check(context: string): void {
    if (!this.strict) return;
    const v = this.checker.violations;
    if (v.length <= this.reported) return;
    const fresh = v.slice(this.reported);
    this.reported = v.length;
    throw new Error(`IMAP protocol violation (${context}):\n  ${fresh.join('\n  ')}`);
  }

  /**
   * Fails on what a test left unchecked: violations not yet thrown, and untagged
   * responses that arrived while no command ran and that no test took.
   */
  leftover(): void {
    this.check('leftover');
    if (!this.strict) return;
    const left = this.pending.filter((r) => r.tag === '*');
    if (left.length > 0) throw new Error(`untagged responses nobody expected:\n  ${left.map((r) => r.raw.slice(0, 200)).join('\n  ')}`);
  }

  nextTag(): string {
    return `t${++this.tagN}`;
  }

  write(data: string | Buffer): void {
    this.checker.wrote(data);
    this.socket.write(data);
  }

  /**
   * Sends a command (tag added) and reads until its tagged response. Parts: strings are
   * sent as is; Buffers are sent as synchronizing literals (waiting for "+").
   * Checks the status against `expect` and returns the untagged responses seen.
   */
  async transact(expect: 'ok' | 'no' | 'bad' | null, cmd: string | Array<string | Buffer>, opts: { tag?: string } = {}): Promise<{ tagged: Response; untagged: Response[] }> {
    const tag = opts.tag ?? this.nextTag();
    const parts = typeof cmd === 'string' ? [cmd] : cmd;
    let line = tag + ' ';
    const untagged: Response[] = [...this.pending];
    this.pending = [];
    const done = (r: Response) => {
      this.check(String(parts[0]).slice(0, 80));
      if (expect && r.type !== expect.toUpperCase()) throw new Error(`expected ${expect.toUpperCase()} for "${String(parts[0]).slice(0, 80)}", got: ${r.raw}`);
      return { tagged: r, untagged };
    };
    for (const part of parts) {
      if (typeof part === 'string') {
        line += part;
        continue;
      }
      this.write(line + `{${part.length}}\r\n`);
      line = '';
      for (;;) {
        const r = await this.readResponse();
        if (r.tag === '+') break;
        // RFC 9051 §7.6 / RFC 7889 §4: the server may refuse a literal instead of sending "+".
        if (r.tag === tag) return done(r);
        untagged.push(r);
      }
      this.write(part);
    }
    this.write(line + '\r\n');
    for (;;) {
      const r = await this.readResponse();
      if (r.tag === tag) return done(r);
      if (r.tag === '+') throw new Error(`unexpected continuation: ${r.raw}`);
      untagged.push(r);
    }
  }

  async login(user: string, pass: string): Promise<void> {
    await this.transact('ok', `LOGIN ${quote(user)} ${quote(pass)}`);
  }

  /** Reads untagged responses until one matches (IDLE tests). */
  async waitFor(pred: (r: Response) => boolean, timeoutMs = 5000): Promise<Response> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('waitFor: timeout');
      const r = await this.readResponse(left);
      if (pred(r)) return r;
      this.pending.push(r);
    }
  }

  /** Collects whatever arrives within `ms` (no more expected). */
  async drain(ms = 100): Promise<Response[]> {
    const out: Response[] = [...this.pending];
    this.pending = [];
    const until = Date.now() + ms;
    while (Date.now() < until) {
      try {
        out.push(await this.readResponse(Math.max(1, until - Date.now())));
      } catch {
        break;
      }
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await new Promise<void>((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.destroy();
    });
  }
}

export function quote(s: string): string {
  return '"' + s.replace(/[\\"]/g, (c) => '\\' + c) + '"';
}

/** Tokenises an IMAP response (line with literal markers) into values. */
export function parseResponse(text: string, literals: Buffer[]): Response {
  const raw = text.replace(/\0LIT(\d+)\0/g, (_m, n: string) => literals[Number(n)]!.toString('utf8'));
  const sp = text.indexOf(' ');
  const tag = sp < 0 ? text : text.slice(0, sp);
  let rest = sp < 0 ? '' : text.slice(sp + 1);
  let num: number | undefined;
  const nm = /^(\d+) /.exec(rest);
  if (tag === '*' && nm) {
    num = Number(nm[1]);
    rest = rest.slice(nm[0].length);
  }
  if (tag === '+') return { tag, type: '+', values: [], text: rest, raw };
  const tm = /^([A-Za-z][A-Za-z0-9.=-]*)/.exec(rest);
  const type = (tm?.[1] ?? '').toUpperCase();
  rest = rest.slice(type.length).replace(/^ /, '');
  const isStatus = ['OK', 'NO', 'BAD', 'BYE', 'PREAUTH'].includes(type);
  let code: string | undefined;
  if (isStatus) {
    const cm = /^\[([^\]]*(?:\[[^\]]*\][^\]]*)*)\] ?/.exec(rest);
    if (cm) {
      code = cm[1];
      rest = rest.slice(cm[0].length);
    }
    return { tag, type, num, code, values: [], text: rest, raw };
  }
  const values = tokenize(rest, literals);
  return { tag, type, num, values, text: rest.replace(/\0LIT(\d+)\0/g, (_m, n: string) => literals[Number(n)]!.toString('utf8')), raw };
}

function tokenize(s: string, literals: Buffer[]): Value[] {
  let i = 0;
  const parseList = (end: string | null): Value[] => {
    const out: Value[] = [];
    while (i < s.length) {
      const c = s[i]!;
      if (c === ' ') {
        i++;
        continue;
      }
      if (end && c === end) {
        i++;
        return out;
      }
      if (c === '(') {
        i++;
        out.push(parseList(')'));
      } else if (c === '"') {
        let v = '';
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\') i++;
          v += s[i];
          i++;
        }
        i++;
        out.push(v);
      } else if (c === '~' || c === '{') {
        const m = /^~?\{\d+\}\0LIT(\d+)\0/.exec(s.slice(i));
        if (m) {
          out.push({ literal: literals[Number(m[1])]! });
          i += m[0].length;
        } else {
          out.push(c);
          i++;
        }
      } else {
        const m = /^[^ ()"[]+(?:\[[^\]]*\](?:<\d+>)?)?/.exec(s.slice(i)) ?? /^[^ ()"]+/.exec(s.slice(i));
        const a = m ? m[0] : c;
        i += a.length;
        if (/^\d+$/.test(a) && a.length < 16) out.push(Number(a));
        else if (a.toUpperCase() === 'NIL') out.push(null);
        else out.push(a);
      }
    }
    return out;
  };
  return parseList(null);
}

/** FETCH response values as a map: { UID: 5, FLAGS: [...], 'BODY[]': Buffer|string }. */
export function fetchAttrs(r: Response): Record<string, Value> {
  const list = r.values[0];
  if (!Array.isArray(list)) throw new Error(`not a FETCH: ${r.raw}`);
  const out: Record<string, Value> = {};
  for (let i = 0; i + 1 < list.length; i += 2) out[String(list[i]).toUpperCase()] = list[i + 1]!;
  return out;
}

export function valueText(v: Value): string {
  if (v && typeof v === 'object' && 'literal' in v) return v.literal.toString('utf8');
  return String(v);
}
