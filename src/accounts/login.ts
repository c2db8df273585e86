/**
 * The one login flow of every protocol that takes a password (IMAP LOGIN/AUTHENTICATE,
 * POP3 USER/PASS and AUTH, submission AUTH, ManageSieve AUTHENTICATE): `authenticate`
 * decides, in this order,
 *
 *   1. the TLS rule: credentials only over TLS, or from loopback when
 *      `auth.allow_plaintext_on_loopback` is on (RFC 8314 §3; RFC 9051 §6.2.3
 *      LOGINDISABLED; RFC 2595 §2.1; RFC 4954 §4) → tlsRequired;
 *   2. a ban of the client's address (bans.ts) → banned, nothing checked;
 *   3. the client's turn (throttle.ts: one attempt at a time, the penalty wait; an
 *      attempt whose client went away meanwhile → gone, nothing checked);
 *   4. the credentials (Accounts.checkCredentials): unknown name or wrong password →
 *      failed, counted against the client; the right password of a disabled account,
 *      or a SASL authorization identity other than the user (no proxy logins) → failed,
 *      not counted (the client knows the password: it is not guessing);
 *   5. a credential store that throws (database locked, disk error) → unavailable:
 *      a temporary failure, not a failed login, never counted;
 *
 * and returns a typed result. A failed result is returned after
 * `auth.failure_delay_ms`. Each protocol maps the result to its replies in one place:
 *
 * | result      | IMAP (RFC 5530)           | POP3 (RFC 3206)        | SMTP (RFC 4954)  | ManageSieve (RFC 5804 §1.3) |
 * |-------------|---------------------------|------------------------|------------------|-----------------------------|
 * | failed      | NO [AUTHENTICATIONFAILED] | -ERR [AUTH]            | 535 5.7.8        | NO                          |
 * | unavailable | NO [UNAVAILABLE]          | -ERR [SYS/TEMP]        | 454 4.7.0        | NO (TRYLATER)               |
 * | tlsRequired | NO [PRIVACYREQUIRED]      | -ERR [AUTH]            | 530 5.7.0        | NO (ENCRYPT-NEEDED)         |
 * | banned      | BYE, close                | -ERR [SYS/TEMP], close | 421 4.7.0, close | BYE, close                  |
 *
 * `gone` needs no reply. The same refusal of a banned address at connect time is
 * `connectRefusal` below.
 */
import type { Config } from '../config/index.js';
import type { Logger } from '../log.js';
import { authzidAllowed } from '../sasl/index.js';
import { isLoopback } from '../util/net.js';
import { parseAddress } from './address.js';
import type { Ban } from './bans.js';
import { pauseUnlessGone, type LoginThrottle, type Outcome, type Turn } from './throttle.js';
import type { AccountRecord, Accounts } from './types.js';

/** What authenticate needs from the server context (ServerContext has it all). */
export interface LoginContext {
  config: Pick<Config, 'auth'>;
  accounts: Pick<Accounts, 'checkCredentials'>;
  log: Logger;
  /** Absent in contexts built by tests: no penalty, no bans. */
  loginThrottle?: LoginThrottle;
}

export interface LoginRequest {
  /** For the logs: imap, pop3, submission, managesieve. */
  protocol: string;
  remoteAddress: string;
  /** The connection is TLS (STARTTLS done, or an implicit-TLS port). */
  secure: boolean;
  username: string;
  password: string;
  /** SASL authorization identity; empty or absent when the client sent none. */
  authzid?: string;
  /** True once the client has gone: a waiting attempt is dropped. */
  gone?: () => boolean;
  /** The connection's logger (proto, cid). */
  log?: Logger;
}

export type LoginResult =
  | { kind: 'ok'; account: AccountRecord }
  | { kind: 'failed' }
  | { kind: 'unavailable' }
  | { kind: 'tlsRequired' }
  | { kind: 'banned'; until: Date }
  | { kind: 'gone' };

/** Words every protocol uses for a banned client, at connect and at login. */
export const BANNED_TEXT = 'Too many failed logins from your address, try again later';

/** RFC 8314 §3 and the protocols' own rules: credentials over TLS, or from loopback when allowed. */
export function loginAllowed(config: Pick<Config, 'auth'>, secure: boolean, remoteAddress: string | undefined): boolean {
  return secure || (config.auth.allowPlaintextOnLoopback && isLoopback(remoteAddress));
}

/** The ban to refuse a new connection with (each listener answers it politely and closes), if any. */
export function connectRefusal(ctx: Pick<LoginContext, 'loginThrottle' | 'log'>, remoteAddress: string | undefined, protocol: string): Ban | undefined {
  const ban = remoteAddress ? ctx.loginThrottle?.banOf(remoteAddress) : undefined;
  if (ban) ctx.log.info({ proto: protocol, ip: remoteAddress, until: new Date(ban.until).toISOString() }, 'connection refused: client banned');
  return ban;
}

const FREE: Turn = { kind: 'go', release: () => undefined };

/** The one login decision (see the module comment). Never throws. */
export async function authenticate(ctx: LoginContext, req: LoginRequest): Promise<LoginResult> {
  const log = req.log ?? ctx.log;
  const gone = req.gone ?? (() => false);
  const user = req.username.slice(0, 256);
  if (!loginAllowed(ctx.config, req.secure, req.remoteAddress)) return { kind: 'tlsRequired' };
  const turn = ctx.loginThrottle ? await ctx.loginThrottle.turn(req.remoteAddress, gone) : FREE;
  if (turn.kind === 'banned') {
    log.info({ proto: req.protocol, ip: req.remoteAddress, user, until: new Date(turn.ban.until).toISOString() }, 'login refused: client banned');
    return { kind: 'banned', until: new Date(turn.ban.until) };
  }
  if (turn.kind === 'gone') {
    log.info({ proto: req.protocol, user }, 'login dropped: the client left while waiting its turn');
    return { kind: 'gone' };
  }
  let outcome: Outcome = { kind: 'neutral' };
  let result: LoginResult;
  try {
    const check = await ctx.accounts.checkCredentials(req.username, req.password);
    if (check.kind === 'invalid') {
      outcome = { kind: 'failure', name: nameKey(user) };
      result = { kind: 'failed' };
      log.info({ proto: req.protocol, ip: req.remoteAddress, user }, 'authentication failed');
    } else if (!authzidAllowed({ authzid: req.authzid ?? '', username: req.username, password: '' }, check.account.address)) {
      result = { kind: 'failed' };
      log.info({ proto: req.protocol, user, authzid: req.authzid }, 'authentication refused: authorization identity is another user');
    } else if (check.kind === 'disabled') {
      result = { kind: 'failed' };
      log.info({ proto: req.protocol, user: check.account.address }, 'authentication refused: account disabled');
    } else {
      outcome = { kind: 'success', account: check.account.address };
      result = { kind: 'ok', account: check.account };
    }
  } catch (err) {
    log.error({ err, proto: req.protocol }, 'credential check failed; answered as a temporary failure');
    result = { kind: 'unavailable' };
  } finally {
    turn.release(outcome);
  }
  if (result.kind === 'failed') await pauseUnlessGone(ctx.config.auth.failureDelayMs, gone);
  return result;
}

/** The name a failure is counted under: the canonical address when the name is one. */
function nameKey(user: string): string {
  try {
    return parseAddress(user).address;
  } catch {
    return user.toLowerCase();
  }
}
