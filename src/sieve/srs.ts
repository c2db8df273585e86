/**
 * The Sender Rewriting Scheme for mail a Sieve `redirect` sends on: the envelope
 * sender becomes an address of ours, so the next hop's SPF check sees our domain and
 * a bounce comes back to us (never to a third party), and we pass it on to the
 * original sender. The scheme is libsrs2's (no RFC; Postfix's postsrsd and Exim use
 * the same shape):
 *
 *   SRS0=<hash>=<tt>=<original domain>=<original local part>@<our domain>
 *
 * - tt: the day (days since the epoch, mod 1024) in two base32 characters; an address
 *   older than MAX_AGE_DAYS is refused, so harvested addresses stop working.
 * - hash: HMAC-SHA256 over "tt=domain=local" (lower-cased: MTAs may change the case of
 *   a local part) with a server secret, the first HASH_CHARS base32 characters. The
 *   secrets live in the database (srs_keys, created on first use): the newest signs,
 *   every one verifies, so a new key can be added without breaking addresses in flight.
 * - An original sender that is itself an SRS0 address is wrapped again (no SRS1
 *   shortening); a redirect of a redirect stays reversible one hop at a time.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Accounts, Resolution } from '../accounts/types.js';
import type { Db } from '../db/index.js';

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
const HASH_CHARS = 6;
export const MAX_AGE_DAYS = 21;
const DAY_MS = 86_400_000;

function base32(buf: Buffer, chars: number): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of buf) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5 && out.length < chars) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    if (out.length >= chars) break;
  }
  return out;
}

function dayStamp(now: number): string {
  const d = Math.floor(now / DAY_MS) % 1024;
  return BASE32[d >> 5]! + BASE32[d & 31]!;
}

/** Days since a stamp was made (stamps wrap every 1024 days). */
function ageDays(tt: string, now: number): number | undefined {
  const hi = BASE32.indexOf(tt[0]!.toLowerCase());
  const lo = BASE32.indexOf(tt[1]!.toLowerCase());
  if (hi < 0 || lo < 0) return undefined;
  const today = Math.floor(now / DAY_MS) % 1024;
  return (today - ((hi << 5) | lo) + 1024) % 1024;
}

export class Srs {
  private keys: Buffer[] | undefined;

  constructor(private readonly db: Db) {}

  /** The secrets, newest first; one is created the first time none exists. */
  private secrets(): Buffer[] {
    if (this.keys) return this.keys;
    let rows = this.db.prepare('SELECT secret FROM srs_keys ORDER BY id DESC').pluck().all() as string[];
    if (rows.length === 0) {
      this.db.prepare('INSERT INTO srs_keys (secret, created_at) VALUES (?, ?)').run(randomBytes(32).toString('base64'), Date.now());
      rows = this.db.prepare('SELECT secret FROM srs_keys ORDER BY id DESC').pluck().all() as string[];
    }
    this.keys = rows.map((r) => Buffer.from(r, 'base64'));
    return this.keys;
  }

  private hash(key: Buffer, tt: string, domain: string, local: string): string {
    return base32(createHmac('sha256', key).update(`${tt}=${domain}=${local}`.toLowerCase()).digest(), HASH_CHARS);
  }

  /**
   * The SRS address for mail from `sender` forwarded by us from `ourDomain`. The null
   * sender stays null (a bounce is never forwarded with a return address).
   */
  forward(sender: string, ourDomain: string, now = Date.now()): string {
    if (sender === '') return '';
    const at = sender.lastIndexOf('@');
    if (at <= 0) return sender;
    const local = sender.slice(0, at);
    const domain = sender.slice(at + 1);
    const tt = dayStamp(now);
    return `SRS0=${this.hash(this.secrets()[0]!, tt, domain, local)}=${tt}=${domain}=${local}@${ourDomain}`;
  }

  /**
   * The original sender of an SRS0 address of ours, or undefined when `address` is not
   * one, its hash is wrong, or it is older than MAX_AGE_DAYS.
   */
  reverse(address: string, now = Date.now()): string | undefined {
    const at = address.lastIndexOf('@');
    const local = address.slice(0, at);
    const m = /^srs0=([a-z2-7]+)=([a-z2-7]{2})=([^=]+)=(.+)$/i.exec(local);
    if (!m) return undefined;
    const [, hash, tt, domain, origLocal] = m as unknown as [string, string, string, string, string];
    const age = ageDays(tt, now);
    if (age === undefined || age > MAX_AGE_DAYS) return undefined;
    const given = Buffer.from(hash.toLowerCase());
    const ok = this.secrets().some((k) => {
      const want = Buffer.from(this.hash(k, tt, domain, origLocal));
      return want.length === given.length && timingSafeEqual(want, given);
    });
    return ok ? `${origLocal}@${domain}` : undefined;
  }
}

/** Whether the local part looks like an SRS address (checked before any lookup). */
export function isSrsAddress(address: string): boolean {
  return /^srs0=/i.test(address);
}

/**
 * The account database with SRS addresses resolved: a valid SRS0 address in one of our
 * domains is a recipient that forwards to the original sender (how the bounce of a
 * redirected message gets back to it), an invalid or expired one is an unknown user.
 * Everything that resolves recipients (port 25 RCPT TO, local delivery, the queue's
 * DSNs) goes through `resolveRecipient`, so this is the one place SRS enters delivery.
 * Checked before the account lookup, so a catch-all does not swallow the bounces.
 */
export function withSrsRecipients<T extends Accounts>(accounts: T, srs: Srs): T {
  const resolve = (address: string): Resolution => {
    if (isSrsAddress(address)) {
      const domain = address.slice(address.lastIndexOf('@') + 1);
      if (accounts.isLocalDomain(domain)) {
        const original = srs.reverse(address);
        return original ? { kind: 'deliver', accounts: [], forward: [original] } : { kind: 'unknownUser' };
      }
    }
    return accounts.resolveRecipient(address);
  };
  return new Proxy(accounts, {
    get(target, prop) {
      if (prop === 'resolveRecipient') return resolve;
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
