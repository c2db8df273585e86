// LOGIN — RFC 9051 §6.2.3
// login = "LOGIN" SP userid SP password
// Refused before TLS unless loopback plaintext is allowed (LOGINDISABLED, RFC 9051 §6.2.3);
// wrong credentials → NO [AUTHENTICATIONFAILED] after config auth.failureDelayMs (RFC 5530).
import type { AccountRecord } from '../../accounts/types.js';
import type { ImapConnection } from '../connection.js';
import { ImapNo } from '../errors.js';
import { sleep } from './helpers.js';
import { NOT_AUTH, type CommandContext, type CommandSpec } from './types.js';
import { penalised } from '../../accounts/penalty.js';

export const login: CommandSpec = {
  name: 'LOGIN',
  states: NOT_AUTH,
  async handle(c, p) {
    p.sp();
    const user = p.astring();
    p.sp();
    const pass = p.astring();
    p.end();
    if (!c.conn.authAllowed()) throw new ImapNo('LOGIN is disabled before STARTTLS', 'PRIVACYREQUIRED');
    await authenticateUser(c, user, pass);
  },
};

/** Checks credentials and moves the connection to the authenticated state, or throws after the failure delay. */
export async function authenticateUser(c: CommandContext, user: string, pass: string, authzOk: (a: AccountRecord) => boolean = () => true): Promise<void> {
  const conn = c.conn;
  const account = await penalised(conn.ctx.authPenalty, conn.remoteAddress, async () => {
    try {
      const a = await conn.ctx.accounts.verifyCredentials(user, pass);
      return a && !a.disabled && authzOk(a) ? a : undefined;
    } catch (err) {
      conn.log.error({ err }, 'credential check failed');
      return undefined;
    }
  });
  if (!account) {
    conn.log.info({ user }, 'authentication failed');
    await sleep(conn.ctx.config.auth.failureDelayMs);
    throw new ImapNo('Authentication failed', 'AUTHENTICATIONFAILED');
  }
  loggedIn(conn, account);
  c.okCode = `CAPABILITY ${conn.capabilities().join(' ')}`;
  c.okText = 'Logged in';
}

function loggedIn(conn: ImapConnection, account: AccountRecord): void {
  conn.state = { name: 'authenticated', account: account.address };
  conn.log = conn.log.child({ user: account.address });
  conn.log.info('authenticated');
  conn.subscribeChanges(account.address);
}
