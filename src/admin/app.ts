/**
 * The web admin (/admin) and the users' account pages (/account), on the HTTPS
 * listener. Every request passes, in order:
 * 1. `admin.enabled` (else 404; checked in register.ts, before this module loads);
 * 2. HTTPS only: the session cookie is `Secure`, and passwords never cross in clear;
 * 3. the client network: `admin.allow` (loopback by default) against the socket's
 *    peer; from elsewhere the way in is a reverse proxy or an SSH tunnel (docs/admin.md);
 * 4. the session (else the login form), and for /admin the admin flag, read from the
 *    database each time (else 403);
 * 5. for a POST: a form body of at most MAX_FORM bytes, no cross-site fetch
 *    (`Sec-Fetch-Site`), and the session's CSRF token (else 403).
 * Then the page's handler runs. Actions call the same functions as the CLI verbs (named
 * in each page's header) and are logged with the user (an audit trail). Known errors
 * (bad input, refusals from the repositories) come back to the page as a message;
 * anything else is logged and shown as an internal error, never with its text.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { AddressError } from '../accounts/address.js';
import { AccountsError } from '../accounts/repo.js';
import { CliError } from '../cli/context.js';
import { DkimKeyError } from '../dkim/keys.js';
import { sendText, type RouteMatch } from '../http/index.js';
import type { Logger } from '../log.js';
import { StoreError } from '../store/types.js';
import { SieveScriptInvalid } from '../sieve/settings.js';
import { SieveStoreError } from '../sieve/store.js';
import { cachedNetworkMatcher, plainIp } from '../util/net.js';
import { isAdmin } from './flag.js';
import { ADMIN_NAV, html, layout, type Flash, type Html } from './html.js';
import { safeNext, showLogin, submitLogin, type LoginDeps } from './login.js';
import { accountSelfRoutes } from './pages/account.js';
import { accountRoutes } from './pages/accounts.js';
import { aliasRoutes } from './pages/aliases.js';
import { diskRoutes } from './pages/disk.js';
import { dkimRoutes } from './pages/dkim.js';
import { domainRoutes } from './pages/domains.js';
import { eventRoutes } from './pages/events.js';
import { overviewRoutes } from './pages/overview.js';
import { queueRoutes } from './pages/queue.js';
import { tlsRoutes } from './pages/tls.js';
import { cookie, parseCookies, SESSION_COOKIE, Sessions, tokenMatches, type Session } from './session.js';
import { STYLESHEET } from './style.js';
import { WebError, type PageContext, type PageResult, type PageRoute, type WebDeps } from './types.js';

/** Largest form accepted (the biggest field is an alias's target list). */
const MAX_FORM = 64 * 1024;

const ROUTES: PageRoute[] = [
  ...overviewRoutes,
  ...domainRoutes,
  ...accountRoutes,
  ...aliasRoutes,
  ...dkimRoutes,
  ...queueRoutes,
  ...tlsRoutes,
  ...eventRoutes,
  ...diskRoutes,
  ...accountSelfRoutes,
];

const SECURITY_HEADERS: Record<string, string> = {
  // No script at all; styles from our one stylesheet; forms post to us only.
  'Content-Security-Policy': "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

/** Errors whose message is written for the user (the CLI prints the same ones). */
const USER_ERRORS = [WebError, AccountsError, DkimKeyError, CliError, AddressError, StoreError, SieveStoreError];

function userMessage(err: unknown): string | undefined {
  if (USER_ERRORS.some((E) => err instanceof E)) return (err as Error).message;
  if (err instanceof SieveScriptInvalid) return `not valid Sieve: ${err.message}`;
  return undefined;
}

/**
 * The urlencoded body of a POST. Beyond MAX_FORM the rest is read and dropped (not the
 * socket destroyed, so the client gets its 413); the server's request timeout bounds a
 * body that never ends.
 */
function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') return Promise.reject(new WebError('forms are sent as application/x-www-form-urlencoded', 415));
  return new Promise((resolve, reject) => {
    let chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      if (size > MAX_FORM) return;
      size += chunk.length;
      if (size <= MAX_FORM) return void chunks.push(chunk);
      chunks = [];
      reject(new WebError('form too large', 413));
    });
    req.on('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

export class WebApp {
  private readonly sessions: Sessions;
  private readonly allowed = cachedNetworkMatcher();
  private readonly proxies = cachedNetworkMatcher();
  private readonly log: Logger;
  private readonly login: LoginDeps;

  constructor(private readonly deps: WebDeps) {
    const ctx = deps.ctx;
    this.sessions = new Sessions(() => ctx.config.admin.sessionMinutes * 60_000);
    this.log = ctx.log.child({ proto: 'web' });
    this.login = { ctx, sessions: this.sessions, log: this.log, send: (res, status, page, headers) => this.send(res, status, page, headers), redirect: (res, l, c) => this.redirect(res, l, c) };
  }

  async handle(req: IncomingMessage, res: ServerResponse, match: RouteMatch): Promise<void> {
    const cfg = this.deps.ctx.config.admin;
    if (!(req.socket as TLSSocket).encrypted) return sendText(res, 403, 'forbidden: the admin and account pages are served over HTTPS only\n');
    const peer = req.socket.remoteAddress ?? '';
    if (!this.allowed(cfg.allow, peer)) return sendText(res, 403, `forbidden: ${plainIp(peer)} is not in admin.allow\n`);
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    const method = (req.method ?? 'GET').toUpperCase();
    const path = match.path;
    if (method === 'GET' && path === '/admin') return this.redirect(res, '/admin/');
    if (path === '/admin/style.css' || path === '/account/style.css') return sendText(res, 200, STYLESHEET, 'text/css; charset=utf-8');
    const area = path.startsWith('/admin') ? 'admin' : 'account';
    if (method !== 'GET' && method !== 'HEAD' && method !== 'POST') return sendText(res, 405, 'method not allowed\n');
    if (method === 'POST' && ['cross-site', 'same-site'].includes(String(req.headers['sec-fetch-site']))) return sendText(res, 403, 'forbidden: cross-site form\n');
    let form = new URLSearchParams();
    try {
      if (method === 'POST') form = await readForm(req);
    } catch (err) {
      res.setHeader('Connection', 'close');
      return sendText(res, err instanceof WebError ? err.status : 400, `${(err as Error).message}\n`);
    }
    if (path === `/${area}/login`) {
      if (method === 'POST') return submitLogin(this.login, req, res, area, form, this.clientAddress(req));
      return showLogin(this.login, res, area, safeNext(match.url.searchParams.get('next'), area === 'admin' ? '/admin/' : '/account'));
    }
    const session = this.sessionOf(req);
    if (!session) {
      if (method === 'POST') return this.redirect(res, `/${area}/login`);
      return this.redirect(res, `/${area}/login?next=${encodeURIComponent(match.url.pathname + match.url.search)}`);
    }
    if (method === 'POST' && !tokenMatches(form.get('_csrf'), session.csrf)) {
      this.log.warn({ user: session.account, path }, 'POST without a valid CSRF token refused');
      return this.page(res, session, 403, 'Refused', html`<p>This form is not valid any more (its security token is missing or old). Go back, reload the page and try again.</p>`);
    }
    if (path === '/account/logout' && method === 'POST') {
      this.sessions.delete(session.id);
      return this.redirect(res, `/account/login`, [cookie(SESSION_COOKIE, '', 0)]);
    }
    if (area === 'admin' && !isAdmin(this.deps.ctx.db, session.account)) {
      return this.page(res, session, 403, 'Not an administrator', html`<p>${session.account} may not use the admin pages. <a href="/account">Your account</a></p>`);
    }
    await this.dispatch(req, res, session, method === 'HEAD' ? 'GET' : (method as 'GET' | 'POST'), path, match.url, form);
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse, session: Session, method: 'GET' | 'POST', path: string, url: URL, form: URLSearchParams): Promise<void> {
    let params: string[] = [];
    const route = ROUTES.find((r) => {
      if (r.method !== method) return false;
      const m = r.path.exec(path);
      if (m) params = m.slice(1);
      return m !== null;
    });
    if (!route) return this.page(res, session, 404, 'Not found', html`<p>There is no such page.</p>`);
    const c: PageContext = {
      ctx: this.deps.ctx,
      repo: this.deps.accounts,
      session,
      sessions: this.sessions,
      params,
      query: url.searchParams,
      form,
      client: this.clientAddress(req),
      log: this.log.child({ user: session.account }),
    };
    let result: PageResult;
    try {
      result = await route.handle(c);
    } catch (err) {
      const text = userMessage(err);
      if (text === undefined) this.log.error({ err, path, user: session.account }, 'web page failed');
      const shown = text ?? 'Internal error; the server log has the details.';
      if (method === 'POST' && route.back && !(err instanceof WebError && err.status === 404)) {
        session.flash = { kind: 'error', text: shown };
        return this.redirect(res, route.back(c));
      }
      const status = err instanceof WebError ? err.status : text !== undefined ? 400 : 500;
      return this.page(res, session, status, status === 404 ? 'Not found' : 'Error', html`<p class="flash error">${shown}</p>`);
    }
    if ('redirect' in result) {
      if (result.flash) session.flash = result.flash;
      return this.redirect(res, result.redirect);
    }
    this.page(res, session, result.status ?? 200, result.title, result.body, result.current ?? path);
  }

  private page(res: ServerResponse, session: Session, status: number, title: string, body: Html, current?: string): void {
    const flash: Flash | undefined = session.flash;
    session.flash = undefined;
    const admin = isAdmin(this.deps.ctx.db, session.account);
    const nav = admin ? [...ADMIN_NAV, { href: '/account', label: 'My account' }] : [{ href: '/account', label: 'My account' }];
    const css = current?.startsWith('/admin') ? '/admin/style.css' : '/account/style.css';
    this.send(res, status, layout({ title, body, user: session.account, csrf: session.csrf, nav, current, flash, css, hostname: this.deps.ctx.config.hostname }));
  }

  private sessionOf(req: IncomingMessage): Session | undefined {
    const s = this.sessions.get(parseCookies(req).get(SESSION_COOKIE));
    if (!s) return undefined;
    // A removed or disabled account ends its sessions at the next request.
    const a = this.deps.ctx.accounts.getAccount(s.account);
    if (!a || a.disabled) {
      this.sessions.delete(s.id);
      return undefined;
    }
    return s;
  }

  /**
   * The client: the socket's peer, or, when that peer is a trusted proxy
   * (`admin.trusted_proxies`), the last address in X-Forwarded-For that is not one.
   */
  private clientAddress(req: IncomingMessage): string {
    const peer = plainIp(req.socket.remoteAddress ?? '');
    const trusted = this.deps.ctx.config.admin.trustedProxies;
    const xff = req.headers['x-forwarded-for'];
    if (!xff || !this.proxies(trusted, peer)) return peer;
    const hops = String(xff).split(',').map((s) => plainIp(s.trim()));
    for (let i = hops.length - 1; i >= 0; i--) {
      if (!isIP(hops[i]!)) return peer;
      if (!this.proxies(trusted, hops[i]!)) return hops[i]!;
    }
    return peer;
  }

  private send(res: ServerResponse, status: number, page: { value: string }, headers: Record<string, string | string[]> = {}): void {
    res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': Buffer.byteLength(page.value), ...headers });
    res.end(page.value);
  }

  private redirect(res: ServerResponse, location: string, cookies?: string[]): void {
    res.writeHead(303, { Location: location, 'Content-Length': 0, ...(cookies ? { 'Set-Cookie': cookies } : {}) });
    res.end();
  }
}
