/**
 * One daemon per database and per socket. Checked before the source loads anything into
 * the kernel, so a second `procwatch daemon` leaves the first one's programs, socket and
 * store alone and says who is already running.
 *
 * The lock is `flock(2)` on `DATABASE.pid`, held for the daemon's life on an open file
 * description. The kernel releases it when the daemon dies however it dies, so a leftover
 * file never blocks a start, and a live daemon is never taken for a dead one whatever runs
 * under the pid written in the file (a pid is only information for people).
 */

import { spawnSync } from 'node:child_process';
import { closeSync, constants, fstatSync, ftruncateSync, lstatSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { connect } from 'node:net';

export class AlreadyRunning extends Error {
  override readonly name = 'AlreadyRunning';
}

/** Whether something accepts connections on this unix socket. */
export function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** flock(1)'s exit code when another process holds the lock (--conflict-exit-code). */
const HELD = 75;

/**
 * Takes an exclusive flock on fd without waiting; false when another process holds one.
 * Node has no flock(2): util-linux's flock(1) gets the descriptor as its fd 3, which shares
 * our open file description, and a flock belongs to the description, not to the process
 * that asked. So the lock stays ours after the helper exits, until our descriptor closes.
 */
export function tryFlock(fd: number): boolean {
  const r = spawnSync('flock', ['--nonblock', '--exclusive', '--conflict-exit-code', String(HELD), '3'], { stdio: ['ignore', 'ignore', 'pipe', fd], encoding: 'utf8' });
  if (r.error !== undefined) {
    const why = (r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'flock(1) is not installed (Debian package util-linux)' : r.error.message;
    throw new Error(`cannot lock the database: ${why}`);
  }
  if (r.status === 0) return true;
  if (r.status === HELD) return false;
  throw new Error(`cannot lock the database: flock(1) failed: ${(r.stderr ?? '').trim().split('\n')[0] || `exit ${String(r.status)}`}`);
}

export interface Instance {
  /** Removes the lock file if it is still ours and closes it (which releases the lock). */
  release(): void;
}

function samePath(fd: number, path: string, follow: boolean): boolean {
  try {
    const open = fstatSync(fd);
    const there = (follow ? statSync : lstatSync)(path);
    return open.ino === there.ino && open.dev === there.dev;
  } catch {
    return false;
  }
}

/**
 * Claims `DATABASE.pid` (flock, then our pid written in it) after making sure no daemon
 * answers on the socket. The file is opened without following a symlink (its directory may
 * be writable by others); a lock file that the previous holder removed while we waited for
 * it is not ours to keep: the claim starts again on the file now at the path.
 */
export async function claimInstance(database: string, socket: string, followSymlinks = false): Promise<Instance> {
  if (await socketAnswers(socket)) {
    throw new AlreadyRunning(`another procwatch daemon is already running (it answers on ${socket})`);
  }
  const lockPath = `${database}.pid`;
  for (let attempt = 0; attempt < 5; attempt++) {
    let fd: number;
    try {
      fd = openSync(lockPath, constants.O_RDWR | constants.O_CREAT | (followSymlinks ? 0 : constants.O_NOFOLLOW), 0o644);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ELOOP') throw new Error(`the lock file ${lockPath} is a symbolic link: refusing to follow it (daemon.follow_symlinks: true allows it)`);
      throw new Error(`cannot open the lock file ${lockPath}: ${code ?? (err as Error).message}`);
    }
    let locked = false;
    try {
      if (!fstatSync(fd).isFile()) throw new Error(`the lock file ${lockPath} is not a regular file`);
      locked = tryFlock(fd);
      if (!locked) {
        let owner = '';
        try {
          const pid = readFileSync(lockPath, 'utf8').trim();
          if (/^\d+$/.test(pid)) owner = ` (pid ${pid})`;
        } catch {
          // unreadable: the lock is what counts
        }
        throw new AlreadyRunning(`another procwatch daemon${owner} is already using ${database} (it holds the lock ${lockPath})`);
      }
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    if (!samePath(fd, lockPath, followSymlinks)) {
      closeSync(fd); // its holder removed it as we took it: the lock is on a file nobody else will open
      continue;
    }
    ftruncateSync(fd, 0);
    writeSync(fd, `${process.pid}\n`, 0);
    let released = false;
    return {
      release() {
        if (released) return; // the descriptor number may belong to another file by now
        released = true;
        try {
          if (samePath(fd, lockPath, followSymlinks)) unlinkSync(lockPath); // still locked: nobody can be using it
        } catch {
          // already gone
        }
        try {
          closeSync(fd);
        } catch {
          // released twice
        }
      },
    };
  }
  throw new Error(`cannot lock ${lockPath}: it keeps being replaced`);
}
