/** Ascending numbers (UIDs) as inclusive ranges of consecutive values: [1, 2, 3, 7] → [[1, 3], [7, 7]]. */
export function consecutiveRanges(sorted: Iterable<number>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const u of sorted) {
    const last = out[out.length - 1];
    if (last && u === last[1] + 1) last[1] = u;
    else out.push([u, u]);
  }
  return out;
}
