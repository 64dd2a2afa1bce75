/**
 * Real processes for end-to-end tests: copies of small binaries under distinctive names, started,
 * waited for, and always cleaned up. Each started process leads its own process group, so stopping
 * it also stops whatever it forked.
 */

import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Four random lowercase letters/digits: process names stay unique when test runs overlap. */
export function uniqueTag(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(4)].map((b) => alphabet[b % alphabet.length]).join('');
}

/** Polls `probe` every `stepMs` until it returns something other than null/undefined/false. */
export async function waitFor<T>(what: string, probe: () => T | null | undefined | false, timeoutMs = 30_000, stepMs = 10): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== null && value !== undefined && value !== false) return value;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(stepMs);
  }
}

/** Polls `check` every 10 ms for up to `ms`; whether it came true (for asserting with a message of one's own). */
export async function cameTrue(check: () => boolean, ms = 30_000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (check()) return true;
    await sleep(10);
  }
  return check();
}

/** The full path of a command from the usual system directories and PATH, or null. */
export function which(cmd: string): string | null {
  const dirs = ['/usr/bin', '/bin', '/usr/sbin', '/sbin', '/usr/local/bin', ...(process.env.PATH ?? '').split(':')];
  return dirs.map((d) => join(d, cmd)).find((p) => p !== cmd && existsSync(p)) ?? null;
}

/** The kernel command name of a live process, or null when it is gone. */
export function commOf(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').replace(/\n$/, '');
  } catch {
    return null;
  }
}

/** Waits until the process has exec'd its final image (setpriv, for one, execs a second time). */
export function waitForComm(pid: number, comm: string, timeoutMs = 30_000): Promise<true> {
  return waitFor(`pid ${pid} to be '${comm}' (is '${String(commOf(pid))}')`, () => commOf(pid) === comm, timeoutMs);
}

export interface Started {
  child: ChildProcess;
  pid: number;
  /** Resolves once the process has exited and been reaped (it is no longer even a zombie). */
  exited: Promise<void>;
}

export interface StartOptions {
  stdio?: StdioOptions;
  /** Wait until /proc/PID/comm is this before resolving. */
  comm?: string;
}

/** Owns every process and temporary directory a test file creates; `cleanup()` in `after()`. */
export class Processes {
  private readonly started: Started[] = [];
  private readonly dirs: string[] = [];

  /** A fresh directory under the system temp dir, readable by other users (setpriv'd processes exec from it). */
  tempDir(prefix = 'procwatch-test-'): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    chmodSync(dir, 0o755);
    this.dirs.push(dir);
    return dir;
  }

  /** Copies `binary` into `dir` as `name` (its comm, when ≤ 15 bytes), executable by everyone. */
  copy(binary: string, dir: string, name: string): string {
    const path = join(dir, name);
    copyFileSync(binary, path);
    chmodSync(path, 0o755);
    return path;
  }

  /** Starts a process in its own process group and resolves once it has exec'd (and has `comm`, if given). */
  async start(file: string, args: string[], options: StartOptions = {}): Promise<Started> {
    const child = spawn(file, args, { stdio: options.stdio ?? 'ignore', detached: true });
    const exited = new Promise<void>((r) => {
      if (child.exitCode !== null || child.signalCode !== null) r();
      else child.once('exit', () => r());
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    const started: Started = { child, pid: child.pid!, exited };
    this.started.push(started);
    if (options.comm !== undefined) await waitForComm(started.pid, options.comm);
    return started;
  }

  /** Starts `count` instances of the same command. */
  async startMany(count: number, file: string, args: string[], options: StartOptions = {}): Promise<Started[]> {
    const all: Started[] = [];
    for (let i = 0; i < count; i++) all.push(await this.start(file, args, options));
    return all;
  }

  /** SIGKILLs the process and its group and waits until it is reaped. */
  async stop(p: Started): Promise<void> {
    try {
      process.kill(-p.pid, 'SIGKILL');
    } catch {
      // The whole group is already gone.
    }
    await p.exited;
  }

  /** Stops everything still running and removes the temporary directories. */
  async cleanup(): Promise<void> {
    await Promise.all(this.started.map((p) => this.stop(p)));
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
  }
}

/** Live processes whose parent is `ppid` (and whose comm is `comm`, if given), from a scan of /proc. */
export function childPids(ppid: number, comm?: string): number[] {
  return processParents().filter((p) => p.ppid === ppid && (comm === undefined || p.comm === comm)).map((p) => p.pid);
}

/** Live processes below `root` at any depth (whose comm is `comm`, if given), from one scan of /proc. */
export function descendantPids(root: number, comm?: string): number[] {
  const all = processParents();
  const below = new Set([root]);
  // Parents are not always listed before their children (pids wrap): repeat until nothing is added.
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of all) {
      if (!below.has(p.pid) && below.has(p.ppid)) {
        below.add(p.pid);
        grew = true;
      }
    }
  }
  return all.filter((p) => p.pid !== root && below.has(p.pid) && (comm === undefined || p.comm === comm)).map((p) => p.pid);
}

function processParents(): { pid: number; ppid: number; comm: string }[] {
  const found: { pid: number; ppid: number; comm: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    const close = stat.lastIndexOf(')');
    const name = stat.slice(stat.indexOf('(') + 1, close);
    const fields = stat.slice(close + 2).split(' ');
    found.push({ pid: Number(entry), ppid: Number(fields[1]), comm: name });
  }
  return found.sort((a, b) => a.pid - b.pid);
}
