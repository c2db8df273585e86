/**
 * Configuration: one TOML file (`<data>/config/mailserver.toml`), environment
 * overrides for the container, and defaults that work with no file at all.
 *
 * Precedence, lowest first: built-in defaults → profile (production ports when root,
 * the development profile otherwise) → the TOML file → MAILSERVER_* environment
 * variables → `--dev` (ports and loopback plaintext login only).
 *
 * Every key is declared once in SCHEMA (schema.ts) with its type and allowed values, so a
 * bad value fails at start with the key, the value and what is allowed.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { SCRYPT_MAXMEM, scryptMemory } from '../accounts/passwords.js';
import { defaults, DEV_PORTS } from './defaults.js';
import { SCHEMA } from './schema.js';
import { ConfigError, type Config } from './types.js';
import { coerceEnv, validate } from './validate.js';

export type { Config, LogLevel, Ports, TlsMode } from './types.js';
export { ConfigError } from './types.js';
export { SCHEMA } from './schema.js';
export { DEV_PORTS, PRODUCTION_PORTS, defaults } from './defaults.js';
export { parseSize } from './validate.js';

export interface LoadOptions {
  dataRoot: string;
  /** `serve --dev`: development ports and loopback plaintext login, on top of the file. */
  dev?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Treat the process as root (defaults to the real uid). */
  root?: boolean;
  /** Override the config file path (defaults to <data>/config/mailserver.toml). */
  file?: string;
}

export function configPath(dataRoot: string): string {
  return path.join(dataRoot, 'config', 'mailserver.toml');
}

/** Loads, merges and validates the configuration. Throws ConfigError with one clear line. */
export function loadConfig(opts: LoadOptions): Config {
  const dataRoot = path.resolve(opts.dataRoot);
  const env = opts.env ?? process.env;
  // MAILSERVER_PROFILE=production picks the standard ports without root (a container
  // user with CAP_NET_BIND_SERVICE); =dev the development ones even as root.
  const profile = env.MAILSERVER_PROFILE;
  if (profile !== undefined && profile !== '' && profile !== 'production' && profile !== 'dev') {
    throw new ConfigError(`environment MAILSERVER_PROFILE: invalid value ${JSON.stringify(profile)}; allowed: one of "production", "dev"`);
  }
  const root = profile === 'production' ? true : profile === 'dev' ? false : (opts.root ?? (typeof process.getuid === 'function' && process.getuid() === 0));
  const cfg = defaults(dataRoot, root);

  const file = opts.file ?? configPath(dataRoot);
  if (existsSync(file)) {
    let doc: Record<string, unknown>;
    try {
      doc = parseToml(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError(`${file}: ${(err as Error).message.split('\n')[0]}`);
    }
    applyToml(cfg, doc, file);
  }
  for (const key of SCHEMA) {
    if (!key.env) continue;
    const raw = env[key.env];
    if (raw === undefined || raw === '') continue;
    setProp(cfg, key.prop, coerceEnv(key, raw));
  }
  if (opts.dev) {
    cfg.dev = true;
    cfg.ports = { ...DEV_PORTS };
    cfg.auth.allowPlaintextOnLoopback = true;
  }
  if (cfg.tls.mode === 'manual' && (!cfg.tls.certFile || !cfg.tls.keyFile)) {
    throw new ConfigError('tls.mode = "manual" needs tls.cert_file and tls.key_file');
  }
  if (scryptMemory({ ln: cfg.auth.scryptLn, r: cfg.auth.scryptR }) > SCRYPT_MAXMEM) {
    throw new ConfigError(`auth.scrypt_ln = ${cfg.auth.scryptLn} with auth.scrypt_r = ${cfg.auth.scryptR} needs more than ${SCRYPT_MAXMEM / 1048576} MiB per hash; lower one of them`);
  }
  if (cfg.tls.mode === 'acme' && cfg.ports.http < 0) {
    throw new ConfigError('tls.mode = "acme" needs the HTTP listener (listen.http) for http-01 challenges');
  }
  return cfg;
}

function applyToml(cfg: Config, doc: Record<string, unknown>, file: string): void {
  const known = new Map(SCHEMA.map((k) => [k.toml, k]));
  const walk = (obj: Record<string, unknown>, prefix: string) => {
    for (const [k, v] of Object.entries(obj)) {
      const dotted = prefix ? `${prefix}.${k}` : k;
      const key = known.get(dotted);
      if (key) {
        setProp(cfg, key.prop, validate(key, v, `${file}: ${dotted}`));
      } else if (v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date)) {
        walk(v as Record<string, unknown>, dotted);
      } else {
        throw new ConfigError(`${file}: unknown key "${dotted}"`);
      }
    }
  };
  walk(doc, '');
}

function setProp(obj: object, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let cur = obj as Record<string, unknown>;
  for (const p of parts.slice(0, -1)) cur = cur[p] as Record<string, unknown>;
  cur[parts[parts.length - 1]!] = value;
}

/** The data root from `--data`, then MAILSERVER_DATA, then the current directory. */
export function resolveDataRoot(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(flag ?? env.MAILSERVER_DATA ?? process.cwd());
}
