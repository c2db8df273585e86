/**
 * SEARCH BODY / TEXT / HEADER from the full-text index (issue 16 item 3; tables in
 * index-db.ts, filled by fts-fill.ts). IMAP's semantics are a case-insensitive
 * substring (RFC 3501 §6.4.4, RFC 9051 §6.4.4), so the index only narrows and the
 * stored decoded text decides:
 * - a needle of 3 characters or more: its trigrams ANDed in the contentless fts table
 *   give candidate documents; instr() over their stored text (a header field: fieldHas
 *   in JS) confirms each one;
 * - a shorter needle: every indexed document of the mailbox is checked the same way;
 * - messages without a usable document (too large to index, a file unreadable when
 *   the fill came) are returned as `unsure`: the caller reads them, so the answer is
 *   right whatever the fill has done.
 * Candidates are checked CHECK_BATCH at a time with a yield between batches, so a
 * costly search (a 2-letter needle over 100 000 messages) does not stall others.
 */
import type Database from 'better-sqlite3';
import { StatementCache } from '../../db/statements.js';
import { docMatches, foldNeedle, trigramQuery } from '../search.js';
import type { TextAnswer, TextTerm, Uid } from '../types.js';
import type { IndexDb } from './index-db.js';

/** Documents checked per statement. */
const CHECK_BATCH = 500;

const statements = new WeakMap<IndexDb, StatementCache>();

/** A cached statement of this module (and fts-fill.ts) on an account's index. */
export function q(db: IndexDb, sql: string): Database.Statement {
  let c = statements.get(db);
  if (!c) {
    statements.set(db, (c = new StatementCache(db)));
    // The header check: the field's own lines, in JS (src/store/search.ts, shared with the memory store).
    db.function('fts_header', { deterministic: true }, (head: unknown, addrs: unknown, field: unknown, needle: unknown) =>
      docMatches({ head: String(head), addrs: String(addrs), parts: '', body: '' }, { where: 'header', field: String(field), value: '' }, String(needle)) ? 1 : 0,
    );
  }
  return c.get(sql);
}

const CHECK: Record<TextTerm['where'], string> = {
  body: 'instr(body, ?) > 0',
  text: '(instr(head, ?) > 0 OR instr(parts, ?) > 0 OR instr(body, ?) > 0)',
  header: 'fts_header(head, addrs, ?, ?)',
};

/** UIDs of the mailbox's messages without an indexed document, ascending. */
export function unindexed(db: IndexDb, mailboxId: number): Uid[] {
  const done = q(db, 'SELECT count(*) FROM fts_docs WHERE mailbox_id = ? AND body IS NOT NULL').pluck().get(mailboxId) as number;
  const all = q(db, 'SELECT messages FROM mailboxes WHERE id = ?').pluck().get(mailboxId) as number | undefined;
  if (all === undefined || done >= all) return [];
  return q(
    db,
    `SELECT uid FROM messages m WHERE mailbox_id = ? AND NOT EXISTS
       (SELECT 1 FROM fts_docs d WHERE d.mailbox_id = m.mailbox_id AND d.uid = m.uid AND d.body IS NOT NULL) ORDER BY uid`,
  )
    .pluck()
    .all(mailboxId) as Uid[];
}

/** Document ids the needle may be in: the trigram index's answer, or every indexed document of the mailbox. */
function candidates(db: IndexDb, mailboxId: number, needle: string): number[] {
  const match = trigramQuery(needle);
  if (match === undefined) return q(db, 'SELECT id FROM fts_docs WHERE mailbox_id = ? AND body IS NOT NULL').pluck().all(mailboxId) as number[];
  return q(db, 'SELECT rowid FROM fts WHERE fts MATCH ?').pluck().all(match) as number[];
}

/**
 * The term's answer over one mailbox. `alive` is asked between batches (the account may
 * close meanwhile: the search then ends with what it has, all of it unsure).
 */
export async function searchText(db: IndexDb, mailboxId: number, term: TextTerm, alive: () => boolean): Promise<TextAnswer> {
  const unsure = unindexed(db, mailboxId);
  const needle = foldNeedle(term.value);
  if (needle === undefined) {
    return { hits: [], unsure: q(db, 'SELECT uid FROM messages WHERE mailbox_id = ? ORDER BY uid').pluck().all(mailboxId) as Uid[] };
  }
  const ids = candidates(db, mailboxId, needle);
  const sql = `SELECT uid FROM fts_docs WHERE id IN (SELECT value FROM json_each(?)) AND mailbox_id = ? AND body IS NOT NULL AND ${CHECK[term.where]}`;
  const args = term.where === 'header' ? [term.field, needle] : term.where === 'text' ? [needle, needle, needle] : [needle];
  const hits: Uid[] = [];
  for (let i = 0; i < ids.length; i += CHECK_BATCH) {
    if (i > 0) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (!alive()) throw new Error('account closed during search');
    }
    const batch = JSON.stringify(ids.slice(i, i + CHECK_BATCH));
    for (const uid of q(db, sql).pluck().all(batch, mailboxId, ...args) as Uid[]) hits.push(uid);
  }
  hits.sort((a, b) => a - b);
  return { hits, unsure };
}
