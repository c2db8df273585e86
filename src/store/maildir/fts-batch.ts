/**
 * One batch of the full-text fill (fts-fill.ts): the next messages of a mailbox without
 * a document are read, their text extracted (the TextIndexer) and their documents
 * written, in one short write transaction. It runs on the connection it is given: the
 * fill's worker thread's own (fts-worker.ts), or the account's when the indexer cannot
 * be loaded in a worker.
 *
 * Implementation notes
 * - The files are read and their text extracted before the transaction: the write lock
 *   is held for the inserts alone (BEGIN IMMEDIATE, so a concurrent writer on the other
 *   connection makes this one wait in its busy handler rather than fail on a stale
 *   snapshot), and a delivery committing meanwhile waits milliseconds, not a batch.
 * - A file gone meanwhile (expunged, moved to cur/) is skipped; the next search that
 *   meets it unindexed queues it again. A message the indexer cannot take (too large)
 *   gets an all-NULL document: SEARCH reads it, the fill does not retry it. A row
 *   expunged while its file was read gets no document (the WHERE EXISTS).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { TextIndexer } from '../types.js';
import { q } from './fts.js';
import type { IndexQueries } from './queries.js';

/** Files read at once (each is held in memory while its text is extracted). */
const PARALLEL = 4;
/** Larger messages are not read for the index (SEARCH reads them itself). */
export const MAX_FILL_BYTES = 32 * 1024 * 1024;

/** Which messages a batch takes: those of the mailbox above `after` without a document, `limit` of them at most. */
export interface BatchRequest {
  mailboxId: number;
  /** The mailbox's Maildir directory (cur/ and new/ below it). */
  dir: string;
  after: number;
  limit: number;
}

export interface BatchResult {
  /** The last UID gone through; 0 when the mailbox had nothing left above `after`. */
  last: number;
  /** Documents written. */
  indexed: number;
}

type Doc = NonNullable<ReturnType<TextIndexer>>;
type Row = { uid: number; filename: string; in_new: number; size: number; unanalysed: number };

/** A mailbox's messages without a document (parameters: the mailbox id, after, limit). */
const MISSING = `SELECT uid, filename, in_new, size, envelope IS NULL AS unanalysed FROM messages m WHERE mailbox_id = ? AND NOT EXISTS
  (SELECT 1 FROM fts_docs d WHERE d.mailbox_id = m.mailbox_id AND d.uid = m.uid) AND uid > ? ORDER BY uid LIMIT ?`;

const INSERT = `INSERT OR IGNORE INTO fts_docs (mailbox_id, uid, head, addrs, parts, body)
  SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM messages WHERE mailbox_id = ? AND uid = ?)`;

/** How a batch reads a file: the worker thread reads synchronously (it blocks only itself), the account's connection's fill through the thread pool. */
export type ReadFile = (file: string) => Buffer | Promise<Buffer>;

async function docOf(indexer: TextIndexer, dir: string, r: Row, read: ReadFile): Promise<{ r: Row; doc: Doc | null } | undefined> {
  if (r.size > MAX_FILL_BYTES) return { r, doc: null };
  try {
    return { r, doc: indexer(await read(path.join(dir, r.in_new ? 'new' : 'cur', r.filename))) ?? null };
  } catch {
    return undefined; // gone meanwhile, or unreadable: SEARCH reads it
  }
}

/**
 * Runs one batch on `ix`. `alive` is asked between groups of files and before the write
 * (the account may have closed meanwhile); `stop` between groups after the first (a
 * command came: what was read is written, the rest left to the next batch).
 */
export async function fillBatch(ix: IndexQueries, indexer: TextIndexer, req: BatchRequest, alive: () => boolean, stop?: () => boolean, read: ReadFile = readFile): Promise<BatchResult> {
  const rows = q(ix.db, MISSING).all(req.mailboxId, req.after, req.limit) as Row[];
  if (rows.length === 0) return { last: 0, indexed: 0 };
  const docs: Array<{ r: Row; doc: Doc | null } | undefined> = [];
  for (let i = 0; i < rows.length && alive() && !(i > 0 && stop?.()); i += PARALLEL) {
    docs.push(...(await Promise.all(rows.slice(i, i + PARALLEL).map((r) => docOf(indexer, req.dir, r, read)))));
  }
  if (!alive()) return { last: 0, indexed: 0 };
  let indexed = 0;
  const ins = q(ix.db, INSERT);
  ix.tx(() => {
    for (const d of docs) {
      if (!d) continue;
      const x = d.doc;
      ins.run(req.mailboxId, d.r.uid, x?.head ?? null, x?.addrs ?? null, x?.parts ?? null, x?.body ?? null, req.mailboxId, d.r.uid);
      // The analysis made on the way is cached too: the background analysis (backfill.ts) need not parse it again.
      const an = x?.analysis;
      if (d.r.unanalysed && an?.envelope !== undefined) {
        ix.setAnalysis(req.mailboxId, d.r.uid, JSON.stringify(an.envelope), an.bodyStructure === undefined ? null : JSON.stringify(an.bodyStructure));
      }
      indexed++;
    }
  });
  return { last: rows[docs.length - 1]!.uid, indexed };
}
