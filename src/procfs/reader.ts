/**
 * The one place that reads /proc. The root is a parameter so tests run on fake trees
 * under test/fixtures/. A process that vanishes (or hides) mid-read is "not there",
 * never an error: every read returns null on failure.
 */

import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { parseStat, type ProcStat } from './stat.js';
import { parseStatus, type ProcStatus } from './status.js';
import { parseCmdline } from './cmdline.js';
import { parseLabel } from './label.js';

/** Linux reports times in USER_HZ, which is 100 on every architecture Node runs on. */
export const CLOCK_TICKS_PER_SECOND = 100;

/** LSM attribute files, most specific first: stacked-LSM paths, then the shared one. */
const LABEL_PATHS = ['attr/selinux/current', 'attr/smack/current', 'attr/apparmor/current', 'attr/current'];

/**
 * The /proc tree itself cannot be listed (wrong --proc-root, no permission): procwatch cannot
 * do its work. Not bad input and not a bug; the CLI maps it by its name to exit 4.
 */
export class ProcTreeError extends Error {
  override readonly name = 'ProcTreeError';
}

/** `ENOENT: no such file or directory, scandir '/x'` → `no such file or directory (ENOENT)`. */
function reason(err: unknown): string {
  const { code, message } = err as NodeJS.ErrnoException;
  const text = /^[A-Z]+: ([^,]+),/.exec(message)?.[1];
  return text !== undefined && code !== undefined ? `${text} (${code})` : message;
}

export class ProcReader {
  constructor(readonly root: string = '/proc') {}

  private path(pid: number, file: string): string {
    return `${this.root}/${pid}/${file}`;
  }

  private text(path: string): string | null {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return null;
    }
  }

  private link(path: string): string | null {
    try {
      return readlinkSync(path);
    } catch {
      return null;
    }
  }

  /** Process ids (thread-group leaders) present now, ascending. */
  listPids(): number[] {
    let names: string[];
    try {
      names = readdirSync(this.root);
    } catch (err) {
      throw new ProcTreeError(`cannot read /proc tree ${this.root}: ${reason(err)}`);
    }
    const pids: number[] = [];
    for (const name of names) {
      const code = name.charCodeAt(0);
      if (code >= 48 && code <= 57) {
        const pid = Number(name);
        if (Number.isInteger(pid)) pids.push(pid);
      }
    }
    return pids.sort((a, b) => a - b);
  }

  stat(pid: number): ProcStat | null {
    const text = this.text(this.path(pid, 'stat'));
    return text === null ? null : parseStat(text);
  }

  status(pid: number): ProcStatus | null {
    const text = this.text(this.path(pid, 'status'));
    return text === null ? null : parseStatus(text);
  }

  /** Empty for kernel threads and zombies; null when unreadable. */
  argv(pid: number): string[] | null {
    try {
      return parseCmdline(readFileSync(this.path(pid, 'cmdline')));
    } catch {
      return null;
    }
  }

  /** Path of the executable; null for kernel threads, vanished or unreadable processes. */
  exe(pid: number): string | null {
    const target = this.link(this.path(pid, 'exe'));
    return target === null ? null : target.replace(/ \(deleted\)$/, '');
  }

  cwd(pid: number): string | null {
    return this.link(this.path(pid, 'cwd'));
  }

  /** Security label from the first LSM that reports one, or null (no LSM, or unreadable). */
  label(pid: number): string | null {
    for (const file of LABEL_PATHS) {
      const raw = this.text(this.path(pid, file));
      if (raw === null) continue;
      const label = parseLabel(raw);
      if (label !== null) return label;
    }
    return null;
  }

  cgroup(pid: number): string | null {
    const text = this.text(this.path(pid, 'cgroup'));
    if (text === null) return null;
    // cgroup v2 is the line "0::/path"; fall back to the first line on v1 systems.
    const lines = text.split('\n').filter((l) => l !== '');
    const v2 = lines.find((l) => l.startsWith('0::'));
    return v2 !== undefined ? v2.slice(3) : (lines[0] ?? null);
  }

  /** Socket inodes held open by a process (from fd symlinks `socket:[INODE]`). */
  socketInodes(pid: number): number[] {
    let fds: string[];
    try {
      fds = readdirSync(this.path(pid, 'fd'));
    } catch {
      return [];
    }
    const inodes: number[] = [];
    for (const fd of fds) {
      const target = this.link(this.path(pid, `fd/${fd}`));
      if (target !== null && target.startsWith('socket:[')) inodes.push(Number(target.slice(8, -1)));
    }
    return inodes;
  }

  /** A file under the root, e.g. `net/tcp`; null when absent. */
  file(relative: string): string | null {
    return this.text(`${this.root}/${relative}`);
  }

  /** Wall-clock boot time in ms, from the `btime` line of /proc/stat; null when unreadable. */
  bootTimeMs(): number | null {
    const m = /^btime (\d+)$/m.exec(this.file('stat') ?? '');
    return m === null ? null : Number(m[1]) * 1000;
  }

  /** Seconds since boot, from /proc/uptime; null when it cannot be read (never a made-up 0). */
  uptimeSeconds(): number | null {
    const text = this.file('uptime');
    const seconds = text === null ? NaN : Number(text.split(' ')[0]);
    return Number.isFinite(seconds) ? seconds : null;
  }
}
