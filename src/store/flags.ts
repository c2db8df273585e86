/**
 * IMAP flags as every store keeps them: the system flags (and $Forwarded, which Maildir
 * keeps as a system flag too) as a bit mask, other keywords as a list in the order they
 * were added, first spelling kept, compared without case. The STORE operations
 * (RFC 9051 §6.4.6) on that form.
 */
import type { FlagOp } from './types.js';

export const FLAG_SEEN = 1;
export const FLAG_ANSWERED = 2;
export const FLAG_FLAGGED = 4;
export const FLAG_DELETED = 8;
export const FLAG_DRAFT = 16;
/** Maildir "P" (passed); exposed as the keyword $Forwarded (RFC 5788 registry). */
export const FLAG_FORWARDED = 32;

const NAMES: ReadonlyArray<readonly [string, number]> = [
  ['\\Seen', FLAG_SEEN],
  ['\\Answered', FLAG_ANSWERED],
  ['\\Flagged', FLAG_FLAGGED],
  ['\\Deleted', FLAG_DELETED],
  ['\\Draft', FLAG_DRAFT],
  ['$Forwarded', FLAG_FORWARDED],
];
const NAME_BITS = new Map(NAMES.map(([n, b]) => [n.toLowerCase(), b]));

/**
 * Splits IMAP-style flags into the system bit mask and keywords (case-insensitively
 * de-duplicated, first spelling kept). Unknown backslash flags (and \Recent) are dropped.
 */
export function parseFlags(flags: readonly string[]): { bits: number; keywords: string[] } {
  let bits = 0;
  const keywords: string[] = [];
  const seen = new Set<string>();
  for (const f of flags) {
    const lower = f.toLowerCase();
    const b = NAME_BITS.get(lower);
    if (b !== undefined) bits |= b;
    else if (f.startsWith('\\') || f === '') continue;
    else if (!seen.has(lower)) {
      seen.add(lower);
      keywords.push(f);
    }
  }
  return { bits, keywords };
}

export function flagList(bits: number, keywords: readonly string[]): string[] {
  const out: string[] = [];
  for (const [n, b] of NAMES) if (bits & b) out.push(n);
  return out.concat(keywords);
}

/** The system flags and keywords after applying a STORE operation to one message's. */
export function applyFlagOp(op: FlagOp, bits: number, keywords: string[], oldBits: number, oldKw: string[]): { bits: number; kw: string[] } {
  if (op === 'set') return { bits, kw: keywords };
  if (op === 'add') {
    const have = new Set(oldKw.map((k) => k.toLowerCase()));
    return { bits: oldBits | bits, kw: oldKw.concat(keywords.filter((k) => !have.has(k.toLowerCase()))) };
  }
  const drop = new Set(keywords.map((k) => k.toLowerCase()));
  return { bits: oldBits & ~bits, kw: oldKw.filter((k) => !drop.has(k.toLowerCase())) };
}
