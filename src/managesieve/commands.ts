/**
 * ManageSieve commands (RFC 5804 §2), one table: name, allowed states, handler.
 *
 *   AUTHENTICATE "PLAIN" ["initial response"]   §2.1 (RFC 4616)
 *   STARTTLS                                      §2.2
 *   LOGOUT, CAPABILITY, NOOP [tag]               §2.3, §2.4, §2.13
 *   HAVESPACE name size, PUTSCRIPT name script   §2.5, §2.6
 *   LISTSCRIPTS, SETACTIVE name, GETSCRIPT name  §2.7, §2.8, §2.9
 *   DELETESCRIPT name, RENAMESCRIPT old new      §2.10, §2.11.1
 *   CHECKSCRIPT script, UNAUTHENTICATE           §2.12, §2.14.1
 *
 * Logins go through the one login flow of every protocol (src/accounts/login.ts): only
 * over TLS (loopback excepted by config), bans and the cross-protocol penalty for failed
 * logins, the failure delay, disabled accounts refused, authzid only as oneself; three
 * failures end the connection here.
 */
import { authenticate, BANNED_TEXT } from '../accounts/login.js';
import { decodePlain, isCancel, SaslError } from '../sasl/index.js';
import { checkSieve, SIEVE_CAPABILITIES } from '../sieve/engine.js';
import { SieveStore, SieveStoreError } from '../sieve/store.js';
import { SieveNo, type MsConnection } from './connection.js';
import { encodeString, response, type ResponseCode, type Token, type Unit } from './wire.js';

export const IMPLEMENTATION = 'mailserver ManageSieve';
const MAX_AUTH_FAILURES = 3;

type State = 'anonymous' | 'authenticated';
interface CommandSpec {
  states: State[];
  handle(c: MsConnection, args: Token[]): Promise<void>;
}

/** RFC 5804 §1.7: the capability response, then OK. */
export function capabilities(c: MsConnection): string {
  const lines = [`"IMPLEMENTATION" ${encodeString(IMPLEMENTATION)}`];
  // No mechanism before TLS (Dovecot also announces an empty SASL list then).
  lines.push(`"SASL" ${encodeString(c.loginAllowed && !c.user ? 'PLAIN' : '')}`);
  lines.push(`"SIEVE" ${encodeString(SIEVE_CAPABILITIES.join(' '))}`);
  if (!c.secure) lines.push('"STARTTLS"');
  lines.push(`"MAXREDIRECTS" "${c.ctx.config.sieve.maxRedirects}"`);
  if (c.user) lines.push(`"OWNER" ${encodeString(c.user)}`);
  lines.push('"UNAUTHENTICATE"', '"VERSION" "1.0"');
  return `${lines.join('\r\n')}\r\n${response('OK', 'ManageSieve ready')}`;
}

function store(c: MsConnection): SieveStore {
  const s = c.ctx.config.sieve;
  return new SieveStore(c.ctx.db, () => ({ maxScripts: s.maxScripts, maxScriptBytes: s.maxScriptSize }));
}

/** Store errors as RFC 5804 response codes. */
function mapped<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (!(err instanceof SieveStoreError)) throw err;
    const code: Partial<Record<SieveStoreError['kind'], ResponseCode>> = {
      nonexistent: 'NONEXISTENT',
      exists: 'ALREADYEXISTS',
      active: 'ACTIVE',
      quota: /scripts/.test(err.message) ? 'QUOTA/MAXSCRIPTS' : 'QUOTA/MAXSIZE',
    };
    throw new SieveNo(err.message, code[err.kind]);
  }
}

/** Checks the argument list against a signature of 's' (string) and 'n' (number). */
function args(list: Token[], sig: string, name: string): Array<string | number> {
  if (list.length !== sig.length) throw new SieveNo(`${name} expects ${sig.length} argument(s)`, undefined, { bad: true });
  return list.map((t, i) => {
    const want = sig[i] === 's' ? 'string' : 'number';
    if (t.kind !== want) throw new SieveNo(`argument ${i + 1} of ${name} must be a ${want}`, undefined, { bad: true });
    return t.value;
  });
}

async function authenticateCommand(c: MsConnection, list: Token[]): Promise<void> {
  const mech = list[0];
  if (!mech || mech.kind !== 'string' || list.length > 2 || (list[1] && list[1].kind !== 'string')) throw new SieveNo('AUTHENTICATE "PLAIN" ["initial response"]', undefined, { bad: true });
  // RFC 5804 §2.1 / RFC 8314 §3: no credentials in cleartext (before reading any).
  if (!c.loginAllowed) throw new SieveNo('Authentication requires TLS: use STARTTLS first', 'ENCRYPT-NEEDED');
  if (mech.value.toUpperCase() !== 'PLAIN') throw new SieveNo('Unsupported SASL mechanism');
  let resp = list[1]?.value as string | undefined;
  if (resp === undefined) {
    await c.write('""\r\n');
    const u: Unit | undefined = await c.next();
    if (!u) return;
    if (u.kind === 'fatal') throw new SieveNo('Authentication aborted', undefined, { bye: true });
    const t = u.kind === 'command' ? u.tokens[0] : undefined;
    // The client's response is one string; "*" cancels (RFC 5804 §2.1).
    if (!t || t.kind !== 'string' || (u.kind === 'command' && u.tokens.length > 1)) throw new SieveNo('Authentication aborted', undefined, { bad: true });
    if (isCancel(t.value)) throw new SieveNo('Authentication cancelled');
    resp = t.value;
  }
  let cred;
  try {
    cred = decodePlain(resp);
  } catch (err) {
    if (err instanceof SaslError) throw new SieveNo('Invalid SASL response', 'SASL', { bad: true });
    throw err;
  }
  // The one login flow of every protocol (src/accounts/login.ts), mapped per its table.
  const r = await authenticate(c.ctx, {
    protocol: 'managesieve',
    remoteAddress: c.remoteAddress,
    secure: c.secure,
    username: cred.username,
    password: cred.password,
    authzid: cred.authzid,
    gone: () => c.gone,
    log: c.log,
  });
  switch (r.kind) {
    case 'ok':
      break;
    case 'failed': {
      const bye = ++c.authFailures >= MAX_AUTH_FAILURES;
      throw new SieveNo(bye ? 'Authentication failed; too many failures' : 'Authentication failed', undefined, { bye });
    }
    case 'unavailable':
      throw new SieveNo('Authentication is temporarily unavailable, try again later', 'TRYLATER');
    case 'tlsRequired':
      throw new SieveNo('Authentication requires TLS: use STARTTLS first', 'ENCRYPT-NEEDED');
    case 'banned':
    case 'gone': // nobody reads this one
      throw new SieveNo(BANNED_TEXT, undefined, { bye: true });
  }
  const account = r.account;
  c.user = account.address;
  c.log = c.log.child({ user: account.address });
  c.log.info('managesieve authenticated');
  await c.write(response('OK', 'Logged in'));
}

async function putScript(c: MsConnection, list: Token[]): Promise<void> {
  const [name, content] = args(list, 'ss', 'PUTSCRIPT') as [string, string];
  const s = store(c);
  mapped(() => s.checkSpace(c.user!, name, Buffer.byteLength(content)));
  // RFC 5804 §2.6: a script that does not compile is refused with the reason.
  const err = checkSieve(content, { maxBytes: c.ctx.config.sieve.maxScriptSize });
  if (err) throw new SieveNo(err);
  mapped(() => s.put(c.user!, name, content));
  c.log.info({ script: name, size: Buffer.byteLength(content) }, 'managesieve script stored');
  await c.write(response('OK', 'Stored'));
}

export const COMMANDS = new Map<string, CommandSpec>([
  ['CAPABILITY', { states: ['anonymous', 'authenticated'], handle: (c, a) => (args(a, '', 'CAPABILITY'), c.write(capabilities(c))) }],
  [
    'STARTTLS',
    {
      states: ['anonymous'],
      async handle(c, a) {
        args(a, '', 'STARTTLS');
        if (c.secure) throw new SieveNo('TLS is already active', undefined, { bad: true });
        await c.startTls(() => capabilities(c));
      },
    },
  ],
  ['AUTHENTICATE', { states: ['anonymous'], handle: authenticateCommand }],
  [
    'LOGOUT',
    {
      states: ['anonymous', 'authenticated'],
      async handle(c) {
        await c.write(response('OK', 'Logout completed'));
        c.closeAfterReply();
      },
    },
  ],
  [
    'NOOP',
    {
      states: ['anonymous', 'authenticated'],
      async handle(c, a) {
        if (a.length > 1 || (a[0] && a[0].kind !== 'string')) throw new SieveNo('NOOP [tag]', undefined, { bad: true });
        await c.write(response('OK', 'Done', a[0] ? (`TAG ${encodeString(String(a[0].value))}` as ResponseCode) : undefined));
      },
    },
  ],
  [
    'UNAUTHENTICATE',
    {
      states: ['authenticated'],
      async handle(c, a) {
        args(a, '', 'UNAUTHENTICATE');
        c.log.info('managesieve unauthenticated');
        c.user = undefined;
        await c.write(response('OK'));
      },
    },
  ],
  [
    'HAVESPACE',
    {
      states: ['authenticated'],
      async handle(c, a) {
        const [name, size] = args(a, 'sn', 'HAVESPACE') as [string, number];
        mapped(() => store(c).checkSpace(c.user!, name, size));
        await c.write(response('OK'));
      },
    },
  ],
  ['PUTSCRIPT', { states: ['authenticated'], handle: putScript }],
  [
    'CHECKSCRIPT',
    {
      states: ['authenticated'],
      async handle(c, a) {
        const [content] = args(a, 's', 'CHECKSCRIPT') as [string];
        const err = checkSieve(content, { maxBytes: c.ctx.config.sieve.maxScriptSize });
        if (err) throw new SieveNo(err);
        await c.write(response('OK'));
      },
    },
  ],
  [
    'LISTSCRIPTS',
    {
      states: ['authenticated'],
      async handle(c, a) {
        args(a, '', 'LISTSCRIPTS');
        const lines = mapped(() => store(c).list(c.user!)).map((s) => `${encodeString(s.name)}${s.active ? ' ACTIVE' : ''}\r\n`);
        await c.write(lines.join('') + response('OK', 'Listscripts completed'));
      },
    },
  ],
  [
    'GETSCRIPT',
    {
      states: ['authenticated'],
      async handle(c, a) {
        const [name] = args(a, 's', 'GETSCRIPT') as [string];
        const content = mapped(() => store(c).get(c.user!, name));
        // RFC 5804 §2.9: the script as a literal, then OK.
        await c.write(`{${Buffer.byteLength(content)}}\r\n${content}\r\n${response('OK', 'Getscript completed')}`);
      },
    },
  ],
  ['SETACTIVE', { states: ['authenticated'], handle: simple('SETACTIVE', 's', (s, u, [n]) => s.setActive(u, n as string)) }],
  ['DELETESCRIPT', { states: ['authenticated'], handle: simple('DELETESCRIPT', 's', (s, u, [n]) => s.delete(u, n as string)) }],
  ['RENAMESCRIPT', { states: ['authenticated'], handle: simple('RENAMESCRIPT', 'ss', (s, u, [f, t]) => s.rename(u, f as string, t as string)) }],
]);

function simple(name: string, sig: string, fn: (s: SieveStore, user: string, a: Array<string | number>) => void) {
  return async (c: MsConnection, a: Token[]): Promise<void> => {
    const values = args(a, sig, name);
    mapped(() => fn(store(c), c.user!, values));
    c.log.info({ cmd: name, args: values }, 'managesieve script change');
    await c.write(response('OK'));
  };
}

export async function dispatch(c: MsConnection, u: Unit & { kind: 'command' }): Promise<void> {
  const [first, ...rest] = u.tokens;
  if (first!.kind !== 'atom') throw new SieveNo('Expected a command name', undefined, { bad: true });
  const name = first!.value;
  const spec = COMMANDS.get(name);
  if (!spec) throw new SieveNo(`Unknown command ${name.slice(0, 30)}`, undefined, { bad: true });
  const state: State = c.user ? 'authenticated' : 'anonymous';
  if (!spec.states.includes(state)) throw new SieveNo(state === 'anonymous' ? 'Authenticate first' : `${name} is not allowed after authentication`, undefined, { bad: true });
  const started = Date.now();
  await spec.handle(c, rest);
  c.log.debug({ cmd: name, ms: Date.now() - started }, 'managesieve command');
}
