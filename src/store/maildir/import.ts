/**
 * Import of a Dovecot Maildir++ tree (docker-mailserver, mailcow, a plain Dovecot), with
 * the UIDs and UIDVALIDITY of every folder kept, so mail clients keep their caches and
 * download nothing again when their server name stays the same.
 *
 * What is read, per folder (the root is INBOX, `.A.B` is "A/B", names in Dovecot's
 * Maildir++ encoding, the same as ours: src/store/names.ts):
 * - `cur/` and `new/`: the messages; flags from the `:2,` letters (D F P R S T), keywords
 *   from the lower-case letters `a`…`z` through `dovecot-keywords` ("0 $Label1" lines);
 *   the internal date from the file's mtime, as Dovecot takes it;
 * - `dovecot-uidlist` (versions 1 and 3): the header `3 V<uidvalidity> N<uidnext> …` and
 *   one `<uid> [fields] :<base name>` line per message (version 1: `<uid> <base name>`).
 * A folder without a uidlist, or one whose mailbox here already holds other mail, is
 * imported with new UIDs (clients then download it again); every other one keeps them.
 * Running the import again brings over only what arrived meanwhile: a folder here with
 * the origin's UIDVALIDITY takes the listed UIDs at or above its UIDNEXT and skips the
 * rest (already here, or deleted here since). A folder without a uidlist whose mailbox
 * here holds mail is left alone (nothing tells which of its files are new).
 * The source tree is only read. Messages go through the store's append, so they are
 * fsynced, indexed and analysed like any other.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { StoreError, type AccountId, type MailStore, type SupportsImport } from '../types.js';
import { flagList } from '../flags.js';
import { bitsOfLetters } from './filename.js';
import { nameOfFolder } from '../names.js';

export interface FolderImport {
  mailbox: string;
  messages: number;
  /** Files not imported again (a second run: their UIDs are already taken here). */
  skipped: number;
  /** The origin's UIDs and UIDVALIDITY were kept. */
  keptUids: boolean;
  /** Not imported at all: the mailbox here holds mail and there is no uidlist to tell what is new. */
  folderSkipped?: boolean;
  uidValidity: number;
}

export interface Uidlist {
  uidValidity?: number;
  uidNext?: number;
  /** Base file name (before ":2,") → UID. */
  uids: Map<string, number>;
}

/** Parses a dovecot-uidlist file (versions 1 and 3). */
export function parseUidlist(text: string): Uidlist {
  const lines = text.split('\n');
  const out: Uidlist = { uids: new Map() };
  const header = (lines.shift() ?? '').trim().split(/\s+/);
  const version = header[0];
  if (version === '1') {
    out.uidValidity = Number(header[1]) || undefined;
    out.uidNext = Number(header[2]) || undefined;
  } else {
    for (const f of header.slice(1)) {
      if (f[0] === 'V') out.uidValidity = Number(f.slice(1)) || undefined;
      if (f[0] === 'N') out.uidNext = Number(f.slice(1)) || undefined;
    }
  }
  for (const line of lines) {
    const l = line.trimEnd();
    if (!l) continue;
    let m: RegExpExecArray | null;
    if (version === '1') m = /^(\d+)\s+(\S.*)$/.exec(l);
    else m = /^(\d+)(?:\s[^:]*)?\s?:(.+)$/.exec(l);
    if (!m) continue;
    const uid = Number(m[1]);
    if (uid >= 1 && uid <= 0xffffffff) out.uids.set(m[2].split(':2,')[0], uid);
  }
  return out;
}

/** Parses dovecot-keywords: index → keyword ("0 $Forwarded"). */
export function parseKeywords(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+)\s+(\S+)\s*$/.exec(line);
    if (m && Number(m[1]) < 26) out[Number(m[1])] = m[2];
  }
  return out;
}

/** The IMAP flags of a Maildir file name: system flags from upper-case letters, keywords from a…z. */
export function flagsOfName(name: string, keywords: readonly string[]): string[] {
  const i = name.indexOf(':2,');
  if (i < 0) return [];
  const info = name.slice(i + 3);
  const kws: string[] = [];
  for (const ch of info) {
    const k = ch >= 'a' && ch <= 'z' ? keywords[ch.charCodeAt(0) - 97] : undefined;
    if (k) kws.push(k);
  }
  return flagList(bitsOfLetters(info), kws);
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

async function isMaildir(dir: string): Promise<boolean> {
  for (const sub of ['cur', 'new']) {
    try {
      if ((await stat(path.join(dir, sub))).isDirectory()) return true;
    } catch {
      // not there
    }
  }
  return false;
}

/** The folders of a Maildir++ tree: [mailbox name, directory]. */
async function foldersOf(root: string): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = [];
  if (await isMaildir(root)) out.push(['INBOX', root]);
  for (const e of await readdir(root, { withFileTypes: true })) {
    if (!e.isDirectory() || !e.name.startsWith('.') || e.name === '.' || e.name === '..') continue;
    const name = nameOfFolder(e.name);
    const dir = path.join(root, e.name);
    if (name && (await isMaildir(dir))) out.push([name, dir]);
  }
  return out;
}

/**
 * Imports every folder of the Maildir++ tree at `root` into `account`. `progress` gets
 * one report per folder as it finishes.
 */
export async function importMaildir(store: MailStore & SupportsImport, account: AccountId, root: string, progress?: (r: FolderImport) => void): Promise<FolderImport[]> {
  const reports: FolderImport[] = [];
  const existing = new Map((await store.listMailboxes(account)).map((m) => [m.name, m]));
  for (const [name, dir] of await foldersOf(root)) {
    const uidlistText = await readOptional(path.join(dir, 'dovecot-uidlist'));
    const uidlist = uidlistText ? parseUidlist(uidlistText) : { uids: new Map<string, number>() };
    const keywords = parseKeywords((await readOptional(path.join(dir, 'dovecot-keywords'))) ?? '');
    let keep = uidlist.uidValidity !== undefined;
    const have = existing.get(name);
    // A second run: only UIDs the mailbox has not handed out yet are new.
    const again = keep && have !== undefined && have.uidValidity === uidlist.uidValidity && have.uidNext > 1;
    if (!keep && have && have.messages > 0) {
      // Without a uidlist nothing tells which files are already here (a second run).
      const r = { mailbox: name, messages: 0, skipped: 0, keptUids: false, uidValidity: have.uidValidity, folderSkipped: true };
      reports.push(r);
      progress?.(r);
      continue;
    }
    if (!have) {
      await store.createMailbox(account, name);
      // A mailbox just made has held no message: it takes the origin's UIDVALIDITY.
      if (keep) await store.setUidState(account, name, { uidValidity: uidlist.uidValidity });
    } else if (keep && !again) {
      try {
        await store.setUidState(account, name, { uidValidity: uidlist.uidValidity });
      } catch (e) {
        if (!(e instanceof StoreError) || e.kind !== 'exists') throw e;
        keep = false; // mail already here: new UIDs for what is added
      }
    }
    await store.setSubscribed(account, name, true);

    const files: Array<{ file: string; name: string; uid?: number }> = [];
    for (const sub of ['cur', 'new']) {
      const d = path.join(dir, sub);
      let names: string[];
      try {
        names = await readdir(d);
      } catch {
        continue;
      }
      for (const n of names) {
        if (n.startsWith('.')) continue;
        files.push({ file: path.join(d, n), name: n, uid: keep ? uidlist.uids.get(n.split(':2,')[0]) : undefined });
      }
    }
    // UIDs must rise: the listed ones in order; then UIDNEXT goes up to the origin's (UIDs
    // below it may have been seen and expunged there, RFC 9051 §2.3.1.1: never reused);
    // then the unlisted ones (delivered after the uidlist was written) with new UIDs.
    files.sort((x, y) => (x.uid ?? Infinity) - (y.uid ?? Infinity) || (x.name < y.name ? -1 : 1));
    const used = new Set<number>();
    let count = 0;
    let skipped = 0;
    let raised = false;
    for (const f of files) {
      if (again && (f.uid === undefined || f.uid < have.uidNext)) {
        skipped++;
        continue;
      }
      const st = await stat(f.file);
      if (!st.isFile()) continue;
      const uid = f.uid !== undefined && !used.has(f.uid) ? f.uid : undefined;
      if (uid !== undefined) used.add(uid);
      else if (keep && uidlist.uidNext && !raised) {
        await store.setUidState(account, name, { uidNext: uidlist.uidNext });
        raised = true;
      }
      await store.importMessage(account, name, { path: f.file }, { uid, flags: flagsOfName(f.name, keywords), internalDate: st.mtime });
      count++;
    }
    const info = keep && uidlist.uidNext && !raised ? await store.setUidState(account, name, { uidNext: uidlist.uidNext }) : await store.getMailbox(account, name);
    const r = { mailbox: name, messages: count, skipped, keptUids: keep, uidValidity: info.uidValidity };
    reports.push(r);
    progress?.(r);
  }
  return reports;
}
