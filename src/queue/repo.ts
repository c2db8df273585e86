/**
 * The queue's tables (migrations 10, 11): one `queue_messages` row per message (its body is
 * a file under `<data>/queue/`), one `queue_recipients` row per recipient with its own
 * state, attempt count, next try and last reply. Shared by the worker (in the server)
 * and the CLI (another process; SQLite WAL makes that safe).
 *
 * Recipient states: `queued` (waiting for its next attempt), `delivered`, `failed`
 * (bounced: a DSN was made), `held` (queued by an SMTP transaction not yet answered:
 * released when it succeeds, deleted when it fails, and at start, since a held message
 * left by a stop was never acknowledged). A message whose recipients are all final is
 * removed with its spool file.
 */
import path from 'node:path';
import type { Db } from '../db/index.js';
import type { DsnEnvelope, DsnRecipientParams } from './dsn.js';

export type RecipientState = 'queued' | 'delivered' | 'failed' | 'held';

export interface QueuedRecipient {
  id: number;
  messageId: number;
  rcpt: string;
  domain: string;
  state: RecipientState;
  attempts: number;
  nextAttemptAt: Date;
  lastAttemptAt?: Date;
  lastReply?: string;
  lastHost?: string;
  /** RFC 3461 NOTIFY / ORCPT given for it (migration 11). */
  dsn: DsnRecipientParams;
  /** A "delayed" DSN went out for it. */
  delayNotified: boolean;
}

export interface QueuedMessage {
  id: number;
  /** Relative to the data root. */
  spoolPath: string;
  mailFrom: string;
  account?: string;
  size: number;
  headerMessageId?: string;
  createdAt: Date;
  /** RFC 3461 RET / ENVID given at MAIL FROM. */
  dsn: DsnEnvelope;
  recipients: QueuedRecipient[];
}

interface MessageRow {
  id: number;
  spool_path: string;
  mail_from: string;
  account: string | null;
  size: number;
  header_message_id: string | null;
  created_at: number;
  dsn_ret: string | null;
  dsn_envid: string | null;
}

interface RecipientRow {
  id: number;
  message_id: number;
  rcpt: string;
  domain: string;
  state: string;
  attempts: number;
  next_attempt_at: number;
  last_attempt_at: number | null;
  last_reply: string | null;
  last_host: string | null;
  dsn_notify: string | null;
  dsn_orcpt: string | null;
  delay_notified: number;
}

function toRecipient(r: RecipientRow): QueuedRecipient {
  return {
    id: r.id,
    messageId: r.message_id,
    rcpt: r.rcpt,
    domain: r.domain,
    state: r.state as RecipientState,
    attempts: r.attempts,
    nextAttemptAt: new Date(r.next_attempt_at),
    lastAttemptAt: r.last_attempt_at === null ? undefined : new Date(r.last_attempt_at),
    lastReply: r.last_reply ?? undefined,
    lastHost: r.last_host ?? undefined,
    dsn: { notify: r.dsn_notify ? r.dsn_notify.split(',') : undefined, orcpt: r.dsn_orcpt ?? undefined },
    delayNotified: r.delay_notified === 1,
  };
}

function toMessage(m: MessageRow, rcpts: RecipientRow[]): QueuedMessage {
  return {
    id: m.id,
    spoolPath: m.spool_path,
    mailFrom: m.mail_from,
    account: m.account ?? undefined,
    size: m.size,
    headerMessageId: m.header_message_id ?? undefined,
    createdAt: new Date(m.created_at),
    dsn: { ret: (m.dsn_ret as DsnEnvelope['ret']) ?? undefined, envid: m.dsn_envid ?? undefined },
    recipients: rcpts.map(toRecipient),
  };
}

export function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

export interface NewMessage {
  spoolPath: string;
  mailFrom: string;
  account?: string;
  size: number;
  headerMessageId?: string;
  rcpts: string[];
  now?: number;
  /** Insert as `held` (not picked up until releaseMessage). */
  held?: boolean;
  /** RFC 3461 RET / ENVID. */
  dsn?: DsnEnvelope;
  /** RFC 3461 NOTIFY / ORCPT per recipient (canonical address). */
  rcptDsn?: ReadonlyMap<string, DsnRecipientParams>;
}

/** Inserts a message and its recipients in one transaction (due at once). Returns the id. */
export function insertMessage(db: Db, m: NewMessage): number {
  const now = m.now ?? Date.now();
  return db.transaction(() => {
    const id = db
      .prepare('INSERT INTO queue_messages (spool_path, mail_from, account, size, header_message_id, created_at, dsn_ret, dsn_envid) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(m.spoolPath, m.mailFrom, m.account ?? null, m.size, m.headerMessageId ?? null, now, m.dsn?.ret ?? null, m.dsn?.envid ?? null).lastInsertRowid as number;
    const ins = db.prepare(
      'INSERT INTO queue_recipients (message_id, rcpt, domain, state, attempts, next_attempt_at, updated_at, dsn_notify, dsn_orcpt) VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?)',
    );
    for (const r of new Set(m.rcpts)) {
      const p = m.rcptDsn?.get(r);
      ins.run(id, r, domainOf(r), m.held ? 'held' : 'queued', now, now, p?.notify?.join(',') ?? null, p?.orcpt ?? null);
    }
    return id;
  })();
}

/** Makes a held message's recipients due now; returns how many were released. */
export function releaseMessage(db: Db, messageId: number, now = Date.now()): number {
  return db.prepare("UPDATE queue_recipients SET state = 'queued', next_attempt_at = ?, updated_at = ? WHERE message_id = ? AND state = 'held'").run(now, now, messageId).changes;
}

/** Messages with held recipients. */
export function heldMessageIds(db: Db): number[] {
  return db.prepare("SELECT DISTINCT message_id FROM queue_recipients WHERE state = 'held'").pluck().all() as number[];
}

export function getMessage(db: Db, id: number): QueuedMessage | undefined {
  const m = db.prepare('SELECT * FROM queue_messages WHERE id = ?').get(id) as MessageRow | undefined;
  if (!m) return undefined;
  const r = db.prepare('SELECT * FROM queue_recipients WHERE message_id = ? ORDER BY id').all(id) as RecipientRow[];
  return toMessage(m, r);
}

export function listMessages(db: Db): QueuedMessage[] {
  const ms = db.prepare('SELECT * FROM queue_messages ORDER BY id').all() as MessageRow[];
  const rs = db.prepare('SELECT * FROM queue_recipients ORDER BY message_id, id').all() as RecipientRow[];
  const by = new Map<number, RecipientRow[]>();
  for (const r of rs) {
    let l = by.get(r.message_id);
    if (!l) by.set(r.message_id, (l = []));
    l.push(r);
  }
  return ms.map((m) => toMessage(m, by.get(m.id) ?? []));
}

export interface DueGroup {
  messageId: number;
  domain: string;
  recipients: QueuedRecipient[];
}

/** Recipients due now, grouped per message and destination domain, oldest first. */
export function dueGroups(db: Db, now: number, limit = 500): DueGroup[] {
  const rows = db
    .prepare("SELECT * FROM queue_recipients WHERE state = 'queued' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?")
    .all(now, limit) as RecipientRow[];
  const groups = new Map<string, DueGroup>();
  for (const r of rows) {
    const key = `${r.message_id}\0${r.domain}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { messageId: r.message_id, domain: r.domain, recipients: [] }));
    g.recipients.push(toRecipient(r));
  }
  return [...groups.values()];
}

/** When the next queued recipient is due (ms), or undefined when nothing waits. */
export function nextDue(db: Db): number | undefined {
  const v = db.prepare("SELECT MIN(next_attempt_at) FROM queue_recipients WHERE state = 'queued'").pluck().get() as number | null;
  return v ?? undefined;
}

export interface RecipientUpdate {
  id: number;
  state: RecipientState;
  /** Counted as an attempt (false for "never tried", e.g. a local bounce before connecting). */
  attempted: boolean;
  nextAttemptAt?: number;
  reply: string;
  host?: string;
  /** A "delayed" DSN went out for it with this attempt. */
  delayNotified?: boolean;
}

/** Records the outcome of one attempt for some recipients, in one transaction. */
export function updateRecipients(db: Db, updates: RecipientUpdate[], now = Date.now()): void {
  const st = db.prepare(
    'UPDATE queue_recipients SET state = ?, attempts = attempts + ?, next_attempt_at = COALESCE(?, next_attempt_at), last_attempt_at = ?, last_reply = ?, last_host = COALESCE(?, last_host), delay_notified = MAX(delay_notified, ?), updated_at = ? WHERE id = ?',
  );
  db.transaction(() => {
    for (const u of updates) st.run(u.state, u.attempted ? 1 : 0, u.nextAttemptAt ?? null, now, u.reply.slice(0, 1000), u.host ?? null, u.delayNotified ? 1 : 0, now, u.id);
  })();
}

/**
 * Records an attempt's outcome and, when every recipient is now final, removes the
 * message; one transaction (one fsync). Returns the spool path to unlink, if removed.
 */
export function finishAttempt(db: Db, messageId: number, updates: RecipientUpdate[], now = Date.now()): string | undefined {
  return db.transaction(() => {
    updateRecipients(db, updates, now);
    return removeIfDone(db, messageId);
  })();
}

/**
 * Removes a message whose recipients are all final; returns its spool path (relative)
 * for the caller to unlink, or undefined when some recipient still waits.
 */
export function removeIfDone(db: Db, messageId: number): string | undefined {
  return db.transaction(() => {
    const waiting = db.prepare("SELECT COUNT(*) FROM queue_recipients WHERE message_id = ? AND state = 'queued'").pluck().get(messageId) as number;
    if (waiting > 0) return undefined;
    const p = db.prepare('SELECT spool_path FROM queue_messages WHERE id = ?').pluck().get(messageId) as string | undefined;
    db.prepare('DELETE FROM queue_messages WHERE id = ?').run(messageId);
    return p;
  })();
}

/** Deletes a message and its recipients outright (CLI `queue delete`); returns the spool path. */
export function deleteMessage(db: Db, messageId: number): string | undefined {
  return db.transaction(() => {
    const p = db.prepare('SELECT spool_path FROM queue_messages WHERE id = ?').pluck().get(messageId) as string | undefined;
    if (p !== undefined) db.prepare('DELETE FROM queue_messages WHERE id = ?').run(messageId);
    return p;
  })();
}

/** Pushes the next try of some queued recipients to `at` (after an unexpected error). */
export function deferRecipients(db: Db, ids: number[], at: number): void {
  const st = db.prepare("UPDATE queue_recipients SET next_attempt_at = MAX(next_attempt_at, ?), updated_at = ? WHERE id = ? AND state = 'queued'");
  db.transaction(() => {
    for (const id of ids) st.run(at, Date.now(), id);
  })();
}

/** Makes queued recipients due now: one message, or all (CLI `queue retry`). Returns how many. */
export function retryNow(db: Db, messageId?: number, now = Date.now()): number {
  if (messageId === undefined) {
    return db.prepare("UPDATE queue_recipients SET next_attempt_at = ?, updated_at = ? WHERE state = 'queued'").run(now, now).changes;
  }
  return db.prepare("UPDATE queue_recipients SET next_attempt_at = ?, updated_at = ? WHERE state = 'queued' AND message_id = ?").run(now, now, messageId).changes;
}

/** Spool paths referenced by the queue (absolute), for cleaning orphans at start. */
export function referencedSpoolFiles(db: Db, dataRoot: string): Set<string> {
  const ps = db.prepare('SELECT spool_path FROM queue_messages').pluck().all() as string[];
  return new Set(ps.map((p) => path.resolve(dataRoot, p)));
}

export interface QueueStats {
  messages: number;
  /** Recipients per state. */
  recipients: Record<string, number>;
  /** Creation time (ms) of the oldest message with a recipient still queued. */
  oldestWaiting?: number;
}

/** Sizes and ages of the queue, for /metrics: three aggregate queries, no rows loaded. */
export function queueStats(db: Db): QueueStats {
  const messages = db.prepare('SELECT COUNT(*) FROM queue_messages').pluck().get() as number;
  const rows = db.prepare('SELECT state, COUNT(*) AS n FROM queue_recipients GROUP BY state').all() as Array<{ state: string; n: number }>;
  const oldest = db
    .prepare("SELECT MIN(created_at) FROM queue_messages m WHERE EXISTS (SELECT 1 FROM queue_recipients r WHERE r.message_id = m.id AND r.state = 'queued')")
    .pluck()
    .get() as number | null;
  return { messages, recipients: Object.fromEntries(rows.map((r) => [r.state, r.n])), oldestWaiting: oldest ?? undefined };
}
