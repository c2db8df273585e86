// AUTHENTICATE — RFC 9051 §6.2.2, SASL-IR (RFC 4959)
// authenticate = "AUTHENTICATE" SP auth-type [SP initial-resp] *(CRLF base64)
// Mechanisms PLAIN (RFC 4616) and LOGIN; "*" cancels → BAD (RFC 9051 §6.2.2).
import { decodeBase64, decodePlain, isCancel, LOGIN_PROMPTS, SaslError } from '../../sasl/index.js';
import { ImapBad, ImapNo } from '../errors.js';
import { authenticateUser } from './login.js';
import { NOT_AUTH, type CommandContext, type CommandSpec } from './types.js';

async function challenge(c: CommandContext, text: string): Promise<string> {
  await c.conn.write([`+ ${text}\r\n`]);
  let line: string;
  try {
    line = await c.conn.readLine();
  } catch {
    throw new ImapBad('Connection closed');
  }
  if (isCancel(line)) throw new ImapBad('AUTHENTICATE cancelled');
  return line;
}

export const authenticate: CommandSpec = {
  name: 'AUTHENTICATE',
  states: NOT_AUTH,
  async handle(c, p) {
    p.sp();
    const mech = p.atom().toUpperCase();
    let initial: string | undefined;
    if (p.trySp()) initial = p.atom();
    p.end();
    if (!c.conn.authAllowed()) throw new ImapNo('Authentication is disabled before STARTTLS', 'PRIVACYREQUIRED');
    try {
      if (mech === 'PLAIN') {
        const resp = initial ?? (await challenge(c, ''));
        const cred = decodePlain(resp);
        await authenticateUser(c, cred.username, cred.password, cred.authzid);
      } else if (mech === 'LOGIN') {
        const u = initial ?? (await challenge(c, LOGIN_PROMPTS[0]));
        const user = decodeBase64(u).toString('utf8');
        const pw = decodeBase64(await challenge(c, LOGIN_PROMPTS[1])).toString('utf8');
        await authenticateUser(c, user, pw);
      } else {
        throw new ImapNo('Unsupported authentication mechanism', 'CANNOT');
      }
    } catch (err) {
      if (err instanceof SaslError) throw new ImapBad('Invalid SASL response');
      throw err;
    }
  },
};
