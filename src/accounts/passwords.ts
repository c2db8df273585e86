/**
 * Password hashing and verification.
 *
 * New hashes: scrypt (RFC 7914) through Node's crypto.scrypt, stored as a Dovecot-style
 * scheme prefix followed by a PHC string (the format passlib and others use for scrypt):
 *
 *     {SCRYPT}$scrypt$ln=14,r=8,p=1$<salt>$<hash>
 *
 * `ln` is log2(N); salt (16 random bytes) and hash (32 bytes) are base64 without padding
 * (PHC "B64"). The parameters travel with the hash, so they can be raised later without
 * invalidating stored hashes. The cost of new hashes is configurable (`auth.scrypt_ln`,
 * `auth.scrypt_r`, `auth.scrypt_p`); the default N=2^14, r=8, p=1 (16 MiB, Percival's
 * "interactive login" setting) verifies in about 40 ms on the 2-core development machine
 * (docs/security.md has the table). A hash made with other parameters than the
 * configured ones is replaced at the next successful login (needsRehash).
 *
 * Verification also accepts hashes imported from Dovecot / docker-mailserver, with or
 * without their `{SCHEME}` prefix:
 *   - `{SHA512-CRYPT}$6$[rounds=N$]salt$hash` and `{SHA256-CRYPT}$5$...`: SHA-crypt as
 *     specified by Ulrich Drepper ("Unix crypt using SHA-256 and SHA-512", 2007),
 *     implemented below; `{CRYPT}` dispatches on the `$id$` the same way.
 *   - `{BLF-CRYPT}$2y$...` and bare `$2a$` / `$2b$` / `$2y$`: bcrypt via bcryptjs.
 *   - `{ARGON2ID}$argon2id$v=19$m=..,t=..,p=..$salt$hash` and `{ARGON2I}`: via hash-wasm.
 *
 * Every scheme recomputes the hash and compares bytes with crypto.timingSafeEqual. An
 * unknown or malformed hash verifies as false; verifyPassword never throws.
 */
import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** scrypt cost: N = 2^ln, block size r, parallelism p (RFC 7914 §2). */
export interface ScryptParams {
  ln: number;
  r: number;
  p: number;
}

/** Parameters for new hashes unless configured otherwise (config auth.scrypt_*). */
export const SCRYPT_PARAMS: Readonly<ScryptParams> = { ln: 14, r: 8, p: 1 };
const SCRYPT_KEYLEN = 32;
const SCRYPT_SALTLEN = 16;
/** Largest scrypt memory we agree to spend on one hash (scryptMemory below). */
export const SCRYPT_MAXMEM = 256 * 1024 * 1024;

/** Memory one scrypt computation takes: 128 · N · r bytes (RFC 7914 §6; p runs one after another). */
export function scryptMemory(params: { ln: number; r: number }): number {
  return 128 * 2 ** params.ln * params.r;
}

function scrypt(password: Buffer, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCb(password, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

const b64 = (b: Buffer): string => b.toString('base64').replace(/=+$/, '');

/** Hashes a new password with scrypt in the format above. */
export async function hashPassword(password: string, params: ScryptParams = SCRYPT_PARAMS): Promise<string> {
  const salt = randomBytes(SCRYPT_SALTLEN);
  const { ln, r, p } = params;
  const key = await scrypt(Buffer.from(password, 'utf8'), salt, SCRYPT_KEYLEN, { N: 2 ** ln, r, p, maxmem: SCRYPT_MAXMEM });
  return `{SCRYPT}$scrypt$ln=${ln},r=${r},p=${p}$${b64(salt)}$${b64(key)}`;
}

/**
 * True when `password` matches `stored`. False for a wrong password, an unknown scheme,
 * or a malformed hash; never throws.
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  try {
    return await verify(password, stored);
  } catch {
    return false;
  }
}

/** True when the stored hash is not in the current scheme and parameters (candidates for rehash). */
export function needsRehash(stored: string, params: ScryptParams = SCRYPT_PARAMS): boolean {
  const { ln, r, p } = params;
  return !stored.startsWith(`{SCRYPT}$scrypt$ln=${ln},r=${r},p=${p}$`);
}

function safeEqual(a: Buffer, b: Buffer): boolean {
  // timingSafeEqual needs equal lengths; the length of a hash is not secret.
  if (a.length !== b.length || a.length === 0) return false;
  return timingSafeEqual(a, b);
}

async function verify(password: string, stored: string): Promise<boolean> {
  let scheme = '';
  let rest = stored.trim();
  const m = /^\{([A-Za-z0-9.-]+)\}/.exec(rest);
  if (m) {
    // Dovecot allows an encoding suffix (".b64", ".hex") on some schemes; none of the
    // crypt-style schemes here use it, so it is dropped.
    scheme = m[1]!.toUpperCase().replace(/\.(B64|BASE64|HEX)$/, '');
    rest = rest.slice(m[0].length);
  }
  if (scheme === '' || scheme === 'CRYPT') scheme = schemeFromCryptId(rest);
  switch (scheme) {
    case 'SCRYPT':
      return verifyScrypt(password, rest);
    case 'SHA512-CRYPT':
      return rest.startsWith('$6$') && safeEqual(Buffer.from(shaCrypt(password, rest, 'sha512')), Buffer.from(rest));
    case 'SHA256-CRYPT':
      return rest.startsWith('$5$') && safeEqual(Buffer.from(shaCrypt(password, rest, 'sha256')), Buffer.from(rest));
    case 'BLF-CRYPT':
      return verifyBcrypt(password, rest);
    case 'ARGON2ID':
    case 'ARGON2I':
      return verifyArgon2(password, rest);
    default:
      return false;
  }
}

function schemeFromCryptId(s: string): string {
  if (s.startsWith('$scrypt$')) return 'SCRYPT';
  if (s.startsWith('$6$')) return 'SHA512-CRYPT';
  if (s.startsWith('$5$')) return 'SHA256-CRYPT';
  if (/^\$2[aby]?\$/.test(s)) return 'BLF-CRYPT';
  if (s.startsWith('$argon2id$')) return 'ARGON2ID';
  if (s.startsWith('$argon2i$')) return 'ARGON2I';
  return '';
}

async function verifyScrypt(password: string, phc: string): Promise<boolean> {
  // $scrypt$ln=14,r=8,p=1$salt$hash
  const parts = phc.split('$');
  if (parts.length !== 5 || parts[0] !== '' || parts[1] !== 'scrypt') return false;
  const params = parseParams(parts[2]!);
  const ln = params.get('ln');
  const r = params.get('r');
  const p = params.get('p');
  if (ln === undefined || r === undefined || p === undefined || ln < 1 || ln > 24 || r < 1 || p < 1) return false;
  const salt = Buffer.from(parts[3]!, 'base64');
  const expected = Buffer.from(parts[4]!, 'base64');
  if (expected.length < 16 || p > 16 || scryptMemory({ ln, r }) > SCRYPT_MAXMEM) return false;
  const key = await scrypt(Buffer.from(password, 'utf8'), salt, expected.length, { N: 2 ** ln, r, p, maxmem: SCRYPT_MAXMEM });
  return safeEqual(key, expected);
}

function parseParams(s: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const kv of s.split(',')) {
    const [k, v] = kv.split('=');
    if (!k || v === undefined || !/^\d{1,10}$/.test(v)) continue;
    out.set(k, Number(v));
  }
  return out;
}

async function verifyBcrypt(password: string, stored: string): Promise<boolean> {
  // $2y$10$<22 chars salt><31 chars hash>. Recompute with the stored salt and compare
  // the whole string in constant time (bcryptjs accepts the 2a, 2b and 2y variants).
  const m = /^\$2([aby]?)\$(\d\d)\$[./A-Za-z0-9]{53}$/.exec(stored);
  if (!m) return false;
  const cost = Number(m[2]);
  if (cost < 4 || cost > 31) return false;
  // Loaded on first use: only imported accounts need it, and the CLI starts faster.
  const { default: bcrypt } = await import('bcryptjs');
  const computed = await bcrypt.hash(password, stored.slice(0, 29));
  return safeEqual(Buffer.from(computed), Buffer.from(stored));
}

async function verifyArgon2(password: string, stored: string): Promise<boolean> {
  // $argon2id$v=19$m=65536,t=3,p=1$<salt b64>$<hash b64>  (PHC string format)
  const parts = stored.split('$');
  if (parts[0] !== '' || (parts[1] !== 'argon2id' && parts[1] !== 'argon2i')) return false;
  let i = 2;
  if (parts[i]?.startsWith('v=')) {
    if (parts[i] !== 'v=19') return false; // hash-wasm implements version 0x13 only
    i++;
  }
  if (parts.length !== i + 3) return false;
  const params = parseParams(parts[i]!);
  const memorySize = params.get('m');
  const iterations = params.get('t');
  const parallelism = params.get('p');
  if (!memorySize || !iterations || !parallelism || memorySize > 1024 * 1024 || iterations > 64) return false;
  const salt = Buffer.from(parts[i + 1]!, 'base64');
  const expected = Buffer.from(parts[i + 2]!, 'base64');
  if (salt.length < 8 || expected.length < 4) return false;
  const { argon2i, argon2id } = await import('hash-wasm'); // on first use, as bcryptjs
  const fn = parts[1] === 'argon2id' ? argon2id : argon2i;
  const computed = await fn({
    password: Buffer.from(password, 'utf8'),
    salt,
    iterations,
    parallelism,
    memorySize,
    hashLength: expected.length,
    outputType: 'binary',
  });
  return safeEqual(Buffer.from(computed), expected);
}

// ---------------------------------------------------------------------------------
// SHA-crypt, after Ulrich Drepper's specification "Unix crypt using SHA-256 and
// SHA-512" (https://www.akkadia.org/drepper/SHA-crypt.txt), the algorithm behind glibc's
// `$5$` and `$6$` and Dovecot's SHA256-CRYPT / SHA512-CRYPT. Step numbers refer to it.

const ROUNDS_DEFAULT = 5000;
const ROUNDS_MIN = 1000;
const ROUNDS_MAX = 999_999_999;
const SALT_MAX = 16;
const CRYPT_B64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Byte order of the final encoding (spec step 22), per algorithm. */
const PERM: Record<'sha256' | 'sha512', { groups: number[][]; tail: [number[], number] }> = {
  sha512: {
    groups: [
      [0, 21, 42], [22, 43, 1], [44, 2, 23], [3, 24, 45], [25, 46, 4], [47, 5, 26], [6, 27, 48],
      [28, 49, 7], [50, 8, 29], [9, 30, 51], [31, 52, 10], [53, 11, 32], [12, 33, 54], [34, 55, 13],
      [56, 14, 35], [15, 36, 57], [37, 58, 16], [59, 17, 38], [18, 39, 60], [40, 61, 19], [62, 20, 41],
    ],
    tail: [[-1, -1, 63], 2],
  },
  sha256: {
    groups: [
      [0, 10, 20], [21, 1, 11], [12, 22, 2], [3, 13, 23], [24, 4, 14],
      [15, 25, 5], [6, 16, 26], [27, 7, 17], [18, 28, 8], [9, 19, 29],
    ],
    tail: [[-1, 31, 30], 3],
  },
};

/**
 * Computes the SHA-crypt string for `password` with the salt (and rounds) taken from
 * `setting` (`$6$salt`, `$6$rounds=N$salt`, or a full hash whose hash part is ignored).
 */
export function shaCrypt(password: string, setting: string, alg: 'sha256' | 'sha512'): string {
  const id = alg === 'sha512' ? '$6$' : '$5$';
  if (!setting.startsWith(id)) throw new Error('not a SHA-crypt setting');
  let rest = setting.slice(3);
  let rounds = ROUNDS_DEFAULT;
  let roundsCustom = false;
  const rm = /^rounds=(\d+)\$/.exec(rest);
  if (rm) {
    // Out-of-range values are clamped, not rejected (spec: "rounds=<N>").
    rounds = Math.min(ROUNDS_MAX, Math.max(ROUNDS_MIN, Number(rm[1])));
    roundsCustom = true;
    rest = rest.slice(rm[0].length);
  }
  const dollar = rest.indexOf('$');
  const saltStr = (dollar >= 0 ? rest.slice(0, dollar) : rest).slice(0, SALT_MAX);
  const key = Buffer.from(password, 'utf8');
  const salt = Buffer.from(saltStr, 'utf8');
  const size = alg === 'sha512' ? 64 : 32;
  const H = () => createHash(alg);

  // Steps 4–8: digest B = H(key salt key).
  const B = H().update(key).update(salt).update(key).digest();
  // Steps 1–3, 9–12: digest A.
  const a = H().update(key).update(salt);
  let n = key.length;
  for (; n > size; n -= size) a.update(B);
  a.update(B.subarray(0, n));
  for (let len = key.length; len > 0; len >>= 1) a.update(len & 1 ? B : key);
  let A = a.digest();
  // Steps 13–16: P = DP repeated to the key length.
  const dp = H();
  for (let i = 0; i < key.length; i++) dp.update(key);
  const P = repeatTo(dp.digest(), key.length);
  // Steps 17–20: S = DS repeated to the salt length; DS hashes the salt 16 + A[0] times.
  const ds = H();
  for (let i = 0; i < 16 + A[0]!; i++) ds.update(salt);
  const S = repeatTo(ds.digest(), salt.length);
  // Step 21: the rounds.
  for (let i = 0; i < rounds; i++) {
    const c = H();
    c.update(i & 1 ? P : A);
    if (i % 3 !== 0) c.update(S);
    if (i % 7 !== 0) c.update(P);
    c.update(i & 1 ? A : P);
    A = c.digest();
  }
  // Step 22: encode.
  let out = '';
  const enc = (b2: number, b1: number, b0: number, chars: number) => {
    let w = (b2 << 16) | (b1 << 8) | b0;
    for (let i = 0; i < chars; i++) {
      out += CRYPT_B64[w & 0x3f];
      w >>= 6;
    }
  };
  const byte = (i: number) => (i < 0 ? 0 : A[i]!);
  const perm = PERM[alg];
  for (const [x, y, z] of perm.groups) enc(byte(x!), byte(y!), byte(z!), 4);
  const [[tx, ty, tz], chars] = perm.tail;
  enc(byte(tx!), byte(ty!), byte(tz!), chars);
  return `${id}${roundsCustom ? `rounds=${rounds}$` : ''}${saltStr}$${out}`;
}

function repeatTo(digest: Buffer, len: number): Buffer {
  const out = Buffer.alloc(len);
  for (let i = 0; i < len; i += digest.length) digest.copy(out, i, 0, Math.min(digest.length, len - i));
  return out;
}
