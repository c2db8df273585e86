/**
 * What a test finds in an account's Maildir on disk, read past the store: the messages
 * of one folder ('' = INBOX, else `.Name`) with the flag letters of their file names.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export function maildirFolder(dataRoot: string, address: string, name = '', encoding: BufferEncoding = 'utf8'): Array<{ text: string; flags: string }> {
  const [local, domain] = address.split('@') as [string, string];
  const base = path.join(dataRoot, 'maildir', domain, local, name ? `.${name}` : '');
  const out: Array<{ text: string; flags: string }> = [];
  for (const sub of ['new', 'cur']) {
    const dir = path.join(base, sub);
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)) out.push({ text: readFileSync(path.join(dir, f), encoding), flags: /:2,([A-Za-z]*)$/.exec(f)?.[1] ?? '' });
  }
  return out;
}
