/** Small output helpers shared by the commands: aligned tables and sizes. */

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
