// search-return-opts = SP "RETURN" SP "(" [search-return-opt *(SP search-return-opt)] ")"   (RFC 4466 §2.6)
// search-return-opt =/ modifier-context / modifier-partial / modifier-update                 (RFC 5267 §5)
// modifier-partial = "PARTIAL" SP partial-range;  partial-range = nz-number ":" nz-number
// One parser for SEARCH (RFC 4731, RFC 5182 SAVE) and SORT (RFC 5267 §3).
import { ImapBad } from '../../errors.js';
import type { Parser } from '../../wire/parser.js';

export interface ReturnOpts {
  /** Upper-case option names; CONTEXT is a hint and is not kept (RFC 5267 §4.2). */
  opts: Set<string>;
  /** PARTIAL lo:hi, positions in the result, lo <= hi (RFC 5267 §4.4: "500:400 is the same as 400:500"). */
  partial?: [number, number];
}

export const SEARCH_RETURN = new Set(['MIN', 'MAX', 'COUNT', 'ALL', 'SAVE', 'UPDATE', 'PARTIAL', 'CONTEXT']);
export const SORT_RETURN = new Set(['MIN', 'MAX', 'COUNT', 'ALL', 'UPDATE', 'PARTIAL', 'CONTEXT']);

/** Parses the "(...)" after RETURN. */
export function parseReturn(p: Parser, allowed: ReadonlySet<string>): ReturnOpts {
  const r: ReturnOpts = { opts: new Set() };
  p.parenList(() => {
    const o = p.atom().toUpperCase();
    if (!allowed.has(o)) throw new ImapBad(`Unknown RETURN option ${o}`);
    if (o === 'PARTIAL') {
      if (r.partial) throw new ImapBad('PARTIAL given twice');
      p.sp();
      const m = /^(\d{1,10}):(\d{1,10})$/.exec(p.atom());
      const [a, b] = m ? [Number(m[1]), Number(m[2])] : [0, 0];
      if (a < 1 || b < 1 || a > 0xffffffff || b > 0xffffffff) throw new ImapBad('Invalid PARTIAL range');
      r.partial = [Math.min(a, b), Math.max(a, b)];
    }
    if (o !== 'CONTEXT') r.opts.add(o);
  });
  // RFC 5267 §4.4: "either one PARTIAL, one ALL, or neither PARTIAL nor ALL is allowed".
  if (r.partial && r.opts.has('ALL')) throw new ImapBad('PARTIAL and ALL may not be combined');
  // RFC 4731 §3.1: "RETURN ()" means ALL (a lone CONTEXT hint too).
  if (r.opts.size === 0) r.opts.add('ALL');
  return r;
}

/** `PARTIAL (lo:hi set)` of a result in the order it is reported, NIL when nothing is in the range (RFC 5267 §4.4). */
export function partialData(range: [number, number], nums: readonly number[], compact: (n: readonly number[]) => string): string {
  const [lo, hi] = range;
  const part = nums.slice(lo - 1, hi);
  return ` PARTIAL (${lo}:${hi} ${part.length > 0 ? compact(part) : 'NIL'})`;
}
