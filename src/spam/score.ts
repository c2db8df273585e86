/**
 * One message scored for its accounts: what the port 25 check asks of the scoring thread
 * (./score-thread.ts runs it in ./score-worker.ts, off the server's event loop). Pure
 * work on the message and the classifier databases: the header parsed, decoded and
 * tokenised as far as needed (./message.ts), the sender's identities, each account's
 * counts and reputation rows (./classifier.ts), the decision and its X-Spam-* fields
 * (./decide.ts). What needs the server (settings and greylisting in mailserver.db, the
 * Junk mailbox's name, Rspamd) stays with the caller (./index.ts).
 */
import type { Classifiers } from './classifier.js';
import { decide, spamHeaders, type Decision } from './decide.js';
import { inboundIdentities, scan, type ScannedMessage } from './message.js';
import { identityKeys, judge, type Identities, type Reputation } from './reputation.js';
import type { RspamdResult } from './rspamd.js';
import type { SpamSettings } from './settings.js';

export interface ScoreRequest {
  /** At most max_scan_size bytes of the message. */
  bytes: Uint8Array;
  truncated: boolean;
  hostname: string;
  remoteAddress: string;
  /** The inbound policy's trace fields (Authentication-Results …), as prepended. */
  authHeaders: string;
  policyJunk?: string;
  minTrained: number;
  rspamd?: RspamdResult | { error: string };
  /** The accounts to score, with their settings. */
  accounts: Array<{ account: string; settings: SpamSettings }>;
}

export interface AccountScore {
  account: string;
  action: Decision['action'];
  score: number;
  /** The first reason (the 550 text quotes it). */
  reason?: string;
  /** The X-Spam-* fields to prepend (CRLF-terminated). */
  headers: string;
  /** A known correspondent, or good DKIM history: greylisting lets it through. */
  vouched: boolean;
}

export interface ScoreResult {
  accounts: AccountScore[];
  /** The client's network as reputation keys it (greylisting's triplet), when identities were read. */
  ip?: string;
  /** How far the message was read: the header only, decoded, or tokenised too. */
  depth: ScannedMessage['depth'];
}

export function scoreMessage(classifiers: Classifiers, req: ScoreRequest): ScoreResult {
  const bytes = Buffer.isBuffer(req.bytes) ? req.bytes : Buffer.from(req.bytes.buffer, req.bytes.byteOffset, req.bytes.byteLength);
  const m = scan(bytes, req.truncated, req.hostname);
  // The sender's identities are read only for an account that has reputation rows to
  // look them up in, or for greylisting: never for accounts that were never trained.
  let id: Identities | undefined;
  const ids = (): Identities => (id ??= inboundIdentities(m.fields, req.authHeaders, req.hostname, req.remoteAddress));
  const accounts: AccountScore[] = [];
  for (const { account, settings } of req.accounts) {
    const hasDb = classifiers.handle(account) !== undefined;
    const assessed = classifiers.assess(account, () => m.tokens, hasDb ? identityKeys(ids()) : [], req.minTrained);
    const reputation: Reputation = hasDb ? judge(assessed.reputation, ids()) : { clues: [] };
    const d = decide({ gtube: m.gtube, bayes: assessed.bayes, reputation, rspamd: req.rspamd, policyJunk: req.policyJunk }, settings, req.minTrained);
    const vouched = reputation.known !== undefined || (reputation.clues.some((c) => c.name.startsWith('dkim ') && c.p < 0.5) && ids().dkim.length > 0);
    accounts.push({ account, action: d.action, score: d.score, reason: d.reasons[0], headers: spamHeaders(d, settings), vouched });
  }
  const greylist = req.accounts.some((a) => a.settings.greylist);
  return { accounts, ip: greylist ? ids().ip : undefined, depth: m.depth };
}
