/**
 * Checking one value against its key's kind (src/config/schema.ts), from the TOML file
 * or from the environment, with a one-line error naming the key, the value and what is
 * allowed.
 */
import { isIP } from 'node:net';
import type { Key, Kind } from './schema.js';
import { ConfigError } from './types.js';

function describe(kind: Kind): string {
  switch (kind.type) {
    case 'string':
      return kind.allowed ? `one of ${kind.allowed.map((a) => `"${a}"`).join(', ')}` : 'a string';
    case 'int':
      return `an integer${kind.min !== undefined ? ` >= ${kind.min}` : ''}${kind.max !== undefined ? ` and <= ${kind.max}` : ''}`;
    case 'number':
      return `a number${kind.min !== undefined ? ` >= ${kind.min}` : ''}${kind.max !== undefined ? ` and <= ${kind.max}` : ''}`;
    case 'bool':
      return 'true or false';
    case 'size':
      return 'a size in bytes, or a number with K, M or G (e.g. "50M")';
    case 'stringList':
      return 'a list of strings';
    case 'networkList':
      return 'a list of addresses or CIDR networks, e.g. ["127.0.0.0/8", "::1"]';
  }
}

function bad(where: string, value: unknown, kind: Kind): ConfigError {
  return new ConfigError(`${where}: invalid value ${JSON.stringify(value)}; allowed: ${describe(kind)}`);
}

/** Parses "50M", "2G", "1024" into bytes; undefined when not a size. */
export function parseSize(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  if (typeof v === 'bigint' && v >= 0n) return Number(v);
  if (typeof v !== 'string') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$/i.exec(v);
  if (!m) return undefined;
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.round(Number(m[1]) * mult);
}

export function validate(key: Key, v: unknown, where: string): unknown {
  const kind = key.kind;
  switch (kind.type) {
    case 'string':
      if (typeof v !== 'string' || (kind.allowed && !kind.allowed.includes(v))) throw bad(where, v, kind);
      return v;
    case 'int': {
      const n = typeof v === 'bigint' ? Number(v) : v;
      if (typeof n !== 'number' || !Number.isInteger(n)) throw bad(where, v, kind);
      if ((kind.min !== undefined && n < kind.min) || (kind.max !== undefined && n > kind.max)) throw bad(where, v, kind);
      return n;
    }
    case 'number': {
      const n = typeof v === 'bigint' ? Number(v) : v;
      if (typeof n !== 'number' || !Number.isFinite(n)) throw bad(where, v, kind);
      if ((kind.min !== undefined && n < kind.min) || (kind.max !== undefined && n > kind.max)) throw bad(where, v, kind);
      return n;
    }
    case 'bool':
      if (typeof v !== 'boolean') throw bad(where, v, kind);
      return v;
    case 'size': {
      const n = parseSize(v);
      if (n === undefined) throw bad(where, v, kind);
      return n;
    }
    case 'stringList':
      if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw bad(where, v, kind);
      return v;
    case 'networkList':
      if (!Array.isArray(v) || !v.every((s) => typeof s === 'string' && isNetwork(s))) throw bad(where, v, kind);
      return v;
  }
}

export function coerceEnv(key: Key, raw: string): unknown {
  const where = `environment ${key.env}`;
  switch (key.kind.type) {
    case 'int':
      if (!/^-?\d+$/.test(raw.trim())) throw bad(where, raw, key.kind);
      return validate(key, Number(raw), where);
    case 'number':
      if (!/^-?\d+(\.\d+)?$/.test(raw.trim())) throw bad(where, raw, key.kind);
      return validate(key, Number(raw), where);
    case 'bool': {
      const b = { true: true, '1': true, yes: true, false: false, '0': false, no: false }[raw.trim().toLowerCase()];
      if (b === undefined) throw bad(where, raw, key.kind);
      return b;
    }
    case 'stringList':
      return raw.split(',').map((s) => s.trim()).filter(Boolean);
    case 'networkList':
      return validate(key, raw.split(',').map((s) => s.trim()).filter(Boolean), where);
    default:
      return validate(key, raw, where);
  }
}

/** "192.0.2.1", "192.0.2.0/24", "2001:db8::/32": an address, or a network with a prefix length in range. */
function isNetwork(s: string): boolean {
  const [addr, bits, extra] = s.trim().split('/');
  const fam = isIP(addr ?? '');
  if (fam === 0 || extra !== undefined) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (fam === 4 ? 32 : 128);
}
