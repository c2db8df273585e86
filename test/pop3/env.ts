/**
 * The POP3 test environment: the whole server from startTestServer, plus POP3 and
 * POP3S listeners (the ones src/server.ts starts when it wires them, else our own on
 * port 0 with the same context), and helpers to deliver into INBOX.
 */
import type { Listener } from '../../src/context.js';
import { startPop3, type Pop3ListenOptions } from '../../src/pop3/server.js';
import type { DeliveryResult } from '../../src/store/types.js';
import { Pop3Client } from '../helpers/pop3-client.js';
import { startTestServer, TEST_SCRYPT_LN, type TestServer, type TestServerOptions } from '../helpers/servers.js';

export const USER = 'pop@example.test';
export const PASS = 'pop-secret-1';

export interface Pop3Env {
  t: TestServer;
  pop3: number;
  pop3s: number;
  host: string;
  connect(opts?: { tls?: boolean }): Promise<Pop3Client>;
  /** Connects and logs in (USER/PASS, plaintext on loopback); USER by default. */
  login(user?: string, pass?: string, opts?: { tls?: boolean }): Promise<Pop3Client>;
  /** A fresh account for one test: its address and password. */
  newAccount(): Promise<{ user: string; pass: string }>;
  deliver(data: string | Buffer, account?: string): Promise<DeliveryResult>;
  close(): Promise<void>;
}

export interface Pop3EnvOptions extends TestServerOptions {
  /** Start our own listeners with these options even if the server has its own. */
  listen?: Omit<Pop3ListenOptions, 'port' | 'implicitTls'>;
  /** Skip adding USER (restart tests reuse the data root). */
  noAccount?: boolean;
}

let accountSeq = 0;

export async function startPop3Env(opts: Pop3EnvOptions = {}): Promise<Pop3Env> {
  const t = await startTestServer({
    ...opts,
    configure: (c) => {
      c.auth.scryptLn = TEST_SCRYPT_LN;
      opts.configure?.(c);
    },
  });
  const own: Listener[] = [];
  const listener = async (name: 'pop3' | 'pop3s'): Promise<number> => {
    const existing = opts.listen ? undefined : t.server.listeners.get(name);
    if (existing) return existing.port;
    const l = await startPop3(t.ctx, { port: 0, host: t.host, implicitTls: name === 'pop3s', ...opts.listen });
    own.push(l);
    return l.port;
  };
  const pop3 = await listener('pop3');
  const pop3s = await listener('pop3s');
  if (!opts.noAccount) await t.addAccount(USER, PASS);
  const env: Pop3Env = {
    t,
    pop3,
    pop3s,
    host: t.host,
    connect: (o = {}) => Pop3Client.connect(o.tls ? pop3s : pop3, { host: t.host, tls: o.tls }),
    async login(user = USER, pass = PASS, o = {}) {
      const c = await env.connect(o);
      const st = await c.login(user, pass);
      if (!st.ok) throw new Error(`login failed: ${st.line}`);
      return c;
    },
    async newAccount() {
      const user = `u${++accountSeq}@example.test`;
      const pass = `pw-${accountSeq}-secret`;
      await t.addAccount(user, pass);
      return { user, pass };
    },
    async deliver(data, account = USER) {
      const [r] = await t.ctx.store.deliver([{ account }], { data: Buffer.isBuffer(data) ? data : Buffer.from(data) });
      return r!;
    },
    async close() {
      await Promise.all(own.map((l) => l.close(0)));
      await t.close();
    },
  };
  return env;
}

/** A small CRLF message. */
export function message(i: number, extra = ''): string {
  return `From: sender@example.org\r\nTo: ${USER}\r\nSubject: message ${i}\r\nMessage-ID: <m${i}@example.org>\r\n\r\nbody of message ${i}\r\n${extra}`;
}
