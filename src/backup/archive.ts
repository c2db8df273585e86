/**
 * Backup archives: a backup directory packed with Debian's GNU `tar`, compressed by
 * the `zstd` program (`.tar.zst`, tar's --zstd) or gzip (`.tar.gz`, `.tgz`).
 *
 * Why the system tools and not an npm package: Node 20's zlib has no zstd; the npm
 * zstd bindings are native modules with prebuilt binaries fetched at install time, and
 * the pure-JS ones only decompress. GNU tar and zstd stream through pipes at disk
 * speed, keep hard links, modes and times, and the archive opens with the same tools
 * anywhere (`tar --zstd -xf backup.tar.zst`). The directory form stays the primary
 * one: it needs no tool, is checked file by file, and on the same disk costs almost no
 * space (message files are hard links).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';

export type ArchiveKind = 'zstd' | 'gzip';

/** The archive kind a path names, or undefined for a directory. */
export function archiveKind(file: string): ArchiveKind | undefined {
  if (/\.tar\.zst$|\.tzst$/.test(file)) return 'zstd';
  if (/\.tar\.gz$|\.tgz$/.test(file)) return 'gzip';
  return undefined;
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-2000)));
    child.on('error', (e: NodeJS.ErrnoException) =>
      reject(new Error(e.code === 'ENOENT' ? `${cmd} is not installed (Debian package "${cmd}")` : `${cmd}: ${e.message}`)),
    );
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args[0]} failed (status ${code}): ${err.trim().split('\n').pop() ?? ''}`))));
  });
}

/** Checks that the compressor for `kind` can run; throws naming the Debian package otherwise. */
export async function checkArchiver(kind: ArchiveKind): Promise<void> {
  await run('tar', ['--version']);
  if (kind === 'zstd') await run('zstd', ['--version']).catch(() => Promise.reject(new Error('zstd is not installed (Debian package "zstd"); or write a .tar.gz, or a directory')));
}

/** Packs the contents of `dir` into `file`. */
export async function packArchive(dir: string, file: string, kind: ArchiveKind): Promise<void> {
  // -T0: all cores; level 3 (zstd's default) keeps up with a disk.
  const compress = kind === 'zstd' ? ['--use-compress-program', 'zstd -q -T0'] : ['--gzip'];
  await run('tar', ['--create', '--file', file, ...compress, '--directory', dir, '.']);
}

/** Unpacks `file` into the existing directory `dir` (tar recognises the compression). */
export async function unpackArchive(file: string, dir: string): Promise<void> {
  const kind = archiveKind(file);
  const decompress = kind === 'zstd' ? ['--use-compress-program', 'zstd -d -q'] : kind === 'gzip' ? ['--gzip'] : [];
  await run('tar', ['--extract', '--file', path.resolve(file), ...decompress, '--directory', dir, '--no-same-owner']);
}
