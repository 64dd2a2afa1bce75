/**
 * The exec storm for the event-source benchmarks: compiles bench/storm/storm.c with `cc -O2`
 * into a temporary directory (no binary is ever committed), runs it, and reads back which
 * processes it made. Also the small /proc readers the benchmark needs to measure the tools
 * watching the storm (CPU time of a process, its thread count).
 */

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Clock ticks per second of /proc/PID/stat's utime and stime (`getconf CLK_TCK`). */
export const CLK_TCK = 100;

/** Compiles the storm driver; returns its path and a cleanup that removes the temp dir. */
export function buildStorm(root) {
  const dir = mkdtempSync(join(tmpdir(), 'pwbench-storm-'));
  const bin = join(dir, 'storm');
  const cc = spawnSync('cc', ['-O2', '-Wall', '-Werror', '-o', bin, join(root, 'bench/storm/storm.c')], { encoding: 'utf8' });
  if (cc.error || cc.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`cannot compile bench/storm/storm.c with cc -O2: ${cc.error?.message ?? cc.stderr}`);
  }
  return { dir, bin, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Runs `storm TOTAL WORKERS PIDFILE [RUSAGE]` (RUSAGE: where the driver writes its children's
 * getrusage totals, "USER_US SYSTEM_US") to completion in its own process group (so an abort can
 * kill every worker with one signal). Returns the wall time and the processes it made: a Map
 * pid → argv[1] ("storm-W-I"), from the PIDFILE.W files the workers wrote. Throws when the
 * driver fails or its files do not list exactly TOTAL processes.
 */
export async function runStorm(bin, { total, workers, pidfile, onSpawn, rusage, exec }) {
  const args = [String(total), String(workers), pidfile, ...(rusage === undefined ? [] : [rusage])];
  const env = exec === undefined ? process.env : { ...process.env, STORM_EXEC: exec };
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true, env });
  onSpawn?.(child);
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const start = process.hrtime.bigint();
  const { code, signal } = await new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (c, s) => resolve({ code: c, signal: s }));
  });
  const wallMs = Number(process.hrtime.bigint() - start) / 1e6;
  if (code !== 0) throw new Error(`storm ${total} ${workers} failed (${code ?? signal}): ${stderr.trim()}`);
  const made = new Map();
  let reused = 0;
  for (let w = 0; w < workers; w++) {
    for (const line of readFileSync(`${pidfile}.${w}`, 'utf8').split('\n')) {
      if (line === '') continue;
      const space = line.indexOf(' ');
      const pid = Number(line.slice(0, space));
      if (!Number.isInteger(pid) || pid <= 0 || space < 0) throw new Error(`storm pidfile ${pidfile}.${w}: bad line '${line}'`);
      if (made.has(pid)) reused++;
      made.set(pid, line.slice(space + 1));
    }
  }
  if (made.size + reused !== total) throw new Error(`storm made ${made.size + reused} processes, expected ${total}`);
  return { wallMs, made, reused, pid: child.pid };
}

/** utime + stime of a process (all its threads, live and ended), in clock ticks; null if gone. */
export function cpuTicks(pid) {
  let stat;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  // Fields after "(comm)" start at field 3 (state); utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[14 - 3]) + Number(fields[15 - 3]);
}

/** Per thread of a process: { tid: { total, sys } } in clock ticks (utime + stime, stime); null if gone. */
export function threadTicks(pid) {
  let tids;
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return null;
  }
  const out = {};
  for (const tid of tids) {
    let stat;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1');
    } catch {
      continue; // the thread ended in between
    }
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out[tid] = { total: Number(f[14 - 3]) + Number(f[15 - 3]), sys: Number(f[15 - 3]) };
  }
  return out;
}
