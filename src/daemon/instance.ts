/**
 * One daemon per database and per socket. Checked before the source loads anything into
 * the kernel, so a second `procwatch daemon` leaves the first one's programs, socket and
 * store alone and says who is already running.
 */

import { closeSync, existsSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
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

/** The pid in a lock file when that process is alive and is a procwatch daemon; else null. */
function livingOwner(lockPath: string, procRoot: string): number | null {
  let pid: number;
  try {
    pid = Number(readFileSync(lockPath, 'utf8').trim());
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return null;
  try {
    // A reused pid is not our daemon: it must still be a procwatch process.
    const cmdline = readFileSync(`${procRoot}/${pid}/cmdline`, 'utf8');
    return cmdline.includes('procwatch') ? pid : null;
  } catch {
    return null;
  }
}

export interface Instance {
  /** Removes the lock file if it is still ours. */
  release(): void;
}

/**
 * Claims `DATABASE.pid` (created exclusively, holding our pid) after making sure no daemon
 * answers on the socket. A lock left by a daemon that died (kill -9) is taken over.
 */
export async function claimInstance(database: string, socket: string, procRoot = '/proc'): Promise<Instance> {
  if (existsSync(socket) && (await socketAnswers(socket))) {
    throw new AlreadyRunning(`another procwatch daemon is already running (it answers on ${socket})`);
  }
  const lockPath = `${database}.pid`;
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(lockPath, 'wx', 0o644);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
      const owner = livingOwner(lockPath, procRoot);
      if (owner !== null) throw new AlreadyRunning(`another procwatch daemon (pid ${owner}) is already using ${database} (lock ${lockPath})`);
      unlinkSync(lockPath); // stale: its daemon is gone
    }
  }
  return {
    release() {
      try {
        if (readFileSync(lockPath, 'utf8').trim() === String(process.pid)) unlinkSync(lockPath);
      } catch {
        // already gone
      }
    },
  };
}
