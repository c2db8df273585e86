/**
 * Per-account spam settings: the [spam] config gives the defaults, the table
 * `spam_settings` (migration 70) an account's overrides. Read on every scored message;
 * written by `mailserver spam set` and, later, the web admin's /account page:
 *
 *   getSpamSettings(db, config, account) → the effective settings, and which are overridden
 *   setSpamSettings(db, account, patch)  → changes overrides (null clears one)
 */
import type { Config } from '../config/index.js';
import type { Db } from '../db/index.js';

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

export function getSpamSettings(db: Db, config: Pick<Config, 'spam'>, account: string): EffectiveSpamSettings {
  const row = db.prepare('SELECT enabled, junk_threshold, reject_threshold, greylist FROM spam_settings WHERE account = ?').get(account) as Row | undefined;
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
}
