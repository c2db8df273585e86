/**
 * Minimal line clients for the login tests: IMAP LOGIN, POP3 USER/PASS, SMTP AUTH
 * PLAIN and ManageSieve AUTHENTICATE "PLAIN" over a real socket bound to a chosen loopback source address (127.0.x.y, so each
 * test is a fresh client to the throttle), each reply reduced to what the login flow
 * decided: ok, failed, unavailable, banned, or the raw line when it is none of those.
 */
import net from 'node:net';

export type LoginReply = 'ok' | 'failed' | 'unavailable' | 'banned' | string;

export interface Session {
  /** The greeting line; `refused` when it turned the client away. */
  greeting: string;
  refused: boolean;
  login(user: string, pass: string): Promise<LoginReply>;
  /** Sends a login and does not wait for the answer. */
  send(user: string, pass: string): void;
  /** Resolves when the server has closed the connection. */
  closed(): Promise<void>;
  destroy(): void;
}

export interface Proto {
  name: 'imap' | 'pop3' | 'submission' | 'managesieve';
  open(port: number, from: string): Promise<Session>;
}

const BANNED = /Too many failed logins/;

class Lines {
  private buf = '';
  private lines: string[] = [];
  private waiter: (() => void) | undefined;
  ended = false;
  readonly gone: Promise<void>;

  constructor(readonly socket: net.Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.buf += d;
      for (let i = this.buf.indexOf('\r\n'); i >= 0; i = this.buf.indexOf('\r\n')) {
        this.lines.push(this.buf.slice(0, i));
        this.buf = this.buf.slice(i + 2);
      }
      this.wake();
    });
    socket.on('error', () => undefined);
    this.gone = new Promise((resolve) =>
      socket.on('close', () => {
        this.ended = true;
        this.wake();
        resolve();
      }),
    );
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** The next line; '' once the connection has closed with nothing more. */
  async next(timeoutMs = 20_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length === 0 && !this.ended) {
      if (Date.now() > deadline) throw new Error('no reply');
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        setTimeout(resolve, 200);
      });
    }
    return this.lines.shift() ?? '';
  }

  write(s: string): void {
    if (!this.socket.destroyed) this.socket.write(s);
  }
}

function connect(port: number, from: string): Promise<Lines> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress: from }, () => resolve(new Lines(s)));
    s.once('error', reject);
  });
}

function session(l: Lines, greeting: string, refused: boolean, login: (user: string, pass: string) => Promise<LoginReply>, send: (user: string, pass: string) => void): Session {
  return { greeting, refused, login, send, closed: () => l.gone, destroy: () => l.socket.destroy() };
}

const imapQuote = (s: string) => `"${s.replace(/["\\]/g, '\\$&')}"`;

export const IMAP: Proto = {
  name: 'imap',
  async open(port, from) {
    const l = await connect(port, from);
    const greeting = await l.next();
    let n = 0;
    const send = (user: string, pass: string) => l.write(`a${++n} LOGIN ${imapQuote(user)} ${imapQuote(pass)}\r\n`);
    const login = async (user: string, pass: string): Promise<LoginReply> => {
      send(user, pass);
      for (;;) {
        const line = await l.next();
        if (line === '' || (line.startsWith('* BYE') && BANNED.test(line))) return line === '' ? 'closed' : 'banned';
        if (!line.startsWith(`a${n} `)) continue;
        if (line.startsWith(`a${n} OK`)) return 'ok';
        if (line.includes('[AUTHENTICATIONFAILED]')) return 'failed';
        if (line.includes('[UNAVAILABLE]')) return 'unavailable';
        return line;
      }
    };
    return session(l, greeting, greeting.startsWith('* BYE'), login, send);
  },
};

export const POP3: Proto = {
  name: 'pop3',
  async open(port, from) {
    const l = await connect(port, from);
    const greeting = await l.next();
    const send = (user: string, pass: string) => l.write(`USER ${user}\r\nPASS ${pass}\r\n`);
    const login = async (user: string, pass: string): Promise<LoginReply> => {
      send(user, pass);
      const u = await l.next();
      if (!u.startsWith('+OK')) return u;
      const line = await l.next();
      if (line.startsWith('+OK')) return 'ok';
      if (line.startsWith('-ERR [AUTH]')) return 'failed';
      if (line.startsWith('-ERR [SYS/TEMP]')) return BANNED.test(line) ? 'banned' : 'unavailable';
      return line || 'closed';
    };
    return session(l, greeting, greeting.startsWith('-ERR'), login, send);
  },
};

/** A whole SMTP reply (RFC 5321 §4.2.1: "250-" lines, then "250 "). */
async function smtpReply(l: Lines): Promise<string> {
  for (;;) {
    const line = await l.next();
    if (line === '' || /^\d{3}( |$)/.test(line)) return line;
  }
}

export const SUBMISSION: Proto = {
  name: 'submission',
  async open(port, from) {
    const l = await connect(port, from);
    const greeting = await smtpReply(l);
    const refused = !greeting.startsWith('220');
    if (!refused) {
      l.write('EHLO client.test\r\n');
      await smtpReply(l);
    }
    const send = (user: string, pass: string) => l.write(`AUTH PLAIN ${Buffer.from(`\0${user}\0${pass}`).toString('base64')}\r\n`);
    const login = async (user: string, pass: string): Promise<LoginReply> => {
      send(user, pass);
      const line = await smtpReply(l);
      if (line.startsWith('235')) return 'ok';
      if (line.startsWith('535 5.7.8')) return 'failed';
      if (line.startsWith('454 4.7.0')) return 'unavailable';
      if (line.startsWith('421 4.7.0') && BANNED.test(line)) return 'banned';
      return line || 'closed';
    };
    return session(l, greeting, refused, login, send);
  },
};

export const MANAGESIEVE: Proto = {
  name: 'managesieve',
  async open(port, from) {
    const l = await connect(port, from);
    // RFC 5804 §1.7: the capability lines, then OK (a banned client gets BYE instead).
    let greeting = '';
    while (!/^(OK|NO|BYE)\b/.test(greeting)) {
      greeting = await l.next();
      if (greeting === '') break;
    }
    const send = (user: string, pass: string) => l.write(`AUTHENTICATE "PLAIN" "${Buffer.from(`\0${user}\0${pass}`).toString('base64')}"\r\n`);
    const login = async (user: string, pass: string): Promise<LoginReply> => {
      send(user, pass);
      const line = await l.next();
      if (line.startsWith('OK')) return 'ok';
      if (line.startsWith('NO (TRYLATER)')) return 'unavailable';
      if (line.startsWith('BYE') && BANNED.test(line)) return 'banned';
      if (line.startsWith('NO ')) return 'failed';
      return line || 'closed';
    };
    return session(l, greeting, greeting.startsWith('BYE'), login, send);
  },
};

export const PROTOCOLS: Proto[] = [IMAP, POP3, SUBMISSION, MANAGESIEVE];

/** One login on a fresh connection, closed afterwards. */
export async function loginOnce(p: Proto, port: number, from: string, user: string, pass: string): Promise<LoginReply> {
  const s = await p.open(port, from);
  try {
    return s.refused ? 'refused' : await s.login(user, pass);
  } finally {
    s.destroy();
  }
}
