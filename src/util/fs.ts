import { readdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';

/**
 * Removes the files of `dir` whose mtime is at least `olderThanMs` old, except those in
 * `keep` (absolute paths). A missing directory or a file gone meanwhile is not an error.
 * Returns how many were removed. Used at start to clear what a crash left behind.
 */
export async function removeStaleFiles(dir: string, olderThanMs: number, keep?: Set<string>): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  let n = 0;
  const now = Date.now();
  for (const name of names) {
    const abs = path.join(dir, name);
    if (keep?.has(abs)) continue;
    try {
      if (now - (await stat(abs)).mtimeMs < olderThanMs) continue;
      await unlink(abs);
      n++;
    } catch {
      // gone already
    }
  }
  return n;
}
