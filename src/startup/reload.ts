/**
 * SIGHUP: the config read again and applied to the running server where that is safe.
 */
import { loadConfig, type Config } from '../config/index.js';
import type { Logger, ServerLog } from '../log.js';

export interface ReloadResult {
  applied: string[];
  needsRestart: string[];
  error?: string;
}

/** Config sections read afresh by every connection, message or queue run. */
const HOT_SECTIONS = ['auth', 'checks', 'submission', 'queue', 'log', 'quota', 'sieve', 'metrics', 'admin', 'spam'] as const;

/**
 * Reads the config file again. A bad file is reported and the running config kept.
 * Hot sections are replaced in place (every module holds the same config object); the
 * others are named in `needsRestart`.
 */
export function reloadConfig(config: Config, dev: boolean | undefined, log: Logger, logs: ServerLog | undefined): ReloadResult {
  let fresh: Config;
  try {
    fresh = loadConfig({ dataRoot: config.dataRoot, dev });
  } catch (err) {
    log.error({ err: (err as Error).message }, 'config reload failed; keeping the running config');
    return { applied: [], needsRestart: [], error: (err as Error).message };
  }
  const result: ReloadResult = { applied: [], needsRestart: [] };
  const cur = config as unknown as Record<string, unknown>;
  const next = fresh as unknown as Record<string, unknown>;
  for (const key of Object.keys(next)) {
    if (key === 'dev' || JSON.stringify(cur[key]) === JSON.stringify(next[key])) continue;
    if ((HOT_SECTIONS as readonly string[]).includes(key)) {
      Object.assign(cur[key] as object, next[key]);
      result.applied.push(key);
    } else {
      result.needsRestart.push(key);
    }
  }
  if (result.applied.includes('log')) log.level = config.log.level;
  // logrotate moved the file: write to a new one under the configured name.
  logs?.reopen();
  log.info(result, 'config reloaded');
  return result;
}
