/**
 * POP3 session state (RFC 1939 §3): AUTHORIZATION → TRANSACTION → UPDATE, as a
 * discriminated union, plus the maildrop and the per-account maildrop lock.
 *
 * The maildrop (RFC 1939 §2) is a snapshot of INBOX taken at login: message number n
 * is the n-th UID, ascending, and stays so for the whole session even when mail arrives
 * meanwhile (it is seen at the next login). DELE only marks an entry; the store is
 * changed only in the UPDATE state, after QUIT (RFC 1939 §6), so a dropped connection
 * deletes nothing.
 *
 * Unique ids (UIDL, RFC 1939 §7): `${uidValidity}.${uid}` of the INBOX message. That is
 * exactly the pair by which IMAP identifies a message (RFC 9051 §2.3.1.1: a message is
 * the same as long as UIDVALIDITY is unchanged and it keeps its UID), so an IMAP client
 * and a POP3 client agree on which message is which: UIDL "1700000000.42" is the
 * message an IMAP session sees as UID 42 in an INBOX whose UIDVALIDITY is 1700000000.
 * The store keeps UIDVALIDITY and UIDs stable across restarts and `reindex`, so the ids
 * are stable forever; they are 1-70 characters from 0x21-0x7E as §7 requires.
 *
 * \Seen: a message fully retrieved with RETR (not TOP) gets \Seen when the session
 * QUITs (in UPDATE state, with the expunges), the way Dovecot behaves with its default
 * `pop3_no_flag_updates = no`. A dropped session changes no flags either. This way an
 * IMAP client of the same account shows mail a POP3 client "left on the server" as read.
 *
 * Sizes (STAT, LIST, "+OK n octets"): the stored file size, which is exact for every
 * message this server stores (SMTP, IMAP APPEND and import keep CRLF). RFC 1939 asks a
 * server whose files use a one-character end-of-line to count it as two octets ("local
 * conventions for designating end-of-line"); we do not rescan files at login for that,
 * so a bare-LF file dropped into new/ by another tool is listed a few octets shorter
 * than it is sent (RETR converts it to CRLF). Clients use it for progress and size limits.
 *
 * The lock (RFC 1939 §4: "the POP3 server then acquires an exclusive-access lock on the
 * maildrop") is in-process, per store instance and account: this server is one process.
 */
import type { AccountRecord } from '../accounts/types.js';
import type { ServerContext } from '../context.js';
import type { Logger } from '../log.js';
import type { AccountId, MailboxId, MailStore, MessageMeta, Uid } from '../store/types.js';

/** RFC 2449 §8 and RFC 3206 response codes. */
export type RespCode = 'IN-USE' | 'LOGIN-DELAY' | 'SYS/TEMP' | 'SYS/PERM' | 'AUTH';

/** A `-ERR` reply; `close` ends the connection after it is written. */
export class Pop3Error extends Error {
  constructor(
    message: string,
    readonly code?: RespCode,
    readonly opts: { close?: boolean; bad?: boolean } = {},
  ) {
    super(message);
    this.name = 'Pop3Error';
  }
}

export interface MaildropEntry {
  uid: Uid;
  size: number;
  deleted: boolean;
  /** RETR'd in full: gets \Seen at QUIT. */
  retrieved: boolean;
}

export class Maildrop {
  readonly entries: MaildropEntry[];

  constructor(
    readonly account: AccountId,
    readonly mailboxId: MailboxId,
    readonly uidValidity: number,
    messages: readonly MessageMeta[],
  ) {
    this.entries = messages.map((m) => ({ uid: m.uid, size: m.size, deleted: false, retrieved: false }));
  }

  /** The entry of message number n (1-based); Pop3Error when out of range or deleted (RFC 1939 §5). */
  get(n: number | undefined): MaildropEntry {
    if (n === undefined) throw new Pop3Error('Invalid message number', undefined, { bad: true });
    const e = n >= 1 ? this.entries[n - 1] : undefined;
    if (!e) throw new Pop3Error('No such message');
    if (e.deleted) throw new Pop3Error(`Message ${n} already deleted`);
    return e;
  }

  /** Count and total size of the messages not marked deleted (STAT, RFC 1939 §5). */
  stat(): { count: number; size: number } {
    let count = 0;
    let size = 0;
    for (const e of this.entries) {
      if (e.deleted) continue;
      count++;
      size += e.size;
    }
    return { count, size };
  }

  /** The unique-id listing value (RFC 1939 §7). */
  uidl(e: MaildropEntry): string {
    return `${this.uidValidity}.${e.uid}`;
  }

  /** RSET (RFC 1939 §5): unmark everything. */
  reset(): void {
    for (const e of this.entries) e.deleted = false;
  }

  deletedUids(): Uid[] {
    return this.entries.filter((e) => e.deleted).map((e) => e.uid);
  }

  retrievedUids(): Uid[] {
    return this.entries.filter((e) => e.retrieved && !e.deleted).map((e) => e.uid);
  }
}

export type SessionState =
  | { name: 'authorization'; /** Name given by a successful USER, awaiting PASS. */ user?: string }
  | { name: 'transaction'; account: AccountRecord; drop: Maildrop; unlock: () => void }
  | { name: 'update' };

export type StateName = SessionState['name'];

const locks = new WeakMap<MailStore, Set<AccountId>>();

/**
 * Takes the maildrop lock of an account; returns the release function, or undefined
 * when another POP3 session holds it (→ `-ERR [IN-USE]`, RFC 2449 §8.1.2). Release is
 * idempotent.
 */
export function lockMaildrop(store: MailStore, account: AccountId): (() => void) | undefined {
  let held = locks.get(store);
  if (!held) {
    held = new Set();
    locks.set(store, held);
  }
  if (held.has(account)) return undefined;
  held.add(account);
  let released = false;
  const set = held;
  return () => {
    if (released) return;
    released = true;
    set.delete(account);
  };
}

/** What a command handler may do with its connection (implemented in connection.ts). */
export interface Pop3Conn {
  readonly ctx: ServerContext;
  readonly log: Logger;
  state: SessionState;
  readonly secure: boolean;
  /** The client's address (login throttle and bans). */
  readonly remoteAddress: string;
  /** Plaintext USER/PASS and AUTH PLAIN are allowed now (TLS, or loopback when configured). */
  readonly loginAllowed: boolean;
  /** True once the client has gone (a login waiting its turn is dropped). */
  readonly gone: boolean;
  /** Writes "+OK text". */
  ok(text: string): Promise<void>;
  /** Writes "+OK text", then the lines (dot-stuffed) and the terminating "." (RFC 1939 §3). */
  okLines(text: string, lines: string[]): Promise<void>;
  /** Writes "+OK text", then the message, encoded by MultilineEncoder. */
  okMessage(text: string, uid: Uid, bodyLines?: number): Promise<void>;
  /** Writes a raw line (CRLF added): SASL continuations. */
  writeLine(line: string): Promise<void>;
  /** The next client line (SASL responses); undefined when the connection closed. */
  readLine(): Promise<string | undefined>;
  /** STLS: switches the socket to TLS after the "+OK" (RFC 2595 §4). */
  startTls(okText: string): Promise<void>;
  /** Counts a failed login; returns how many this connection has had. */
  noteAuthFailure(): number;
  /** Ends the connection after the current reply. */
  closeAfterReply(): void;
  /** Rebinds the logger with the user after login. */
  setUser(account: AccountId): void;
}
