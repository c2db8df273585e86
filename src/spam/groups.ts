/**
 * The delivery side of the spam decision: each local account's target gets its mailbox
 * (Junk or INBOX) and the targets are grouped by their X-Spam-* fields, so that every
 * account's copy carries its own verdict (Sieve and the user read it) while the usual
 * case, one account or accounts that agree, stays one stored message.
 */
import type { DeliveryTarget } from '../store/types.js';
import type { SpamCheckResult } from './index.js';

export function spamGroups(targets: DeliveryTarget[], spam: SpamCheckResult | undefined): Array<{ targets: DeliveryTarget[]; headers: string }> {
  if (!spam || spam.accounts.size === 0) return [{ targets, headers: '' }];
  const groups = new Map<string, DeliveryTarget[]>();
  for (const t of targets) {
    const a = spam.accounts.get(t.account);
    const target = a?.mailbox ? { ...t, mailbox: a.mailbox } : t;
    const key = a?.headers ?? '';
    const g = groups.get(key);
    if (g) g.push(target);
    else groups.set(key, [target]);
  }
  if (groups.size === 0) return [{ targets, headers: '' }];
  return [...groups].map(([headers, ts]) => ({ targets: ts, headers }));
}
