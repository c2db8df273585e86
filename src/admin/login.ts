/**
 * Logging in to the web pages: a mail account's address and password, through the one
 * login flow of every protocol (`authenticate`, src/accounts/login.ts): a banned client
 * is refused unchecked, a client's failed logins slow its next ones and count toward a
 * ban across IMAP, POP3, submission and these pages alike, and a failure is answered
 * after `auth.failure_delay_ms`.
 *
 * The form carries a token tied to a short-lived cookie (login CSRF: another site
 * cannot log a browser in to an account of its choosing). A success makes a new
 * session (src/admin/session.ts); an admin goes on to where they were going, a user
 * to /account.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { authenticate, BANNED_TEXT, type LoginResult } from '../accounts/login.js';
import type { ServerContext } from '../context.js';
import type { Logger } from '../log.js';
import { isAdmin } from './flag.js';
import { html, layout, type Flash } from './html.js';
import { cookie, LOGIN_COOKIE, newToken, parseCookies, SESSION_COOKIE, tokenMatches, type Sessions } from './session.js';

export interface LoginDeps {
  ctx: ServerContext;
  sessions: Sessions;
  log: Logger;
  send(res: ServerResponse, status: number, page: { value: string }, headers?: Record<string, string | string[]>): void;
  redirect(res: ServerResponse, location: string, cookies?: string[]): void;
}

/** Only our own pages are login destinations (no open redirect). */
export function safeNext(next: string | null | undefined, fallback: string): string {
  if (!next || !/^\/(admin|account)(\/[^\s\\]*)?$/.test(next) || next.startsWith('//')) return fallback;
  return next;
}

/** What the login form says for each refusal, and with which status. */
const REFUSALS: Partial<Record<LoginResult['kind'], [number, string]>> = {
  failed: [401, 'Wrong mail address or password.'],
  banned: [403, `${BANNED_TEXT}.`],
  unavailable: [503, 'Logins are not possible right now (the account database did not answer); try again in a moment.'],
  tlsRequired: [403, 'Log in over HTTPS.'],
};

/** GET: the form (a fresh login token in a cookie and in the form). */
export function showLogin(d: LoginDeps, res: ServerResponse, area: 'admin' | 'account', next: string, flash?: Flash, status = 200): void {
  const token = newToken();
  const action = `/${area}/login`;
  const body = html`<form method="post" action="${action}" class="login">
<input type="hidden" name="_csrf" value="${token}"><input type="hidden" name="next" value="${next}">
<label>Mail address<input type="email" name="username" autocomplete="username" required autofocus></label>
<label>Password<input type="password" name="password" autocomplete="current-password" required></label>
<button>Log in</button>
<p class="muted">${area === 'admin' ? 'Administrators: an account flagged with "mailserver account admin <address> on".' : 'Your mail address and its password.'}</p></form>`;
  const page = layout({ title: area === 'admin' ? 'Administration' : 'Your account', body, flash, css: `/${area}/style.css`, hostname: d.ctx.config.hostname });
  d.send(res, status, page, { 'Set-Cookie': cookie(LOGIN_COOKIE, token, 3600) });
}

/** POST: checks the token, then the credentials through the login flow; a new session on success. */
export async function submitLogin(d: LoginDeps, req: IncomingMessage, res: ServerResponse, area: 'admin' | 'account', form: URLSearchParams, client: string): Promise<void> {
  const next = safeNext(form.get('next'), area === 'admin' ? '/admin/' : '/account');
  if (!tokenMatches(form.get('_csrf'), parseCookies(req).get(LOGIN_COOKIE) ?? '\0')) {
    return showLogin(d, res, area, next, { kind: 'error', text: 'The form had expired. Please log in again.' }, 403);
  }
  const username = (form.get('username') ?? '').trim();
  const r = await authenticate(d.ctx, {
    protocol: 'web',
    remoteAddress: client,
    secure: true,
    username,
    password: form.get('password') ?? '',
    gone: () => req.socket.destroyed,
    log: d.log,
  });
  if (r.kind === 'gone') return void res.destroy();
  if (r.kind !== 'ok') {
    const [status, text] = REFUSALS[r.kind]!;
    return showLogin(d, res, area, next, { kind: 'error', text }, status);
  }
  const account = r.account;
  const session = d.sessions.create(account.address);
  d.log.info({ user: account.address, ip: client, result: 'ok' }, 'web login');
  const admin = isAdmin(d.ctx.db, account.address);
  let target = next;
  if (next.startsWith('/admin') && !admin) {
    target = '/account';
    session.flash = { kind: 'error', text: `${account.address} is not an administrator.` };
  }
  d.redirect(res, target, [cookie(SESSION_COOKIE, session.id), cookie(LOGIN_COOKIE, '', 0)]);
}
