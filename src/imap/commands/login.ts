// LOGIN — RFC 9051 §6.2.3
// login = "LOGIN" SP userid SP password
// The decision is the server's one login flow (src/accounts/login.ts); this module maps
// its result to IMAP responses, for LOGIN and AUTHENTICATE alike:
//   failed → NO [AUTHENTICATIONFAILED], unavailable → NO [UNAVAILABLE] (RFC 5530 §3),
//   tlsRequired → NO [PRIVACYREQUIRED] (LOGINDISABLED, RFC 9051 §6.2.3),
//   banned → BYE and close (RFC 9051 §7.1.5).
import { authenticate, BANNED_TEXT } from '../../accounts/login.js';
import type { AccountRecord } from '../../accounts/types.js';
import type { ImapConnection } from '../connection.js';
import { ImapBye, ImapNo } from '../errors.js';
import { NOT_AUTH, type CommandContext, type CommandSpec } from './types.js';

export const login: CommandSpec = {
  name: 'LOGIN',
  states: NOT_AUTH,
  async handle(c, p) {
    p.sp();
    const user = p.astring();
    p.sp();
    const pass = p.astring();
    p.end();
    await authenticateUser(c, user, pass);
  },
};

/** Logs the connection in, or throws the response for why not (see the module comment). */
export async function authenticateUser(c: CommandContext, user: string, pass: string, authzid = ''): Promise<void> {
  const conn = c.conn;
  const r = await authenticate(conn.ctx, {
    protocol: 'imap',
    remoteAddress: conn.remoteAddress,
    secure: conn.tls,
    username: user,
    password: pass,
    authzid,
    gone: () => conn.closed,
    log: conn.log,
  });
  switch (r.kind) {
    case 'ok':
      loggedIn(conn, r.account);
      c.okCode = `CAPABILITY ${conn.capabilities().join(' ')}`;
      c.okText = 'Logged in';
      return;
    case 'failed':
      throw new ImapNo('Authentication failed', 'AUTHENTICATIONFAILED');
    case 'unavailable':
      throw new ImapNo('Authentication is temporarily unavailable, try again later', 'UNAVAILABLE');
    case 'tlsRequired':
      throw new ImapNo(`${c.name} is disabled before STARTTLS`, 'PRIVACYREQUIRED');
    case 'banned':
    case 'gone': // nobody to answer; dispatch writes nothing on a closed connection
      throw new ImapBye(BANNED_TEXT);
  }
}

function loggedIn(conn: ImapConnection, account: AccountRecord): void {
  conn.state = { name: 'authenticated', account: account.address };
  conn.log = conn.log.child({ user: account.address });
  conn.log.info('authenticated');
  conn.subscribeChanges(account.address);
}
