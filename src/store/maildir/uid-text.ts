/**
 * UIDs read from the index as one text: `SELECT group_concat(uid) FROM (... ORDER BY
 * uid)` builds "1,2,5" in SQLite, and one pass here turns it into numbers. On the
 * 100 000 UIDs of a SELECT that is half the time of a row per UID through the driver,
 * which builds a value per row.
 */

/**
 * The numbers of a group_concat of UIDs, ascending. The subquery's order is kept by
 * group_concat in practice, not by promise (an aggregate ORDER BY costs a temporary
 * B-tree): checked while parsing, and sorted when it was not.
 */
export function uidsOfText(text: unknown): number[] {
  const out: number[] = [];
  if (typeof text !== 'string' || text.length === 0) return out;
  let v = 0;
  let ordered = true;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 44;
    if (c !== 44) {
      v = v * 10 + (c - 48);
      continue;
    }
    if (out.length > 0 && v <= out[out.length - 1]!) ordered = false;
    out.push(v);
    v = 0;
  }
  return ordered ? out : Array.from(Uint32Array.from(out).sort());
}
