/**
 * The POP3 command table (Dovecot pop3-commands.c): one entry per command with the
 * states it is valid in and its handler. The connection (connection.ts) checks the
 * state, runs the handler and maps every thrown error to a reply in one place.
 *
 * RFC 1939 (POP3): USER, PASS, QUIT, STAT, LIST, RETR, DELE, NOOP, RSET, TOP, UIDL
 * (APOP is not offered: it needs the plaintext password on the server).
 * RFC 2449 (extension mechanism): CAPA, response codes [IN-USE], [SYS/*], [LOGIN-DELAY].
 * RFC 3206: [AUTH], [SYS/TEMP], [SYS/PERM].
 * RFC 2595 §4: STLS.
 * RFC 5034: AUTH with SASL PLAIN (RFC 4616), with or without an initial response.
 */
import { authenticate, BANNED_TEXT } from '../accounts/login.js';
import { SaslError, decodeBase64, decodePlain, isCancel, type Credentials } from '../sasl/index.js';
import { Maildrop, Pop3Error, lockMaildrop, type Pop3Conn, type StateName } from './session.js';
import { parseNumber, type ParsedCommand } from './wire.js';
import { openSnapshot } from '../store/types.js';

export interface CommandSpec {
  name: string;
  states: readonly StateName[];
  handle(c: Pop3Conn, cmd: ParsedCommand): Promise<void>;
}

/** After this many failed logins on one connection it is closed (password guessing; RFC 1939 lets a server close after a failed PASS). */
export const MAX_AUTH_FAILURES = 3;

export const IMPLEMENTATION = 'mailserver';

const AUTH_ONLY = ['authorization'] as const;
const TRANSACTION = ['transaction'] as const;

function needTransaction(c: Pop3Conn) {
  if (c.state.name !== 'transaction') throw new Error('state check bypassed');
  return c.state;
}

function noArgs(cmd: ParsedCommand): void {
  if (cmd.args.length > 0) throw new Pop3Error(`${cmd.name} takes no arguments`, undefined, { bad: true });
}

/**
 * RFC 2449 §5: the capability list, one annotated entry each. STLS and the login
 * mechanisms appear only in AUTHORIZATION state, and USER / SASL only when a login
 * would be accepted right now (after TLS, or from loopback when configured), so a
 * client never tries a login that must fail (RFC 2595 §4).
 */
export function capabilities(c: Pop3Conn): string[] {
  const caps: string[] = [];
  const auth = c.state.name === 'authorization';
  if (auth && !c.secure) caps.push('STLS'); // RFC 2595 §4
  caps.push('TOP'); // RFC 2449 §6.1
  if (auth && c.loginAllowed) {
    caps.push('USER'); // RFC 2449 §6.8
    caps.push('SASL PLAIN'); // RFC 2449 §6.3, RFC 5034 §2
  }
  caps.push('RESP-CODES'); // RFC 2449 §6.4
  caps.push('AUTH-RESP-CODE'); // RFC 3206 §6
  caps.push('PIPELINING'); // RFC 2449 §6.6
  caps.push('UIDL'); // RFC 2449 §6.7
  caps.push(`IMPLEMENTATION ${IMPLEMENTATION}`); // RFC 2449 §6.9
  return caps;
}

function requireLoginAllowed(c: Pop3Conn): void {
  // RFC 2595 §2.1 / RFC 8314 §3: no cleartext passwords on an unencrypted connection.
  if (!c.loginAllowed) throw plaintextRefused();
}

/** Counted as a bad command: a real client reads CAPA and does STLS first. */
function plaintextRefused(): Pop3Error {
  return new Pop3Error('Plaintext authentication disallowed on non-secure connections; use STLS', 'AUTH', { bad: true });
}

/**
 * The one login path of USER/PASS and AUTH: the server's login flow decides
 * (src/accounts/login.ts), this maps its result to replies, then takes the maildrop lock
 * and opens INBOX. Wrong credentials answer `-ERR [AUTH]` (RFC 3206 §4), a credential
 * store that fails `-ERR [SYS/TEMP]` (RFC 3206 §4: a temporary problem, try later), a
 * banned client `-ERR [SYS/TEMP]` and the connection closes; a held lock answers
 * `-ERR [IN-USE]` (RFC 2449 §8.1.2) and leaves the session in AUTHORIZATION state.
 */
async function login(c: Pop3Conn, creds: Credentials): Promise<void> {
  const ctx = c.ctx;
  const r = await authenticate(ctx, {
    protocol: 'pop3',
    remoteAddress: c.remoteAddress,
    secure: c.secure,
    username: creds.username,
    password: creds.password,
    authzid: creds.authzid,
    gone: () => c.gone,
    log: c.log,
  });
  if (r.kind !== 'ok') {
    switch (r.kind) {
      case 'failed': {
        const n = c.noteAuthFailure();
        throw new Pop3Error('Authentication failed', 'AUTH', { close: n >= MAX_AUTH_FAILURES });
      }
      case 'unavailable':
        throw new Pop3Error('Authentication is temporarily unavailable, try again later', 'SYS/TEMP');
      case 'tlsRequired':
        throw plaintextRefused();
      case 'banned':
      case 'gone': // nobody reads this one
        throw new Pop3Error(BANNED_TEXT, 'SYS/TEMP', { close: true });
    }
  }
  const account = r.account;
  const unlock = lockMaildrop(ctx.store, account.address);
  if (!unlock) {
    c.log.info({ user: account.address }, 'pop3 maildrop in use');
    throw new Pop3Error('Mailbox is locked by another POP3 session', 'IN-USE');
  }
  let drop: Maildrop;
  try {
    const snap = await openSnapshot(ctx.store, account.address, 'INBOX');
    drop = new Maildrop(account.address, snap.mailbox.id, snap.mailbox.uidValidity, snap.messages);
  } catch (err) {
    unlock();
    throw err;
  }
  c.state = { name: 'transaction', account, drop, unlock };
  c.setUser(account.address);
  const st = drop.stat();
  c.log.info({ messages: st.count }, 'pop3 login');
  await c.ok(`Logged in, ${st.count} messages (${st.size} octets)`);
}

const capa: CommandSpec = {
  // RFC 2449 §5: CAPA, valid in AUTHORIZATION and TRANSACTION states.
  name: 'CAPA',
  states: ['authorization', 'transaction'],
  async handle(c, cmd) {
    noArgs(cmd);
    await c.okLines('Capability list follows', capabilities(c));
  },
};

const stls: CommandSpec = {
  // RFC 2595 §4: STLS, only in AUTHORIZATION state and only once.
  name: 'STLS',
  states: AUTH_ONLY,
  async handle(c, cmd) {
    noArgs(cmd);
    if (c.secure) throw new Pop3Error('Already using TLS');
    await c.startTls('Begin TLS negotiation');
  },
};

const user: CommandSpec = {
  // RFC 1939 §7: USER name
  name: 'USER',
  states: AUTH_ONLY,
  async handle(c, cmd) {
    if (c.state.name !== 'authorization') return;
    requireLoginAllowed(c);
    if (!cmd.rest) throw new Pop3Error('USER needs a name', undefined, { bad: true });
    c.state = { name: 'authorization', user: cmd.rest };
    // The reply does not say whether the user exists (RFC 1939 security considerations).
    await c.ok('Send your password');
  },
};

const pass: CommandSpec = {
  // RFC 1939 §7: PASS string; "the server may treat spaces in the argument as part of
  // the password", so the whole rest of the line is the password.
  name: 'PASS',
  states: AUTH_ONLY,
  async handle(c, cmd) {
    if (c.state.name !== 'authorization') return;
    requireLoginAllowed(c);
    const username = c.state.user;
    if (username === undefined) throw new Pop3Error('Send USER first', undefined, { bad: true });
    c.state = { name: 'authorization' };
    await login(c, { authzid: '', username, password: cmd.rest });
  },
};

const auth: CommandSpec = {
  // RFC 5034 §4: AUTH mechanism [initial-response]
  name: 'AUTH',
  states: AUTH_ONLY,
  async handle(c, cmd) {
    if (cmd.args.length === 0) {
      // Not in RFC 5034, but old clients (and fetchmail) probe with a bare AUTH; answer
      // with the mechanism list as RFC 1734 servers and Dovecot do.
      await c.okLines('', c.loginAllowed ? ['PLAIN'] : []);
      return;
    }
    if (cmd.args.length > 2) throw new Pop3Error('Syntax: AUTH mechanism [initial-response]', undefined, { bad: true });
    const mech = cmd.args[0]!.toUpperCase();
    if (mech !== 'PLAIN') throw new Pop3Error(`Unsupported authentication mechanism ${mech}`);
    requireLoginAllowed(c);
    let response: string | undefined = cmd.args[1];
    if (response === undefined) {
      // RFC 5034 §4: an empty server challenge is "+ " followed by CRLF.
      await c.writeLine('+ ');
      response = await c.readLine();
      if (response === undefined) return;
    }
    if (isCancel(response)) throw new Pop3Error('Authentication cancelled'); // RFC 5034 §4
    let creds: Credentials;
    try {
      if (decodeBase64(response).length === 0) throw new SaslError('empty response');
      creds = decodePlain(response);
    } catch (err) {
      if (err instanceof SaslError) {
        throw new Pop3Error('Invalid SASL PLAIN response', undefined, { bad: true });
      }
      throw err;
    }
    await login(c, creds);
  },
};

const quit: CommandSpec = {
  // RFC 1939 §6: QUIT in TRANSACTION state enters UPDATE: remove the messages marked
  // deleted, release the maildrop, reply, close. In AUTHORIZATION state it just closes.
  name: 'QUIT',
  states: ['authorization', 'transaction'],
  async handle(c) {
    c.closeAfterReply();
    if (c.state.name !== 'transaction') {
      await c.ok('Bye');
      return;
    }
    const { drop, unlock } = c.state;
    c.state = { name: 'update' };
    try {
      const deleted = drop.deletedUids();
      const seen = drop.retrievedUids();
      let removed = 0;
      if (deleted.length > 0) removed = (await c.ctx.store.expunge(drop.account, drop.mailboxId, deleted)).length;
      if (seen.length > 0) {
        // See session.ts: RETR'd messages become \Seen at QUIT. Not fatal if it fails.
        try {
          await c.ctx.store.updateFlags(drop.account, drop.mailboxId, seen, 'add', ['\\Seen']);
        } catch (err) {
          c.log.warn({ err }, 'pop3 could not set \\Seen after RETR');
        }
      }
      c.log.info({ deleted: deleted.length, removed }, 'pop3 update');
      // Messages another session expunged meanwhile are gone as well: not an error.
      await c.ok(`Bye, ${deleted.length} messages deleted`);
    } finally {
      unlock();
    }
  },
};

const stat: CommandSpec = {
  // RFC 1939 §5: STAT → "+OK nn mm"
  name: 'STAT',
  states: TRANSACTION,
  async handle(c, cmd) {
    noArgs(cmd);
    const st = needTransaction(c).drop.stat();
    await c.ok(`${st.count} ${st.size}`);
  },
};

const list: CommandSpec = {
  // RFC 1939 §5: LIST [msg] → "+OK n size", or a scan listing of all undeleted messages
  name: 'LIST',
  states: TRANSACTION,
  async handle(c, cmd) {
    const { drop } = needTransaction(c);
    if (cmd.args.length > 1) throw new Pop3Error('Syntax: LIST [msg]', undefined, { bad: true });
    if (cmd.args.length === 1) {
      const n = parseNumber(cmd.args[0]);
      const e = drop.get(n);
      await c.ok(`${n} ${e.size}`);
      return;
    }
    const st = drop.stat();
    const lines: string[] = [];
    drop.entries.forEach((e, i) => {
      if (!e.deleted) lines.push(`${i + 1} ${e.size}`);
    });
    await c.okLines(`${st.count} messages (${st.size} octets)`, lines);
  },
};

const uidl: CommandSpec = {
  // RFC 1939 §7: UIDL [msg] → "+OK n unique-id", or a listing; ids in session.ts
  name: 'UIDL',
  states: TRANSACTION,
  async handle(c, cmd) {
    const { drop } = needTransaction(c);
    if (cmd.args.length > 1) throw new Pop3Error('Syntax: UIDL [msg]', undefined, { bad: true });
    if (cmd.args.length === 1) {
      const n = parseNumber(cmd.args[0]);
      const e = drop.get(n);
      await c.ok(`${n} ${drop.uidl(e)}`);
      return;
    }
    const lines: string[] = [];
    drop.entries.forEach((e, i) => {
      if (!e.deleted) lines.push(`${i + 1} ${drop.uidl(e)}`);
    });
    await c.okLines('Unique-id listing follows', lines);
  },
};

const retr: CommandSpec = {
  // RFC 1939 §5: RETR msg → "+OK size octets", the message, "."
  name: 'RETR',
  states: TRANSACTION,
  async handle(c, cmd) {
    const { drop } = needTransaction(c);
    if (cmd.args.length !== 1) throw new Pop3Error('Syntax: RETR msg', undefined, { bad: true });
    const e = drop.get(parseNumber(cmd.args[0]));
    await c.okMessage(`${e.size} octets`, e.uid);
    e.retrieved = true;
  },
};

const top: CommandSpec = {
  // RFC 1939 §7: TOP msg n → the headers, the blank line and n body lines
  name: 'TOP',
  states: TRANSACTION,
  async handle(c, cmd) {
    const { drop } = needTransaction(c);
    if (cmd.args.length !== 2) throw new Pop3Error('Syntax: TOP msg n', undefined, { bad: true });
    const e = drop.get(parseNumber(cmd.args[0]));
    const lines = parseNumber(cmd.args[1]);
    if (lines === undefined) throw new Pop3Error('Invalid line count', undefined, { bad: true });
    await c.okMessage('Top of message follows', e.uid, lines);
  },
};

const dele: CommandSpec = {
  // RFC 1939 §5: DELE msg marks it; the store changes only in UPDATE state.
  name: 'DELE',
  states: TRANSACTION,
  async handle(c, cmd) {
    const { drop } = needTransaction(c);
    if (cmd.args.length !== 1) throw new Pop3Error('Syntax: DELE msg', undefined, { bad: true });
    const n = parseNumber(cmd.args[0]);
    const e = drop.get(n);
    e.deleted = true;
    await c.ok(`Message ${n} deleted`);
  },
};

const noop: CommandSpec = {
  // RFC 1939 §5: NOOP
  name: 'NOOP',
  states: TRANSACTION,
  async handle(c, cmd) {
    noArgs(cmd);
    await c.ok('');
  },
};

const rset: CommandSpec = {
  // RFC 1939 §5: RSET unmarks every message marked deleted.
  name: 'RSET',
  states: TRANSACTION,
  async handle(c, cmd) {
    noArgs(cmd);
    const { drop } = needTransaction(c);
    drop.reset();
    const st = drop.stat();
    await c.ok(`Maildrop has ${st.count} messages (${st.size} octets)`);
  },
};

/** The one table. */
export const COMMANDS: ReadonlyMap<string, CommandSpec> = new Map(
  [capa, stls, user, pass, auth, quit, stat, list, uidl, retr, top, dele, noop, rset].map((c) => [c.name, c]),
);
