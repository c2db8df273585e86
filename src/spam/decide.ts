/**
 * From the evidence on one message for one account to a decision and its headers.
 *
 * The score (0 ham … 1 spam):
 *   1. the classifier's clues (when the account, with the shared base, has at least
 *      `min_trained` ham and spam), and the reputation clues of the sender's domains
 *      and network, combined by chi-squared (./bayes.ts);
 *   2. GTUBE anywhere in the message → 1 (always spam, SpamAssassin's test string);
 *   3. Rspamd's action raises it: "add header"/"rewrite subject" to the junk threshold,
 *      "reject" to the reject threshold;
 *   4. a verdict from the user's own history: a verified sender they junked again and
 *      again → at least the junk threshold; a known correspondent → below it (content,
 *      ours or Rspamd's, never puts their mail in Junk; GTUBE still does).
 * The action: refuse at end of DATA at or above `reject_threshold` (0 = never) when the
 * evidence is firm (GTUBE, Rspamd's reject, or a classifier trained on REJECT_MIN_TRAINED
 * of each); Junk at or above `junk_threshold` or when the inbound policy said so (DMARC
 * quarantine); else INBOX.
 */
import { combine, type Clue, type Totals } from './bayes.js';
import type { Reputation } from './reputation.js';
import type { RspamdResult } from './rspamd.js';
import type { SpamSettings } from './settings.js';

export const GTUBE = 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X';

/** A classifier refuses mail by content only once trained on this many ham and spam. */
export const REJECT_MIN_TRAINED = 500;

export interface Evidence {
  gtube: boolean;
  /** The classifier's clues, its score (their combining, ./bayes.ts classifyCounts), and the totals it was trained on (account + base). */
  bayes: { score: number; clues: Clue[]; totals: Totals };
  reputation: Reputation;
  /** Rspamd's answer, or why there is none (undefined: not configured). */
  rspamd?: RspamdResult | { error: string };
  /** The inbound policy already files it to Junk (e.g. "dmarc-quarantine"). */
  policyJunk?: string;
}

export interface Decision {
  score: number;
  action: 'inbox' | 'junk' | 'reject';
  /** Which kinds of evidence counted: BAYES, REPUTATION, KNOWN_SENDER, RSPAMD, GTUBE, POLICY. */
  tests: string[];
  /** Human-readable, most important first. */
  reasons: string[];
}

/** The classifier's clues count (and are worth computing) once it has `minTrained` ham and spam. */
export function isTrained(totals: Totals, minTrained: number): boolean {
  return totals.nham >= minTrained && totals.nspam >= minTrained;
}

export function decide(e: Evidence, s: SpamSettings, minTrained: number): Decision {
  const tests: string[] = [];
  const reasons: string[] = [];
  const { totals } = e.bayes;
  const trained = isTrained(totals, minTrained);
  const ps: number[] = [];
  // The classifier's score is the combining of its clues: done again only with reputation clues beside them.
  const alone = trained && e.reputation.clues.length === 0;
  if (trained) {
    tests.push('BAYES');
    if (!alone) for (const c of e.bayes.clues) ps.push(c.p);
    reasons.push(`bayes ${e.bayes.score.toFixed(3)} (trained ${totals.nham} ham, ${totals.nspam} spam): ${topClues(e.bayes.clues, e.bayes.score)}`);
  } else {
    reasons.push(`bayes not used: trained ${totals.nham} ham, ${totals.nspam} spam (needs ${minTrained} of each)`);
  }
  for (const c of e.reputation.clues) {
    for (let i = 0; i < c.weight; i++) ps.push(c.p);
    reasons.push(`reputation ${c.name}`);
  }
  if (e.reputation.clues.length) tests.push('REPUTATION');
  let score = alone ? e.bayes.score : ps.length > 0 ? combine(ps) : 0.5;
  const junkAt = s.junkThreshold;
  const rejectAt = s.rejectThreshold > 0 ? s.rejectThreshold : Infinity;
  let firm = trained && totals.nham >= REJECT_MIN_TRAINED && totals.nspam >= REJECT_MIN_TRAINED;

  const r = e.rspamd;
  if (r && 'error' in r) reasons.push(`rspamd unavailable (${r.error}): built-in classifier only`);
  else if (r) {
    tests.push('RSPAMD');
    reasons.push(`rspamd ${r.action} ${r.score.toFixed(2)}/${r.required.toFixed(2)}${r.symbols.length ? `: ${r.symbols.slice(0, 6).map((x) => `${x.name} ${x.score.toFixed(2)}`).join(', ')}` : ''}`);
    if (r.action === 'reject') {
      score = Math.max(score, Math.min(1, rejectAt));
      firm = true;
    } else if (r.action === 'add header' || r.action === 'rewrite subject') score = Math.max(score, junkAt);
  }
  if (e.reputation.bad) {
    tests.push('JUNKED_SENDER');
    reasons.unshift(`junked sender: ${e.reputation.bad}`);
    score = Math.max(score, junkAt);
  } else if (e.reputation.known) {
    tests.push('KNOWN_SENDER');
    reasons.unshift(`known sender: ${e.reputation.known}`);
    if (score >= junkAt) score = Math.max(0, junkAt - 0.001);
    firm = false;
  }
  if (e.gtube) {
    tests.unshift('GTUBE');
    reasons.unshift('GTUBE test string');
    score = 1;
    firm = true;
  }
  if (e.policyJunk) {
    tests.push('POLICY');
    reasons.push(`inbound policy: ${e.policyJunk}`);
  }
  let action: Decision['action'] = 'inbox';
  if (score >= rejectAt && firm) action = 'reject';
  else if (score >= junkAt || e.policyJunk) action = 'junk';
  return { score, action, tests, reasons };
}

/** The 5 clues that pulled hardest the way the score went. */
function topClues(clues: Clue[], score: number): string {
  const spammy = score >= 0.5;
  const picked = clues.filter((c) => (spammy ? c.p > 0.5 : c.p < 0.5)).slice(0, 5);
  if (picked.length === 0) return 'no strong tokens';
  return picked.map((c) => `${quoteToken(c.token)} ${c.p.toFixed(2)}`).join(', ');
}

/** A token as a word of an unstructured header: ASCII as "…", other text as an RFC 2047 encoded-word. */
function quoteToken(t: string): string {
  const clean = t.replace(/[\x00-\x1f\x7f"\\]/g, '?');
  if (/^[\x20-\x7e]*$/.test(clean)) return `"${clean.replace(/=\?/g, '=_?')}"`;
  // RFC 2047 §5(1): an encoded-word stands alone as a word of unstructured text.
  return `=?UTF-8?B?${Buffer.from(clean, 'utf8').toString('base64')}?=`;
}

/**
 * X-Spam-Status (SpamAssassin's form: "Yes, score=… required=… tests=…"), X-Spam-Score and
 * X-Spam-Reasons, folded (RFC 5322 §2.2.3), CRLF-terminated.
 */
export function spamHeaders(d: Decision, s: SpamSettings): string {
  const yes = d.action !== 'inbox';
  const status = `X-Spam-Status: ${yes ? 'Yes' : 'No'}, score=${d.score.toFixed(3)} required=${s.junkThreshold.toFixed(3)}\r\n\ttests=${d.tests.join(',') || 'none'}\r\n`;
  const score = `X-Spam-Score: ${d.score.toFixed(3)}\r\n`;
  return status + score + fold('X-Spam-Reasons:', d.reasons.join('; '));
}

/** Folds an unstructured field at spaces to lines of at most 78 characters where possible. */
export function fold(name: string, value: string): string {
  const words = value.replace(/[\r\n]+/g, ' ').split(' ');
  const lines: string[] = [];
  let line = name;
  for (const w of words) {
    if (w === '') continue;
    if (line.length + 1 + w.length > 78 && line.trim() !== name) {
      lines.push(line);
      line = '\t' + w;
    } else line += ' ' + w;
    // RFC 5322 §2.1.1: a line must never exceed 998 characters.
    while (line.length > 900) {
      lines.push(line.slice(0, 900));
      line = '\t' + line.slice(900);
    }
  }
  lines.push(line);
  return lines.join('\r\n') + '\r\n';
}

/** Our X-Spam-Status at the top of a stored message: what the filter said at delivery. */
export function deliveredVerdict(fields: Array<{ name: string; value: string; hasColon: boolean }>): { verdict: 'spam' | 'ham'; score: number } | undefined {
  const f = fields.find((x) => x.hasColon && x.name.toLowerCase() === 'x-spam-status');
  if (!f) return undefined;
  const m = /^\s*(yes|no)\b.*?\bscore=(-?[\d.]+)/is.exec(f.value);
  if (!m) return undefined;
  return { verdict: m[1]!.toLowerCase() === 'yes' ? 'spam' : 'ham', score: Number(m[2]) };
}

const OURS = /^x-spam-(status|score|reasons|flag|level)[ \t]*:/i;

/**
 * Removes the X-Spam-* fields a sender (or an earlier filter) wrote, so the first
 * X-Spam-Status of a stored message is always ours (the accuracy of `spam status` reads
 * it, and so may the user's Sieve rules). Other bytes are kept as they are.
 */
export function stripSpamFields(header: Buffer): Buffer {
  const text = header.toString('latin1');
  if (!/(^|\n)x-spam-/i.test(text)) return header;
  const lines = text.split(/(?<=\n)/);
  const out: string[] = [];
  let dropping = false;
  for (const line of lines) {
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (!dropping) out.push(line);
      continue;
    }
    dropping = OURS.test(line);
    if (!dropping) out.push(line);
  }
  return Buffer.from(out.join(''), 'latin1');
}
