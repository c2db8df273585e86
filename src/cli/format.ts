/** Small output helpers shared by the commands: aligned tables, sizes and times. */

/** Left-aligned columns separated by two spaces; the first row is the header. */
export function table(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd());
}

/** 2147483648 → "2G"; null → "-" (unlimited). */
export function formatSize(n: number | null): string {
  if (n === null) return '-';
  for (const [unit, mult] of [['T', 1024 ** 4], ['G', 1024 ** 3], ['M', 1024 ** 2], ['K', 1024]] as const) {
    if (n >= mult && n % mult === 0) return `${n / mult}${unit}`;
  }
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)}M`;
  return String(n);
}

/** A time as ISO 8601 and relative to now: "2024-05-01T10:00:00Z (in 5m)"; "-" when absent. */
export function when(d: Date | undefined, now = Date.now()): string {
  if (!d) return '-';
  const s = Math.round((d.getTime() - now) / 1000);
  const abs = Math.abs(s);
  const rel = abs < 90 ? `${abs}s` : abs < 5400 ? `${Math.round(abs / 60)}m` : abs < 172_800 ? `${Math.round(abs / 3600)}h` : `${Math.round(abs / 86_400)}d`;
  return `${d.toISOString().replace(/\.\d+Z$/, 'Z')} (${s >= 0 ? `in ${rel}` : `${rel} ago`})`;
}

/** 1288490 → "1.2M": a measured size, rounded to one decimal. */
export function formatUsage(n: number): string {
  if (n < 1024) return String(n);
  for (const [unit, mult] of [['T', 1024 ** 4], ['G', 1024 ** 3], ['M', 1024 ** 2], ['K', 1024]] as const) {
    if (n >= mult) return `${(n / mult).toFixed(1).replace(/\.0$/, '')}${unit}`;
  }
  return String(n);
}
