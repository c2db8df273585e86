/**
 * The per-account SQLite index (`<account>/index.sqlite`): mailboxes, messages and
 * usage counters. It is a cache of what the Maildir files say plus the few things
 * files cannot hold (keywords, modseqs, cached envelope/body structure, subscriptions);
 * `reindex` rebuilds it from the files (UIDs from `,U=`, UIDVALIDITY from each folder's
 * `mailserver-uidvalidity`). Every statement run against it is in ./queries.ts.
 *
 * Counters (messages, unseen, recent, size per mailbox; bytes and messages per account)
 * are kept by triggers for every delete and update of a message row, so those code paths
 * keep them exact without doing their own arithmetic. Rows are inserted in two places
 * only (queries.ts insertMessage and bulkInsert), which add to the counters themselves.
 *
 * Subscriptions are names, not mailboxes (RFC 3501 §6.3.6: deleting a mailbox does not
 * unsubscribe it): the `subscriptions` table holds them; `mailboxes.subscribed` mirrors
 * it for existing mailboxes, kept by triggers (a row made, renamed or marked carries the
 * subscription along), so the code paths that set `subscribed` need no change.
 *
 * `pending_copies` is the journal that makes COPY all or nothing across a crash
 * (copy.ts): the files a COPY is about to link into a mailbox, committed (fsynced)
 * before the first link and deleted in the transaction that inserts their rows. An
 * entry found at the next open names a file of a COPY that never committed: it is
 * removed (sync.ts rollbackCopies) before any scan could index it.
 *
 * Pragmas: WAL, and `synchronous = NORMAL`. With NORMAL a commit is not fsynced until
 * the next checkpoint, so a power loss can lose the last few index transactions, but
 * never corrupts the database. That is safe here because the index is never the only
 * record of an accepted message: the message file was fsynced into new/ (file and
 * directory) before the index row was written, its name carries its UID (`,U=`), and
 * the next open notices files missing from the index (new/ is always listed; cur/ is
 * rescanned when its mtime differs from the one stored) and re-indexes them with the
 * same UIDs. What can be lost is a flag or keyword change of the last moments (flags
 * come back from the file name; keywords and modseqs do not). FULL would cost an fsync
 * per delivery on the hot SMTP path for that.
 */
import Database from 'better-sqlite3';

export type IndexDb = Database.Database;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS mailboxes (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  folder TEXT NOT NULL UNIQUE,
  uidvalidity INTEGER NOT NULL,
  uidnext INTEGER NOT NULL DEFAULT 1,
  highest_modseq INTEGER NOT NULL DEFAULT 1,
  subscribed INTEGER NOT NULL DEFAULT 0,
  special_use TEXT,
  cur_mtime TEXT,
  messages INTEGER NOT NULL DEFAULT 0,
  unseen INTEGER NOT NULL DEFAULT 0,
  recent INTEGER NOT NULL DEFAULT 0,
  size INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS messages (
  mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id),
  uid INTEGER NOT NULL,
  filename TEXT NOT NULL,
  in_new INTEGER NOT NULL DEFAULT 0,
  flags INTEGER NOT NULL DEFAULT 0,
  keywords TEXT,
  modseq INTEGER NOT NULL,
  size INTEGER NOT NULL,
  internal_date INTEGER NOT NULL,
  envelope TEXT,
  body_structure TEXT,
  UNIQUE (mailbox_id, uid)
);
CREATE INDEX IF NOT EXISTS messages_modseq ON messages (mailbox_id, modseq);
CREATE INDEX IF NOT EXISTS messages_new ON messages (mailbox_id) WHERE in_new = 1;
-- SELECT on 100 000 messages (selectMailbox): the keywords in use and the first unseen
-- message without reading every row (the queries repeat these WHERE terms exactly).
CREATE INDEX IF NOT EXISTS messages_kw ON messages (mailbox_id, keywords) WHERE keywords IS NOT NULL;
-- Covering (flags included): SEARCH UNSEEN reads this index alone, no table row per
-- unseen message (rows carry the cached envelope and structure; queries-search.ts).
-- Replaces messages_unseen, which lacked flags.
CREATE INDEX IF NOT EXISTS messages_unseen_uid ON messages (mailbox_id, uid, flags) WHERE (flags & 1) = 0;
DROP INDEX IF EXISTS messages_unseen;
-- Covering index for fetchMeta fields:'flags' (FETCH FLAGS, flag SEARCH): a row with its
-- cached envelope and body structure is kilobytes, this entry a few dozen bytes.
CREATE INDEX IF NOT EXISTS messages_light ON messages (mailbox_id, uid, flags, keywords, modseq, size, internal_date);
CREATE TABLE IF NOT EXISTS usage (id INTEGER PRIMARY KEY CHECK (id = 1), bytes INTEGER NOT NULL, messages INTEGER NOT NULL);
INSERT OR IGNORE INTO usage (id, bytes, messages) VALUES (1, 0, 0);

-- No INSERT trigger: the two paths that insert rows add to the counters themselves
-- (queries.ts insertMessage and bulkInsert). An INSERT trigger made SQLite copy the whole
-- result of a 100 000-row INSERT … SELECT into a temporary table before the first row
-- went in, and ran its WHEN test per row (pickup.ts). Indexes of older versions lose it.
DROP TRIGGER IF EXISTS messages_ins;
CREATE TRIGGER IF NOT EXISTS messages_del AFTER DELETE ON messages BEGIN
  UPDATE mailboxes SET messages = messages - 1, size = size - OLD.size,
    unseen = unseen - ((OLD.flags & 1) = 0), recent = recent - OLD.in_new WHERE id = OLD.mailbox_id;
  UPDATE usage SET bytes = bytes - OLD.size, messages = messages - 1 WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS messages_upd AFTER UPDATE OF mailbox_id, flags, in_new, size ON messages BEGIN
  UPDATE mailboxes SET messages = messages - 1, size = size - OLD.size,
    unseen = unseen - ((OLD.flags & 1) = 0), recent = recent - OLD.in_new WHERE id = OLD.mailbox_id;
  UPDATE mailboxes SET messages = messages + 1, size = size + NEW.size,
    unseen = unseen + ((NEW.flags & 1) = 0), recent = recent + NEW.in_new WHERE id = NEW.mailbox_id;
  UPDATE usage SET bytes = bytes - OLD.size + NEW.size WHERE id = 1;
END;

CREATE TABLE IF NOT EXISTS subscriptions (name TEXT PRIMARY KEY);
-- Indexes made before the table existed: their subscribed mailboxes, once.
INSERT OR IGNORE INTO subscriptions (name)
  SELECT name FROM mailboxes WHERE subscribed = 1 AND NOT EXISTS (SELECT 1 FROM meta WHERE key = 'subscriptions_table');
INSERT OR IGNORE INTO meta (key, value) VALUES ('subscriptions_table', '1');
CREATE TRIGGER IF NOT EXISTS mailboxes_sub_ins AFTER INSERT ON mailboxes BEGIN
  INSERT OR IGNORE INTO subscriptions (name) SELECT NEW.name WHERE NEW.subscribed = 1;
  UPDATE mailboxes SET subscribed = 1 WHERE id = NEW.id AND NEW.subscribed = 0 AND EXISTS (SELECT 1 FROM subscriptions WHERE name = NEW.name);
END;
CREATE TRIGGER IF NOT EXISTS mailboxes_sub_upd AFTER UPDATE OF subscribed ON mailboxes WHEN NEW.subscribed <> OLD.subscribed BEGIN
  INSERT OR IGNORE INTO subscriptions (name) SELECT NEW.name WHERE NEW.subscribed = 1;
  DELETE FROM subscriptions WHERE name = NEW.name AND NEW.subscribed = 0;
END;
CREATE TRIGGER IF NOT EXISTS mailboxes_sub_ren AFTER UPDATE OF name ON mailboxes WHEN NEW.name <> OLD.name BEGIN
  DELETE FROM subscriptions WHERE name = OLD.name AND OLD.subscribed = 1;
  INSERT OR IGNORE INTO subscriptions (name) SELECT NEW.name WHERE OLD.subscribed = 1;
  UPDATE mailboxes SET subscribed = 1 WHERE id = NEW.id AND OLD.subscribed = 0 AND EXISTS (SELECT 1 FROM subscriptions WHERE name = NEW.name);
END;

-- QRESYNC (RFC 7162 §3.2.5): the UIDs expunged from each mailbox with the modseq of
-- their expunge. Every path that removes a message row (EXPUNGE, MOVE out, a file gone,
-- RENAME of INBOX) first raises the mailbox's HIGHESTMODSEQ in the same transaction, so
-- the row is recorded with that new value. Bounded per mailbox (vanished.ts trims the
-- oldest); expunged_floor keeps the highest modseq forgotten.
CREATE TABLE IF NOT EXISTS expunged (
  mailbox_id INTEGER NOT NULL,
  uid INTEGER NOT NULL,
  modseq INTEGER NOT NULL,
  PRIMARY KEY (mailbox_id, uid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS expunged_modseq ON expunged (mailbox_id, modseq);
CREATE TABLE IF NOT EXISTS expunged_floor (mailbox_id INTEGER PRIMARY KEY, modseq INTEGER NOT NULL);
CREATE TRIGGER IF NOT EXISTS messages_expunged_del AFTER DELETE ON messages BEGIN
  INSERT OR REPLACE INTO expunged (mailbox_id, uid, modseq)
    SELECT OLD.mailbox_id, OLD.uid, highest_modseq FROM mailboxes WHERE id = OLD.mailbox_id;
END;
CREATE TRIGGER IF NOT EXISTS messages_expunged_move AFTER UPDATE OF mailbox_id ON messages WHEN NEW.mailbox_id <> OLD.mailbox_id BEGIN
  INSERT OR REPLACE INTO expunged (mailbox_id, uid, modseq)
    SELECT OLD.mailbox_id, OLD.uid, highest_modseq FROM mailboxes WHERE id = OLD.mailbox_id;
END;
-- A mailbox removed takes its record along (its id may be given again).
CREATE TRIGGER IF NOT EXISTS mailboxes_expunged_del AFTER DELETE ON mailboxes BEGIN
  DELETE FROM expunged WHERE mailbox_id = OLD.id;
  DELETE FROM expunged_floor WHERE mailbox_id = OLD.id;
END;

CREATE TABLE IF NOT EXISTS pending_copies (
  mailbox_id INTEGER NOT NULL,
  filename TEXT NOT NULL,
  PRIMARY KEY (mailbox_id, filename)
);
-- SORT and THREAD (RFC 5256, RFC 5957; sortkeys.ts): each message's sort keys, written
-- after delivery/APPEND by a background pass (off the delivery's transaction) and for
-- rows still without keys (not reached yet, COPY, files another tool dropped in, indexes
-- made before this table) by the first SORT or THREAD that needs them. Strings are
-- i;unicode-casemap collation keys, compared as BINARY (i;octet over UTF-8). A row
-- follows its message (MOVE renumbers it) and goes with it.
CREATE TABLE IF NOT EXISTS sortkeys (
  mailbox_id INTEGER NOT NULL,
  uid INTEGER NOT NULL,
  sent INTEGER NOT NULL,
  arrival INTEGER NOT NULL,
  size INTEGER NOT NULL,
  subject TEXT NOT NULL,
  reply INTEGER NOT NULL,
  addr_from TEXT NOT NULL,
  addr_to TEXT NOT NULL,
  addr_cc TEXT NOT NULL,
  display_from TEXT NOT NULL,
  display_to TEXT NOT NULL,
  message_id TEXT,
  refs TEXT,
  PRIMARY KEY (mailbox_id, uid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sortkeys_sent ON sortkeys (mailbox_id, sent, uid);
CREATE INDEX IF NOT EXISTS sortkeys_arrival ON sortkeys (mailbox_id, arrival, uid);
CREATE INDEX IF NOT EXISTS sortkeys_size ON sortkeys (mailbox_id, size, uid);
CREATE INDEX IF NOT EXISTS sortkeys_subject ON sortkeys (mailbox_id, subject, uid);
CREATE INDEX IF NOT EXISTS sortkeys_from ON sortkeys (mailbox_id, addr_from, uid);
CREATE TRIGGER IF NOT EXISTS sortkeys_msg_del AFTER DELETE ON messages BEGIN
  DELETE FROM sortkeys WHERE mailbox_id = OLD.mailbox_id AND uid = OLD.uid;
END;
CREATE TRIGGER IF NOT EXISTS sortkeys_msg_move AFTER UPDATE OF mailbox_id, uid ON messages
  WHEN NEW.mailbox_id <> OLD.mailbox_id OR NEW.uid <> OLD.uid BEGIN
  UPDATE OR REPLACE sortkeys SET mailbox_id = NEW.mailbox_id, uid = NEW.uid WHERE mailbox_id = OLD.mailbox_id AND uid = OLD.uid;
END;
CREATE TRIGGER IF NOT EXISTS sortkeys_mailbox_del AFTER DELETE ON mailboxes BEGIN
  DELETE FROM sortkeys WHERE mailbox_id = OLD.id;
END;

-- METADATA (RFC 5464): server entries under mailbox_id 0, a mailbox's under its id; a
-- mailbox removed takes its entries along (RENAME keeps the id, so they follow it).
CREATE TABLE IF NOT EXISTS metadata (
  mailbox_id INTEGER NOT NULL,
  entry TEXT NOT NULL,
  value BLOB NOT NULL,
  PRIMARY KEY (mailbox_id, entry)
);
CREATE TRIGGER IF NOT EXISTS mailboxes_metadata_del AFTER DELETE ON mailboxes BEGIN
  DELETE FROM metadata WHERE mailbox_id = OLD.id;
END;

-- Internal dates from file names (dates.ts): UID ranges of rows indexed under the time
-- their file name starts with, until the file's mtime replaces it. A row moved to
-- another mailbox (RENAME of INBOX) takes its mark along; a removed mailbox its ranges.
CREATE TABLE IF NOT EXISTS dates_pending (
  mailbox_id INTEGER NOT NULL,
  lo INTEGER NOT NULL,
  hi INTEGER NOT NULL,
  PRIMARY KEY (mailbox_id, lo)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS dates_pending_move AFTER UPDATE OF mailbox_id ON messages WHEN NEW.mailbox_id <> OLD.mailbox_id
  AND EXISTS (SELECT 1 FROM dates_pending WHERE mailbox_id = OLD.mailbox_id AND OLD.uid BETWEEN lo AND hi) BEGIN
  INSERT OR IGNORE INTO dates_pending (mailbox_id, lo, hi) VALUES (NEW.mailbox_id, NEW.uid, NEW.uid);
END;
CREATE TRIGGER IF NOT EXISTS mailboxes_dates_pending_del AFTER DELETE ON mailboxes BEGIN
  DELETE FROM dates_pending WHERE mailbox_id = OLD.id;
END;

-- Full-text search (issue 16 item 3, fts.ts, fts-fill.ts): each message's decoded,
-- case-folded text (src/imap/mime/search-doc.ts) in fts_docs, filled in the background;
-- all NULL when the message could not be indexed (too large). fts is a contentless
-- trigram index over it (detail=none: it only narrows, instr() on fts_docs confirms),
-- so the text is stored once. A message row removed or moved takes its document along.
CREATE TABLE IF NOT EXISTS fts_docs (
  id INTEGER PRIMARY KEY,
  mailbox_id INTEGER NOT NULL,
  uid INTEGER NOT NULL,
  head TEXT,
  addrs TEXT,
  parts TEXT,
  body TEXT,
  UNIQUE (mailbox_id, uid)
);
CREATE INDEX IF NOT EXISTS fts_docs_done ON fts_docs (mailbox_id, uid) WHERE body IS NOT NULL;
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(t, content='', contentless_delete=1, detail=none, tokenize='trigram case_sensitive 1');
CREATE TRIGGER IF NOT EXISTS fts_docs_ins AFTER INSERT ON fts_docs WHEN NEW.body IS NOT NULL BEGIN
  INSERT INTO fts (rowid, t) VALUES (NEW.id, NEW.head || char(10) || NEW.addrs || char(10) || NEW.parts || char(10) || NEW.body);
END;
CREATE TRIGGER IF NOT EXISTS fts_docs_del AFTER DELETE ON fts_docs WHEN OLD.body IS NOT NULL BEGIN
  DELETE FROM fts WHERE rowid = OLD.id;
END;
CREATE TRIGGER IF NOT EXISTS messages_fts_del AFTER DELETE ON messages BEGIN
  DELETE FROM fts_docs WHERE mailbox_id = OLD.mailbox_id AND uid = OLD.uid;
END;
CREATE TRIGGER IF NOT EXISTS messages_fts_move AFTER UPDATE OF mailbox_id, uid ON messages
  WHEN NEW.mailbox_id <> OLD.mailbox_id OR NEW.uid <> OLD.uid BEGIN
  UPDATE fts_docs SET mailbox_id = NEW.mailbox_id, uid = NEW.uid WHERE mailbox_id = OLD.mailbox_id AND uid = OLD.uid;
END;
`;

/** Page cache per account index connection, KiB (see setup). */
export const INDEX_CACHE_KIB = 2048;

export function openIndex(file: string): IndexDb {
  const db = new Database(file);
  try {
    setup(db);
  } catch (e) {
    db.close();
    throw e;
  }
  return db;
}

function setup(db: IndexDb): void {
  db.pragma('journal_mode = WAL');
  // NORMAL, not FULL: see the module comment (the fsynced file is the truth).
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  // Page cache of an account's connection: 2 MiB, SQLite's own default (better-sqlite3
  // builds with 16 MiB). The OS caches the file anyway; the 16 MiB, filled by the first
  // open of a 100 000-message mailbox and kept for as long as the account stays open,
  // were 11 MB of the server's RSS with it selected (issue 16 item 2, bench/imap-large).
  db.pragma(`cache_size = -${INDEX_CACHE_KIB}`);
  // The same for the temporary schema (the pick-up's name list, pickup.ts; kept in a file).
  db.pragma(`temp.cache_size = -${INDEX_CACHE_KIB}`);
  // A checkpoint fsyncs (on the event-loop thread); fewer, larger ones keep delivery
  // latency flat. The WAL is truncated back to 4 MB after each.
  db.pragma('wal_autocheckpoint = 4000');
  db.pragma('journal_size_limit = 4194304');
  db.exec(SCHEMA);
  migrateColumns(db);
}

/** Columns added to `messages` after its first release: added once, idempotently. */
function migrateColumns(db: IndexDb): void {
  const cols = new Set((db.pragma('table_info(messages)') as Array<{ name: string }>).map((c) => c.name));
  // SAVEDATE (RFC 8514): when the message was saved into its mailbox.
  if (!cols.has('save_date')) db.exec('ALTER TABLE messages ADD COLUMN save_date INTEGER');
  // OBJECTID (RFC 8474): the message's EMAILID, the same in every mailbox it was copied to.
  if (!cols.has('email_id')) db.exec('ALTER TABLE messages ADD COLUMN email_id TEXT');
  // PREVIEW (RFC 8970): the preview text, cached at the first FETCH PREVIEW.
  if (!cols.has('preview')) db.exec('ALTER TABLE messages ADD COLUMN preview TEXT');
}

export interface MailboxRow {
  id: number;
  name: string;
  folder: string;
  uidvalidity: number;
  uidnext: number;
  highest_modseq: number;
  subscribed: number;
  special_use: string | null;
  cur_mtime: string | null;
  messages: number;
  unseen: number;
  recent: number;
  size: number;
}

export interface MessageRow {
  mailbox_id: number;
  uid: number;
  filename: string;
  in_new: number;
  flags: number;
  keywords: string | null;
  modseq: number;
  size: number;
  internal_date: number;
  envelope: string | null;
  body_structure: string | null;
  /** SAVEDATE (RFC 8514), ms: set by insertMessage; NULL for files picked up by name and rows older than the column (INTERNALDATE stands in). */
  save_date?: number | null;
  /** EMAILID (RFC 8474 §5.1): given at insert, carried by COPY/MOVE; NULL for files picked up by name until first fetched or copied. */
  email_id?: string | null;
  /** PREVIEW (RFC 8970), cached at the first FETCH PREVIEW. */
  preview?: string | null;
}
