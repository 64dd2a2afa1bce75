/**
 * The daemon's files on disk: checks of the configured paths, and directory creation that
 * gives the right modes. Private data lives there (command lines, paths, users), so the
 * directories are 0700, or 0750 with the socket group, never world-readable.
 */

import { chmodSync, chownSync, lstatSync, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * sun_path in struct sockaddr_un holds 108 bytes with the final NUL. Node binds a longer path
 * cut short, and the socket then is not where anyone looks for it.
 */
export const MAX_SOCKET_PATH_BYTES = 107;

/** Kernel file systems: nothing of ours can live there (and mkdir under /proc hangs Node 20). */
const KERNEL_FS = ['/proc', '/sys'];

/** Why a path cannot hold the daemon's files, or null when it can. */
export function kernelFsProblem(path: string): string | null {
  const full = resolve(path);
  const fs = KERNEL_FS.find((root) => full === root || full.startsWith(`${root}/`));
  return fs === undefined ? null : `'${path}' is under ${fs}, a kernel file system`;
}

/** Why a path cannot be the API socket, or null when it can. */
export function socketPathProblem(path: string): string | null {
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_SOCKET_PATH_BYTES) return `the socket path is ${bytes} bytes; a unix socket path can have at most ${MAX_SOCKET_PATH_BYTES}`;
  return kernelFsProblem(path);
}

/**
 * Why nothing can listen at `path`: something other than a socket is there (a file, a
 * directory, the database itself). The daemon never deletes such a thing. Null when free.
 */
export function socketSlotProblem(path: string): string | null {
  try {
    if (lstatSync(path).isSocket()) return null;
  } catch {
    return null; // nothing there
  }
  return `${path} exists and is not a socket: refusing to replace it`;
}

/** Why the socket and the database (with its -wal, -shm and .pid lock) cannot go together, or null. */
export function pathClash(socket: string, database: string): string | null {
  const db = resolve(database);
  const clash = ['', '-wal', '-shm', '.pid'].find((suffix) => resolve(socket) === db + suffix);
  return clash === undefined ? null : `the socket path '${socket}' is the database${clash === '' ? '' : `'s ${clash} file`} (${database}${clash})`;
}

/**
 * Creates `dir` and its missing parents one level at a time (never mkdir's recursive mode:
 * on Node 20 it loops forever under /proc). New directories get `mode` exactly, and `group`
 * when given; existing ones are left as they are. Throws a one-line error.
 */
export function makeDirs(dir: string, mode: number, group: number | null): void {
  const problem = kernelFsProblem(dir);
  if (problem !== null) throw new Error(`cannot create directory: ${problem}`);
  const missing: string[] = [];
  let at = resolve(dir);
  for (;;) {
    let isDir: boolean;
    try {
      isDir = statSync(at).isDirectory();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot use directory ${at}: ${(err as Error).message}`);
      missing.unshift(at);
      const parent = dirname(at);
      if (parent === at) throw new Error(`cannot create directory ${dir}: no file system root`);
      at = parent;
      continue;
    }
    if (!isDir) throw new Error(`cannot create directory ${dir}: ${at} is not a directory`);
    break;
  }
  for (const d of missing) {
    try {
      try {
        mkdirSync(d, { mode });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST' && statSync(d).isDirectory()) continue; // made meanwhile: not ours to change
        throw err;
      }
      chmodSync(d, mode); // mkdir's mode passes through the umask
      if (group !== null) chownSync(d, -1, group);
    } catch (err) {
      throw new Error(`cannot create directory ${d}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
}

/** The mode of the daemon's directories: owner only, or owner and the socket group. */
export function privateDirMode(group: number | null): number {
  return group === null ? 0o700 : 0o750;
}
