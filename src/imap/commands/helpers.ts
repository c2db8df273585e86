/**
 * Small helpers shared by command modules: the account and view of the current state,
 * mailbox-name checks done before the store sees a name, sleep.
 */
import type { AccountId } from '../../store/types.js';
import { ImapBad, ImapNo } from '../errors.js';
import type { SelectedView } from '../session.js';
import type { CommandContext } from './types.js';

export function accountOf(c: CommandContext): AccountId {
  const s = c.conn.state;
  if (s.name === 'authenticated' || s.name === 'selected') return s.account;
  throw new ImapBad('Not authenticated');
}

export function viewOf(c: CommandContext): SelectedView {
  const s = c.conn.state;
  if (s.name === 'selected') return s.view;
  throw new ImapBad('No mailbox selected');
}

export const MAX_NAME_LENGTH = 512;

/**
 * Refuses names that could reach outside the account or confuse Maildir++: empty
 * segments ("/a", "a//b"), "." and ".." segments, "~" at a segment start, control
 * characters and NUL, and very long names (STYLE.md: never escape the account).
 * The store validates again; this gives the client a clear NO [CANNOT] early.
 */
export function checkMailboxName(name: string): void {
  if (name.length === 0) throw new ImapNo('Empty mailbox name', 'CANNOT');
  if (Buffer.byteLength(name) > MAX_NAME_LENGTH) throw new ImapNo('Mailbox name too long', 'CANNOT');
  if (/[\x00-\x1f\x7f]/.test(name)) throw new ImapNo('Control characters not allowed in mailbox names', 'CANNOT');
  for (const seg of name.split('/')) {
    if (seg === '') throw new ImapNo('Empty hierarchy level in mailbox name', 'CANNOT');
    if (seg === '.' || seg === '..') throw new ImapNo('"." and ".." are not allowed as mailbox names', 'CANNOT');
    if (seg.startsWith('~')) throw new ImapNo('Names may not start with "~"', 'CANNOT');
    if (seg.includes('\\')) throw new ImapNo('Backslash not allowed in mailbox names', 'CANNOT');
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Compact sequence set text for a sorted list of numbers ("1:3,5"). */
export function compactSet(nums: readonly number[]): string {
  const out: string[] = [];
  let i = 0;
  while (i < nums.length) {
    let j = i;
    while (j + 1 < nums.length && nums[j + 1] === nums[j]! + 1) j++;
    out.push(j > i ? `${nums[i]}:${nums[j]}` : `${nums[i]}`);
    i = j + 1;
  }
  return out.join(',');
}
