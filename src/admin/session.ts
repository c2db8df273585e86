/**
 * Web sessions of the admin and account pages, in memory (a restart logs everyone
 * out, which is fine for a handful of administrators and beats a table of bearer
 * tokens on disk).
 *
 * - The session id is 32 random bytes in a cookie `__Host-mailserver` with `Secure;
 *   HttpOnly; SameSite=Strict; Path=/` (the `__Host-` prefix makes the browser refuse
 *   it from plain HTTP and pins it to this host). A new id at every login (no fixation).
 * - Each session has its own CSRF token (32 random bytes), required in the `_csrf`
 *   field of every POST and compared in constant time. The login form, before any
 *   session exists, uses a token bound to a short-lived `__Host-mailserver-login` cookie.
 * - A session ends after `admin.session_minutes` without a request, after
 *   MAX_LIFETIME_MS in any case, at logout, and when its account's password changes.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Flash } from './html.js';

export const SESSION_COOKIE = '__Host-mailserver';
export const LOGIN_COOKIE = '__Host-mailserver-login';
/** However active, a session is renewed by logging in again after this long. */
const MAX_LIFETIME_MS = 12 * 3600_000;
/** Sessions kept at most; the least recently used goes beyond this. */
const MAX_SESSIONS = 10_000;

export interface Session {
  id: string;
  account: string;
  csrf: string;
  created: number;
  seen: number;
  /** A message for the next page shown (post/redirect/get). */
  flash?: Flash;
}

export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Constant-time comparison of a submitted token with the expected one. */
export function tokenMatches(given: string | null | undefined, expected: string): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export class Sessions {
  private readonly map = new Map<string, Session>();

  constructor(private readonly idleMs: () => number) {}

  create(account: string): Session {
    const s: Session = { id: newToken(), account, csrf: newToken(), created: Date.now(), seen: Date.now() };
    this.map.set(s.id, s);
    if (this.map.size > MAX_SESSIONS) this.map.delete(this.map.keys().next().value as string);
    return s;
  }

  /** The live session for this id (its idle timer restarted), or undefined. */
  get(id: string | undefined): Session | undefined {
    if (!id) return undefined;
    const s = this.map.get(id);
    if (!s) return undefined;
    const now = Date.now();
    if (now - s.seen > this.idleMs() || now - s.created > MAX_LIFETIME_MS) {
      this.map.delete(id);
      return undefined;
    }
    s.seen = now;
    // Most recently used last: the map's order is the eviction order.
    this.map.delete(id);
    this.map.set(id, s);
    return s;
  }

  delete(id: string): void {
    this.map.delete(id);
  }

  /** Ends every session of an account but `keep` (after a password change). */
  endAllOf(account: string, keep?: string): void {
    for (const [id, s] of this.map) if (s.account === account && id !== keep) this.map.delete(id);
  }
}

/** The cookies of a request (the first value of each name). */
export function parseCookies(req: IncomingMessage): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    if (!out.has(name)) out.set(name, part.slice(eq + 1).trim());
  }
  return out;
}

/** A Set-Cookie value with the attributes every cookie here gets; `maxAge` 0 deletes it. */
export function cookie(name: string, value: string, maxAgeSeconds?: number): string {
  const age = maxAgeSeconds === undefined ? '' : `; Max-Age=${maxAgeSeconds}`;
  return `${name}=${value}; Path=/; Secure; HttpOnly; SameSite=Strict${age}`;
}
