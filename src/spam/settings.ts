/**
 * Per-account spam settings: the [spam] config gives the defaults, the table
 * `spam_settings` (migration 70) an account's overrides. Read on every scored message;
 * written by `mailserver spam set` and, later, the web admin's /account page:
 *
 *   getSpamSettings(db, config, account) → the effective settings, and which are overridden
 *   setSpamSettings(db, account, patch)  → changes overrides (null clears one)
 */
import type { Config } from '../config/index.js';
import type { Statement } from 'better-sqlite3';
import type { Db } from '../db/index.js';
import { VERSION_CHECK_MS } from './db.js';

export interface SpamSettings {
  /** Mail to this account is scored. */
  enabled: boolean;
  junkThreshold: number;
  /** 0 = never refuse. */
  rejectThreshold: number;
  greylist: boolean;
}

export interface EffectiveSpamSettings extends SpamSettings {
  /** The keys set for this account (the others are the config's defaults). */
  overridden: Array<keyof SpamSettings>;
}

/** A change: a value sets the override, null removes it (back to the default). */
export type SpamSettingsPatch = { [K in keyof SpamSettings]?: SpamSettings[K] | null };

interface Row {
  enabled: number | null;
  junk_threshold: number | null;
  reject_threshold: number | null;
  greylist: number | null;
}

export class SpamSettingsError extends Error {}

/**
 * Read for every scored message, so kept per database connection: the rows seen (an
 * account without overrides as null), dropped when this process changes a row
 * (setSpamSettings) or another one commits to the database (the CLI: data_version, read
 * at most every VERSION_CHECK_MS).
 */
interface RowCache {
  select: Statement<[string]>;
  version: Statement<[]>;
  seen: number;
  /** When data_version was last read (ms): at most every VERSION_CHECK_MS, as the classifiers do. */
  checkedAt: number;
  rows: Map<string, Row | null>;
}
const caches = new WeakMap<Db, RowCache>();
const MAX_ROWS = 10_000;

function rowOf(db: Db, account: string): Row | undefined {
  let c = caches.get(db);
  if (!c) {
    c = {
      select: db.prepare<[string]>('SELECT enabled, junk_threshold, reject_threshold, greylist FROM spam_settings WHERE account = ?'),
      version: db.prepare<[]>('PRAGMA data_version').pluck(),
      seen: -1,
      checkedAt: 0,
      rows: new Map(),
    };
    caches.set(db, c);
  }
  const now = Date.now();
  if (now - c.checkedAt >= VERSION_CHECK_MS) {
    c.checkedAt = now;
    const v = c.version.get() as number;
    if (v !== c.seen) {
      c.rows.clear();
      c.seen = v;
    }
  }
  let row = c.rows.get(account);
  if (row === undefined) {
    row = (c.select.get(account) as Row | undefined) ?? null;
    if (c.rows.size >= MAX_ROWS) c.rows.clear();
    c.rows.set(account, row);
  }
  return row ?? undefined;
}

export function getSpamSettings(db: Db, config: Pick<Config, 'spam'>, account: string): EffectiveSpamSettings {
  const row = rowOf(db, account);
  const d = config.spam;
  const out: EffectiveSpamSettings = {
    enabled: d.enabled,
    junkThreshold: d.junkThreshold,
    rejectThreshold: d.rejectThreshold,
    greylist: d.greylist,
    overridden: [],
  };
  if (!row) return out;
  if (row.enabled !== null) {
    out.enabled = row.enabled === 1;
    out.overridden.push('enabled');
  }
  if (row.junk_threshold !== null) {
    out.junkThreshold = row.junk_threshold;
    out.overridden.push('junkThreshold');
  }
  if (row.reject_threshold !== null) {
    out.rejectThreshold = row.reject_threshold;
    out.overridden.push('rejectThreshold');
  }
  if (row.greylist !== null) {
    out.greylist = row.greylist === 1;
    out.overridden.push('greylist');
  }
  return out;
}

/** Validates and stores overrides; throws SpamSettingsError with a line for the user. */
export function setSpamSettings(db: Db, account: string, patch: SpamSettingsPatch): void {
  for (const k of ['junkThreshold', 'rejectThreshold'] as const) {
    const v = patch[k];
    if (v !== undefined && v !== null && !(typeof v === 'number' && v >= 0 && v <= 1)) throw new SpamSettingsError(`${k} must be a number from 0 to 1`);
  }
  const cols: Array<[keyof SpamSettings, string]> = [
    ['enabled', 'enabled'],
    ['junkThreshold', 'junk_threshold'],
    ['rejectThreshold', 'reject_threshold'],
    ['greylist', 'greylist'],
  ];
  const sqlValue = (v: unknown) => (typeof v === 'boolean' ? (v ? 1 : 0) : v);
  db.transaction(() => {
    db.prepare('INSERT INTO spam_settings (account, updated_at) VALUES (?, ?) ON CONFLICT (account) DO NOTHING').run(account, Date.now());
    for (const [key, col] of cols) {
      if (patch[key] === undefined) continue;
      db.prepare(`UPDATE spam_settings SET ${col} = ?, updated_at = ? WHERE account = ?`).run(sqlValue(patch[key]), Date.now(), account);
    }
    // A row of nothing but defaults is removed.
    db.prepare('DELETE FROM spam_settings WHERE account = ? AND enabled IS NULL AND junk_threshold IS NULL AND reject_threshold IS NULL AND greylist IS NULL').run(account);
  })();
  caches.get(db)?.rows.delete(account);
}
