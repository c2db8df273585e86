/**
 * Durable file steps shared by every part of the server that must not lose a file it
 * acknowledged (the Maildir store, the SMTP spool, the outbound queue): fsync of a path,
 * a new file written and fsynced, a hard link with an fsynced-copy fallback, and the
 * removal of what a crash left behind. A new directory entry is durable only once its
 * directory is fsynced too; callers do that (fsyncPath, or the store's group-committed
 * DirSyncer in src/store/maildir/fsio.ts).
 */
import { close as closeCb, constants as fsc, fsync as fsyncCb, open as openCb, write as writeCb } from 'node:fs';
import { copyFile, link, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

/** fsyncs a file or a directory (opened read-only, which Linux allows for both). */
export async function fsyncPath(p: string): Promise<void> {
  const fh = await open(p, fsc.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

const openFd = promisify(openCb);
const writeFd = promisify(writeCb);
const fsyncFd = promisify(fsyncCb);
const closeFd = promisify(closeCb);

/**
 * Writes data to a new file (O_EXCL, mode 0640) and fsyncs it (the caller fsyncs the
 * directory); on failure the file is removed. Plain descriptors rather than a
 * FileHandle: its promise and finalizer machinery was a visible part of the CPU per
 * delivered message.
 */
export async function writeFileSynced(file: string, data: Buffer, doSync: boolean): Promise<void> {
  const fd = await openFd(file, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o640);
  try {
    for (let off = 0; off < data.length; ) {
      const { bytesWritten } = await writeFd(fd, data, off, data.length - off, off);
      off += bytesWritten;
    }
    if (doSync) await fsyncFd(fd);
  } catch (e) {
    await closeFd(fd).catch(() => undefined);
    await unlink(file).catch(() => undefined);
    throw e;
  }
  await closeFd(fd);
}

const NO_LINK = new Set(['EXDEV', 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK']);

/**
 * The link(2) linkOrCopy calls. Tests swap it for one that refuses (EXDEV), so the
 * copy fallback runs on a machine where everything is on one file system.
 */
export const linker: { link: (src: string, dest: string) => Promise<void> } = { link };

/**
 * Hard-links src to dest; when the file system refuses (another device, no hard
 * links, too many links) copies src into tmpDir, fsyncs the copy and renames it to dest,
 * so dest never exists half written. The caller fsyncs dest's directory.
 */
export async function linkOrCopy(src: string, dest: string, tmpDir: string, doSync: boolean): Promise<void> {
  try {
    await linker.link(src, dest);
    return;
  } catch (e) {
    if (!NO_LINK.has((e as NodeJS.ErrnoException).code ?? '')) throw e;
  }
  const tmp = path.join(tmpDir, path.basename(dest) + '.copy');
  try {
    await copyFile(src, tmp, fsc.COPYFILE_EXCL);
    if (doSync) await fsyncPath(tmp);
    await rename(tmp, dest);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}

export function isEnoent(e: unknown): boolean {
  return (e as NodeJS.ErrnoException)?.code === 'ENOENT';
}

/**
 * Removes the files of `dir` whose mtime is at least `olderThanMs` old, except those in
 * `keep` (absolute paths); only among `names` when given (a listing taken earlier). A
 * missing directory or a file gone meanwhile is not an error. Returns how many were
 * removed. Used at start to clear what a crash left behind.
 */
export async function removeStaleFiles(dir: string, olderThanMs: number, keep?: Set<string>, names?: string[]): Promise<number> {
  if (!names) {
    try {
      names = await readdir(dir);
    } catch {
      return 0;
    }
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
