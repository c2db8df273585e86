/**
 * One account's mailbox index against its Maildir files, read without the store (so a
 * check changes nothing): the folders on disk against the index's mailboxes, each
 * message file against its row, UIDs against UIDNEXT, and the counters the triggers
 * keep against the rows. The layout is the store's (src/store/maildir/index.ts).
 */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { integrityProblems } from './files.js';

export const INDEX_FILE = 'index.sqlite';

export interface MailCheck {
  /** Messages in the index. */
  messages: number;
  /** Problems that `reindex` repairs. */
  mismatches: string[];
  /** The index is damaged: it must be rebuilt from the files. */
  corrupt: string[];
  missingIndex: boolean;
}

/** `<data>/maildir/<domain>/<local>` of an account (as the store lays it out). */
export function accountDir(dataRoot: string, address: string): string {
  const at = address.lastIndexOf('@');
  return path.join(dataRoot, 'maildir', address.slice(at + 1), address.slice(0, at));
}

async function folderNames(root: string): Promise<string[]> {
  const out = [''];
  for (const e of await readdir(root, { withFileTypes: true })) {
    if (e.isDirectory() && e.name.startsWith('.') && existsSync(path.join(root, e.name, 'cur'))) out.push(e.name);
  }
  return out;
}

async function listMessages(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((n) => !n.startsWith('.'));
  } catch {
    return [];
  }
}

interface Row {
  mailbox_id: number;
  uid: number;
  filename: string;
  in_new: number;
}

interface Box {
  id: number;
  name: string;
  folder: string;
  uidnext: number;
  messages: number;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Compares one account's index with its files. */
export async function checkAccountMail(root: string): Promise<MailCheck> {
  const file = path.join(root, INDEX_FILE);
  const out: MailCheck = { messages: 0, mismatches: [], corrupt: [], missingIndex: false };
  if (!existsSync(file)) {
    out.missingIndex = true;
    return out;
  }
  out.corrupt = integrityProblems(file);
  if (out.corrupt.length > 0) return out;
  const db = new Database(file, { readonly: true, fileMustExist: true });
  let boxes: Box[];
  let rows: Row[];
  let usage: number;
  try {
    db.pragma('busy_timeout = 10000');
    // One read transaction: the rows and the counters of the same moment.
    ({ boxes, rows, usage } = db.transaction(() => ({
      boxes: db.prepare('SELECT id, name, folder, uidnext, messages FROM mailboxes').all() as Box[],
      rows: db.prepare('SELECT mailbox_id, uid, filename, in_new FROM messages').all() as Row[],
      usage: (db.prepare('SELECT messages FROM usage WHERE id = 1').pluck().get() as number | undefined) ?? 0,
    }))());
  } finally {
    db.close();
  }
  out.messages = rows.length;
  const byFolder = new Map(boxes.map((b) => [b.folder, b]));
  const rowsOf = new Map<number, Row[]>();
  for (const r of rows) {
    // Pushed, not copied into a new array per row: that was quadratic in a mailbox's size.
    const list = rowsOf.get(r.mailbox_id);
    if (list) list.push(r);
    else rowsOf.set(r.mailbox_id, [r]);
  }
  const onDisk = await folderNames(root);
  for (const b of boxes) if (!onDisk.includes(b.folder)) out.mismatches.push(`mailbox "${b.name}" is indexed but its folder is gone`);
  for (const folder of onDisk) {
    const box = byFolder.get(folder);
    const dir = path.join(root, folder);
    const [cur, fresh] = await Promise.all([listMessages(path.join(dir, 'cur')), listMessages(path.join(dir, 'new'))]);
    const label = folder === '' ? 'INBOX' : folder;
    if (!box) {
      if (cur.length + fresh.length > 0 || folder !== '') out.mismatches.push(`folder ${label} is not in the index (${plural(cur.length + fresh.length, 'message')})`);
      continue;
    }
    const files = new Set([...cur.map((n) => `cur/${n}`), ...fresh.map((n) => `new/${n}`)]);
    const mine = rowsOf.get(box.id) ?? [];
    let missing = 0;
    let overUid = 0;
    for (const r of mine) {
      if (!files.delete(`${r.in_new ? 'new' : 'cur'}/${r.filename}`)) missing++;
      if (r.uid >= box.uidnext) overUid++;
    }
    if (missing) out.mismatches.push(`${label}: ${plural(missing, 'indexed message')} without ${missing === 1 ? 'its file' : 'their files'}`);
    if (files.size) out.mismatches.push(`${label}: ${plural(files.size, 'file')} not in the index`);
    if (overUid) out.mismatches.push(`${label}: ${plural(overUid, 'UID')} at or above UIDNEXT ${box.uidnext}`);
    if (box.messages !== mine.length) out.mismatches.push(`${label}: the message counter says ${box.messages}, the index holds ${mine.length}`);
  }
  if (usage !== rows.length) out.mismatches.push(`the usage counter says ${usage} messages, the index holds ${rows.length}`);
  return out;
}
