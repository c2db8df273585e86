/**
 * The Maildir++ message store. On-disk format (the contract with Dovecot, mutt, mbsync
 * and with our own `reindex`):
 *
 *   <data>/maildir/<domain>/<local>/         one account (domain lower-case, as AccountId)
 *     cur/ new/ tmp/                         INBOX
 *     .Sent/ .Drafts/ .Junk/ .Trash/ .Archive/   special-use folders made with the account
 *     .Archive.2024/                         "Archive/2024" (names encoded as in ../names.ts:
 *                                            "/" → ".", modified UTF-7, "%" and "." escaped)
 *       cur/ new/ tmp/ maildirfolder         Maildir++ subfolder (empty maildirfolder file)
 *       mailserver-uidvalidity               "V<uidvalidity> N<uidnext>\n" (also in the root for INBOX;
 *                                            ./uidlist.ts)
 *     index.sqlite (+ -wal, -shm)            the index (./index-db.ts); rebuildable
 *     spam.sqlite (+ -wal, -shm)             the account's spam classifier (src/spam/db.ts); not the store's
 *
 * Message files (./filename.ts):
 *   new/<sec>.M<usec>P<pid>Q<n>.<host>,S=<size>,U=<uid>
 *   cur/<sec>.M<usec>P<pid>Q<n>.<host>,S=<size>,U=<uid>:2,<DFPRST letters>
 *
 * - S= is the file size in bytes, so sizes are known without stat. Bytes are stored as
 *   given (SMTP and IMAP hand over CRLF lines; files dropped by other tools may use LF).
 * - U= is the message's IMAP UID in that folder. It is how UIDs survive the loss of the
 *   index: `reindex` (and the first open of an account whose index is missing) gives
 *   each file the UID in its name when it is free, and sets UIDNEXT above every UID
 *   seen and at least to N of mailserver-uidvalidity. N is kept at or above every UID
 *   ever given (written before a file is linked under a new UID, 64 ahead), so a UID
 *   that was expunged, or removed by another tool, is never handed out again with the
 *   same UIDVALIDITY. Files without U= (dropped by other tools) get a new UID and are
 *   renamed to carry it. Dovecot ignores the U= field (it keeps its own dovecot-uidlist).
 * - Flags: D=\Draft F=\Flagged P=$Forwarded R=\Answered S=\Seen T=\Deleted; keywords
 *   are kept in the index only (no dovecot-keywords file).
 * - Hard links: one delivery to several mailboxes is one inode with one name per folder.
 * - tmp/ holds files being written (each folder's own); `.deleted-*` under the root
 *   tmp/ are mailboxes being removed. Leftovers older than 36 hours go at open.
 *
 * Other tools: files they drop into new/ or cur/ are indexed at the next open of the
 * account and by the next select (new/ is always listed, cur/ when its mtime changed;
 * mail found in new/ at the account's open stays there, still \Recent for the next
 * SELECT); folders they create or remove show up in the next listMailboxes (the account
 * root's mtime is compared); `reindex` does all of it at once.
 *
 * Dovecot reads this tree as is (`mail_location = maildir:<account dir>`; with
 * `mailbox_list_escape_char = %` it also shows "." inside names): see
 * test/store/dovecot.test.ts.
 *
 * Mailbox deletion: INBOX cannot be deleted; a mailbox with children is refused
 * (StoreError 'hasChildren', as Dovecot does) — delete the children first.
 */
export { MaildirStore, SPECIAL_FOLDERS, UIDVALIDITY_FILE, type MaildirStoreOptions } from './store.js';
export { canonicalName, folderOf, nameOfFolder } from '../names.js';
