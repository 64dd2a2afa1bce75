/**
 * N extra sleeping processes with a distinctive name, to measure how checks scale with the
 * process count. One `sh` forks them all (no native code, ~1,400 forks/s on 2 cores); it is
 * started in its own process group so one kill(-pgid) ends the shell and every sleeper, and
 * an exit hook does that even when the benchmark fails half way. Each sleeper also ends by
 * itself after `seconds`, the last line of defence if this process is SIGKILLed.
 *
 * The sleepers exec a symlink named NAME that points to the real `sleep`: the kernel takes
 * comm from the path given to execve (so comm is NAME, what ps.monitor and check_procs -C
 * match), while /proc/PID/exe resolves to the real binary (so `exe=` selectors match it).
 */

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, symlinkSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, delimiter } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

/** Absolute, symlink-free path of an executable found on PATH. */
export function whichReal(command) {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    const candidate = join(dir, command);
    if (existsSync(candidate)) return realpathSync(candidate);
  }
  throw new Error(`${command} not found on PATH`);
}

/** Number of processes (thread-group leaders) now in /proc. */
export function processCount() {
  return readdirSync('/proc').filter((n) => /^\d+$/.test(n)).length;
}

/** How many processes have this exact comm; zombies (exited, not yet reaped) only if asked. */
export function countByComm(comm, { zombies = false } = {}) {
  let n = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
    } catch {
      continue; // gone between readdir and read
    }
    const close = stat.lastIndexOf(')');
    if (stat.slice(stat.indexOf('(') + 1, close) === comm && (zombies || stat[close + 2] !== 'Z')) n++;
  }
  return n;
}

/** Refuses early, with the reason, when the kernel or rlimits would not let N more processes exist. */
export function checkRoomFor(extra) {
  const now = processCount();
  const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
  const threadsMax = Number(readFileSync('/proc/sys/kernel/threads-max', 'utf8'));
  const problems = [];
  // RLIMIT_NPROC (`ulimit -u`) counts the user's processes; root is not held to it.
  const limit = /^Max processes\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? 'unlimited';
  if (limit !== 'unlimited' && process.getuid?.() !== 0 && Number(limit) < now + extra + 500) {
    problems.push(`ulimit -u is ${limit}: too low for ${extra} more processes (raise it, or run as root)`);
  }
  // Leave headroom for the tools being measured and their children (ps, perl, node threads).
  const needed = now + extra + 500;
  if (pidMax < needed) problems.push(`kernel.pid_max is ${pidMax}, need ≥ ${needed}`);
  if (threadsMax < needed) problems.push(`kernel.threads-max is ${threadsMax}, need ≥ ${needed}`);
  return { now, pidMax, threadsMax, nproc: limit, problems };
}

export class Sleepers {
  #child = null;
  #dir = null;
  #onExit = () => this.killNow();

  constructor(count, { name = 'pwbench-sleep', seconds = 600 } = {}) {
    if (name.length > 15) throw new Error(`comm is at most 15 bytes: '${name}'`);
    this.count = count;
    this.name = name;
    this.seconds = seconds;
    this.sleepPath = whichReal('sleep');
  }

  /** Starts the sleepers and returns once /proc shows exactly `count` of them. */
  async start({ timeoutMs = 60_000 } = {}) {
    const room = checkRoomFor(this.count);
    if (room.problems.length > 0) throw new Error(`cannot start ${this.count} sleepers: ${room.problems.join('; ')}`);
    const already = countByComm(this.name, { zombies: true });
    if (already > 0) throw new Error(`${already} processes named ${this.name} already exist (left from an earlier run? kill them first)`);

    this.#dir = mkdtempSync(join(tmpdir(), 'pwbench-'));
    const link = join(this.#dir, this.name);
    symlinkSync(this.sleepPath, link);
    // $0 is the symlink, $1 the count, $2 the lifetime. `wait` keeps the shell (the group
    // leader) alive so the group stays addressable until we kill it.
    const script = 'i=0; while [ "$i" -lt "$1" ]; do "$0" "$2" & i=$((i+1)); done; echo started; wait';
    process.on('exit', this.#onExit);
    this.#child = spawn('/bin/sh', ['-c', script, link, String(this.count), String(this.seconds)], {
      detached: true, // own process group (setsid): kill(-pid) reaches every sleeper
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.#child.unref();
    const started = new Promise((resolve, reject) => {
      this.#child.once('error', reject);
      this.#child.once('exit', (code, signal) => reject(new Error(`sleeper shell exited early (${code ?? signal})`)));
      this.#child.stdout.on('data', (d) => { if (String(d).includes('started')) resolve(); });
    });
    const deadline = Date.now() + timeoutMs;
    await Promise.race([started, delay(timeoutMs).then(() => { throw new Error('sleepers did not start in time'); })]);
    // The last forks may not have exec'd yet (comm is still "sh" until they do): wait for /proc.
    for (;;) {
      const seen = countByComm(this.name);
      if (seen === this.count) return seen;
      if (seen > this.count) throw new Error(`/proc shows ${seen} processes named ${this.name}, expected ${this.count}`);
      if (Date.now() > deadline) throw new Error(`only ${seen} of ${this.count} sleepers appeared in /proc`);
      await delay(50);
    }
  }

  /** Synchronous, so it can run from an 'exit' hook: SIGKILL the whole group, remove the symlink. */
  killNow() {
    if (this.#child?.pid !== undefined) {
      try {
        process.kill(-this.#child.pid, 'SIGKILL');
      } catch (err) {
        if (err.code !== 'ESRCH') throw err;
      }
    }
    if (this.#dir !== null) rmSync(this.#dir, { recursive: true, force: true });
    this.#dir = null;
  }

  /**
   * Kills them all and waits until /proc shows none, zombies included: the orphans are
   * reaped by init (or a subreaper), and a later measurement must not scan their corpses.
   */
  async stop({ timeoutMs = 30_000 } = {}) {
    this.killNow();
    process.off('exit', this.#onExit);
    const deadline = Date.now() + timeoutMs;
    while (countByComm(this.name, { zombies: true }) > 0) {
      if (Date.now() > deadline) throw new Error(`${countByComm(this.name, { zombies: true })} sleepers still in /proc after kill (is init reaping orphans?)`);
      await delay(50);
    }
    this.#child = null;
  }
}
