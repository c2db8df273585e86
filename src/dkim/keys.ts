/**
 * DKIM keys: generation with Node's crypto, storage in the `dkim_keys` table, rotation,
 * and the DNS TXT record to publish.
 *
 * - RSA-2048 (RFC 6376 §3.3.3: signers MUST use at least 1024 bits; 2048 is today's
 *   norm) is the default; Ed25519 (RFC 8463) is an option. A domain gets an RSA-2048
 *   key when it is added (`ensureDomainKey`).
 * - Exactly one key per domain is `active` (the one that signs). Rotation makes a new
 *   selector active and keeps the previous key as `retiring`, so mail signed just before
 *   the switch still verifies while the old record stays published (RFC 6376 §3.1:
 *   selectors exist to allow key changes).
 * - Private keys are PEM (PKCS#8) in the database and nowhere else; they are never
 *   logged (the logger also redacts `privateKey`). The database file is made 0600 when a
 *   key is written.
 *
 * On the DNS side (RFC 6376 §3.6.1): `<selector>._domainkey.<domain> TXT
 * "v=DKIM1; k=rsa; p=<base64 SubjectPublicKeyInfo>"`, and for Ed25519 (RFC 8463 §4.2)
 * `k=ed25519; p=<base64 of the raw 32-byte public key>`.
 */
import { chmodSync, existsSync } from 'node:fs';
import { generateKeyPairSync, createPublicKey } from 'node:crypto';
import type { Db } from '../db/index.js';
import { normalizeDomain } from '../accounts/address.js';

export type DkimAlgorithm = 'rsa-2048' | 'ed25519';
export const DKIM_ALGORITHMS: readonly DkimAlgorithm[] = ['rsa-2048', 'ed25519'];

export type DkimKeyStatus = 'active' | 'retiring';

export interface DkimKey {
  id: number;
  domain: string;
  selector: string;
  algorithm: DkimAlgorithm;
  /** PEM. Never log it. */
  privateKey: string;
  /** Base64 for the record's p= tag. */
  publicKey: string;
  status: DkimKeyStatus;
  createdAt: Date;
}

export class DkimKeyError extends Error {}

interface KeyRow {
  id: number;
  domain: string;
  selector: string;
  algorithm: string;
  private_key: string;
  public_key: string;
  status: string;
  created_at: number;
}

/** Makes a key pair; returns the private key (PKCS#8 PEM) and the p= value. */
export function generateKeyMaterial(algorithm: DkimAlgorithm): { privateKey: string; publicKey: string } {
  if (algorithm === 'ed25519') {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    // RFC 8463 §4.2: p= is the base64 of the bare 32-byte key, not a SubjectPublicKeyInfo.
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    return {
      privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      publicKey: spki.subarray(spki.length - 32).toString('base64'),
    };
  }
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
  return {
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    // RFC 6376 §3.6.1: p= is base64 of the DER SubjectPublicKeyInfo for k=rsa.
    publicKey: publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
  };
}

/** Derives the p= value from a stored private key (used to check consistency). */
export function publicKeyOf(privateKeyPem: string, algorithm: DkimAlgorithm): string {
  const spki = createPublicKey(privateKeyPem).export({ type: 'spki', format: 'der' });
  return algorithm === 'ed25519' ? spki.subarray(spki.length - 32).toString('base64') : spki.toString('base64');
}

const SELECTOR = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** RFC 6376 §3.1: a selector is one or more DNS labels. */
export function validateSelector(selector: string): string {
  const s = selector.trim().toLowerCase();
  if (!SELECTOR.test(s) || s.length > 200) throw new DkimKeyError(`invalid selector "${selector}": use letters, digits and hyphens`);
  return s;
}

function domainId(db: Db, domain: string): number {
  const id = db.prepare('SELECT id FROM domains WHERE name = ?').pluck().get(domain) as number | undefined;
  if (id === undefined) throw new DkimKeyError(`no such domain: ${domain}`);
  return id;
}

function toKey(r: KeyRow): DkimKey {
  return {
    id: r.id,
    domain: r.domain,
    selector: r.selector,
    algorithm: r.algorithm as DkimAlgorithm,
    privateKey: r.private_key,
    publicKey: r.public_key,
    status: r.status as DkimKeyStatus,
    createdAt: new Date(r.created_at),
  };
}

const SELECT = `SELECT k.id, d.name AS domain, k.selector, k.algorithm, k.private_key, k.public_key, k.status, k.created_at
  FROM dkim_keys k JOIN domains d ON d.id = k.domain_id`;

/** All keys of a domain, active first, newest first. */
export function listKeys(db: Db, domain: string): DkimKey[] {
  const d = normalizeDomain(domain);
  const rows = db.prepare(`${SELECT} WHERE d.name = ? ORDER BY k.status = 'active' DESC, k.created_at DESC, k.id DESC`).all(d) as KeyRow[];
  return rows.map(toKey);
}

/** The key that signs mail of this domain, if any. */
export function activeKey(db: Db, domain: string): DkimKey | undefined {
  const row = db.prepare(`${SELECT} WHERE d.name = ? AND k.status = 'active' ORDER BY k.id DESC LIMIT 1`).get(domain) as KeyRow | undefined;
  return row ? toKey(row) : undefined;
}

/** A fresh selector name: `ms<yyyymmdd>`, with a suffix when taken (`ms20260101b`). */
export function newSelector(db: Db, domain: string, now = new Date()): string {
  const base = `ms${now.toISOString().slice(0, 10).replace(/-/g, '')}`;
  const taken = new Set(listKeys(db, domain).map((k) => k.selector));
  if (!taken.has(base)) return base;
  for (let i = 0; i < 26 * 26; i++) {
    const suffix = i < 26 ? String.fromCharCode(98 + i) : `${String.fromCharCode(97 + Math.floor(i / 26))}${String.fromCharCode(97 + (i % 26))}`;
    if (!taken.has(base + suffix)) return base + suffix;
  }
  throw new DkimKeyError('no free selector name; pass --selector');
}

function tightenDbFile(db: Db): void {
  // The private keys live in this file: owner-only (0600), WAL and SHM alike.
  for (const f of [db.name, `${db.name}-wal`, `${db.name}-shm`]) {
    try {
      if (f && f !== ':memory:' && existsSync(f)) chmodSync(f, 0o600);
    } catch {
      // not ours to chmod (another user runs the CLI): leave it
    }
  }
}

/**
 * Generates a key for the domain and makes it the active one; the key that was active
 * becomes `retiring` (kept, so its DNS record can stay published during the switch).
 * Throws DkimKeyError for an unknown domain, a bad selector or one already in use.
 */
export function generateDomainKey(db: Db, domain: string, opts: { selector?: string; algorithm?: DkimAlgorithm } = {}): DkimKey {
  const d = normalizeDomain(domain);
  const algorithm = opts.algorithm ?? 'rsa-2048';
  if (!DKIM_ALGORITHMS.includes(algorithm)) throw new DkimKeyError(`unknown algorithm "${String(algorithm)}"; use rsa-2048 or ed25519`);
  const did = domainId(db, d);
  const selector = opts.selector ? validateSelector(opts.selector) : newSelector(db, d);
  if (db.prepare('SELECT 1 FROM dkim_keys WHERE domain_id = ? AND selector = ?').get(did, selector)) {
    throw new DkimKeyError(`selector "${selector}" already exists for ${d}`);
  }
  const material = generateKeyMaterial(algorithm);
  const now = Date.now();
  const id = db.transaction(() => {
    db.prepare("UPDATE dkim_keys SET status = 'retiring' WHERE domain_id = ? AND status = 'active'").run(did);
    return db
      .prepare("INSERT INTO dkim_keys (domain_id, selector, algorithm, private_key, public_key, status, created_at) VALUES (?, ?, ?, ?, ?, 'active', ?)")
      .run(did, selector, algorithm, material.privateKey, material.publicKey, now).lastInsertRowid as number;
  })();
  tightenDbFile(db);
  return { id, domain: d, selector, algorithm, privateKey: material.privateKey, publicKey: material.publicKey, status: 'active', createdAt: new Date(now) };
}

/** Gives the domain an RSA-2048 key if it has no active one (domain add). Returns the active key. */
export function ensureDomainKey(db: Db, domain: string): DkimKey {
  return activeKey(db, normalizeDomain(domain)) ?? generateDomainKey(db, domain, { algorithm: 'rsa-2048' });
}

/** New selector with the same algorithm as the active key (or the one given); the old key becomes retiring. */
export function rotateDomainKey(db: Db, domain: string, opts: { selector?: string; algorithm?: DkimAlgorithm } = {}): { active: DkimKey; retiring?: DkimKey } {
  const d = normalizeDomain(domain);
  const old = activeKey(db, d);
  const active = generateDomainKey(db, d, { selector: opts.selector, algorithm: opts.algorithm ?? old?.algorithm ?? 'rsa-2048' });
  return { active, retiring: old ? { ...old, status: 'retiring' } : undefined };
}

/** Removes one (non-active) key, once its DNS record is gone. */
export function removeDomainKey(db: Db, domain: string, selector: string): void {
  const d = normalizeDomain(domain);
  const key = listKeys(db, d).find((k) => k.selector === selector.toLowerCase());
  if (!key) throw new DkimKeyError(`no key with selector "${selector}" for ${d}`);
  if (key.status === 'active') throw new DkimKeyError(`selector "${selector}" is the active key; rotate first`);
  db.prepare('DELETE FROM dkim_keys WHERE id = ?').run(key.id);
}

/** The TXT record's value: `v=DKIM1; k=rsa; p=…` (RFC 6376 §3.6.1, RFC 8463 §4.2). */
export function dnsRecordValue(key: Pick<DkimKey, 'algorithm' | 'publicKey'>): string {
  return `v=DKIM1; k=${key.algorithm === 'ed25519' ? 'ed25519' : 'rsa'}; p=${key.publicKey}`;
}

/** The record's owner name: `<selector>._domainkey.<domain>` (RFC 6376 §3.6.2.1). */
export function dnsRecordName(key: Pick<DkimKey, 'selector' | 'domain'>): string {
  return `${key.selector}._domainkey.${key.domain}`;
}

/** Splits a TXT value into character-strings of at most 255 bytes (RFC 1035 §3.3.14). */
export function splitTxt(value: string, max = 255): string[] {
  const out: string[] = [];
  for (let i = 0; i < value.length; i += max) out.push(value.slice(i, i + max));
  return out.length ? out : [''];
}

/** A zone-file line ready to paste: `name. 3600 IN TXT ( "…" "…" )`. */
export function zoneFileRecord(key: Pick<DkimKey, 'selector' | 'domain' | 'algorithm' | 'publicKey'>, ttl = 3600): string {
  const parts = splitTxt(dnsRecordValue(key)).map((p) => `"${p}"`);
  return parts.length === 1 ? `${dnsRecordName(key)}. ${ttl} IN TXT ${parts[0]}` : `${dnsRecordName(key)}. ${ttl} IN TXT ( ${parts.join('\n    ')} )`;
}
