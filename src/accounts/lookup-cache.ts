/**
 * The read cache of the account lookups on the delivery path (domain, account and alias
 * rows, and whole recipient resolutions), explicit about when it may be used and when it
 * is emptied:
 *
 * - Admin writes of this process go through AccountLookup.write (lookup.ts), which
 *   calls clear() after every write, also a failed one; while a transaction is open the
 *   cache is neither read nor filled.
 * - Writes of other processes (the CLI) are noticed through `PRAGMA data_version`, which
 *   moves when another connection commits; it is read at most every VERSION_CHECK_MS
 *   (it showed in profiles at ~4 reads per message), so another process's change is
 *   seen within a few ms.
 * - Everything is dropped after TTL_MS anyway, and when MAX_ENTRIES are held.
 */
import type { Db } from '../db/index.js';

const TTL_MS = 1000;
const VERSION_CHECK_MS = 2;
const MAX_ENTRIES = 10_000;

export class LookupCache {
  private readonly maps = new Set<Map<unknown, unknown>>();
  private readonly dataVersion;
  private versionAt = 0;
  private version = -1;
  private filledAt = 0;
  private size = 0;

  constructor(private readonly db: Db) {
    this.dataVersion = db.prepare('PRAGMA data_version').pluck();
  }

  /** A new keyed part of the cache (cleared with the rest). */
  table<K, V>(): Map<K, V> {
    const m = new Map<K, V>();
    this.maps.add(m as Map<unknown, unknown>);
    return m;
  }

  /** The cached value for `key` in `table`, loading (and keeping) it when absent or when the cache may not be used. */
  get<K, V>(table: Map<K, V>, key: K, load: (k: K) => V): V {
    if (!this.usable()) return load(key);
    if (table.has(key)) return table.get(key) as V;
    const v = load(key);
    table.set(key, v);
    this.size++;
    return v;
  }

  clear(): void {
    for (const m of this.maps) m.clear();
    this.size = 0;
  }

  /** True when the cache may be used (emptied first if the database changed or it is too old). */
  private usable(): boolean {
    if (this.db.inTransaction) return false;
    const now = Date.now();
    if (now - this.versionAt < VERSION_CHECK_MS && now - this.filledAt <= TTL_MS && this.size < MAX_ENTRIES) return true;
    this.versionAt = now;
    const v = this.dataVersion.get() as number;
    if (v !== this.version || now - this.filledAt > TTL_MS || this.size >= MAX_ENTRIES) {
      this.clear();
      this.version = v;
      this.filledAt = now;
    }
    return true;
  }
}
