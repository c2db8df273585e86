/**
 * What `mailserver spam status` (and later the admin's /account page) shows of an
 * account's filter: what it was trained on, how big its database is, and how often its
 * verdict at delivery matched the user's over their last judgements (moves to and from
 * Junk, $Junk/$NotJunk, replies, mail kept or filed).
 */
import { statSync } from 'node:fs';
import { accountDbPath } from './classifier.js';
import { SpamDb, type Judgement } from './db.js';

export interface AccountSpamStatus {
  trained: { ham: number; spam: number; implicitHam: number };
  /** Totals as the classifier counts them (imports included). */
  totals: { nham: number; nspam: number };
  tokens: number;
  /** Bytes of spam.sqlite and its WAL. */
  dbBytes: number;
  /** Over the last `window` judgements whose message carried our verdict. */
  accuracy: { window: number; judged: number; agreed: number; percent: number | null; missedSpam: number; wronglyJunked: number };
  recent: Judgement[];
}

export function accountStatus(dataRoot: string, account: string, window = 100): AccountSpamStatus | undefined {
  const file = accountDbPath(dataRoot, account);
  let db: SpamDb;
  try {
    db = new SpamDb(file);
  } catch {
    return undefined;
  }
  try {
    const size = (f: string) => {
      try {
        return statSync(f).size;
      } catch {
        return 0;
      }
    };
    const recent = db.judgements(window);
    const judged = recent.filter((j) => j.filter !== undefined);
    const agreed = judged.filter((j) => j.filter === j.user).length;
    return {
      trained: db.trainedCounts(),
      totals: db.totals(),
      tokens: db.stats().tokens,
      dbBytes: size(file) + size(`${file}-wal`),
      accuracy: {
        window,
        judged: judged.length,
        agreed,
        percent: judged.length ? (100 * agreed) / judged.length : null,
        missedSpam: judged.filter((j) => j.user === 'spam' && j.filter === 'ham').length,
        wronglyJunked: judged.filter((j) => j.user === 'ham' && j.filter === 'spam').length,
      },
      recent: recent.slice(0, 10),
    };
  } finally {
    db.close();
  }
}
