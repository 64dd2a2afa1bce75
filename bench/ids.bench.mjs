/**
 * What the eBPF source's uid, gid, sid and ptrace events cost the work it watches (their
 * programs sit on the set*id, setsid and ptrace syscall tracepoints; once any syscall
 * tracepoint has a program, every syscall of every task takes the kernel's syscall-tracing
 * path, whichever syscall it is). Side by side in the same run:
 *
 *   none     no watcher
 *   off      procwatch watch --source ebpf --no-id-events   (exec/exit, comm and coredump)
 *   on       procwatch watch --source ebpf                  (the default: with id events)
 *   netlink  procwatch watch --source netlink               (the peer: the proc connector
 *                                                            reports the same changes)
 *
 * Workloads: the exec storm of the watch benchmark (bench/storm/storm.c: BENCH_IDS_STORM,
 * default 10,000 `/bin/true` from one worker; every process makes ~30 syscalls besides its
 * fork, exec and exit) and the worst case, 1,000,000 getpid() calls. Measured per run: the
 * workload's wall time and CPU (user + system of its whole tree, getrusage(RUSAGE_CHILDREN) in
 * a python3 wrapper: what the programs and the tracing path cost lands there), and the
 * watcher's own CPU. One watcher at a time, started fresh for each run; the cases rotate
 * round by round so the load of a shared machine hits each alike; medians of
 * BENCH_IDS_RUNS (default 5) rounds after a warm-up round.
 */

import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { machineLine, markdownTable } from './lib/report.mjs';
import { summarize } from './lib/timing.mjs';
import { buildStorm } from './lib/storm.mjs';

const RUNS = positiveInt(process.env.BENCH_IDS_RUNS, 5);
const STORM = positiveInt(process.env.BENCH_IDS_STORM, 10_000);
const GETPIDS = 1_000_000;
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

function positiveInt(text, fallback) {
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`expected a positive integer, got '${text}'`);
  return n;
}

const C_GETPIDS = `#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(int argc, char **argv) { long n = atol(argv[1]); for (long i = 0; i < n; i++) syscall(SYS_getpid); return 0; }
`;

/** Runs argv to completion; wall seconds and CPU seconds (user + system) of its whole tree. */
const RUSAGE = `import resource, subprocess, sys, time
t = time.monotonic()
r = subprocess.run(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
w = time.monotonic() - t
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print(r.returncode, w, u.ru_utime + u.ru_stime)`;

function measure(argv) {
  const r = spawnSync('python3', ['-c', RUSAGE, ...argv], { encoding: 'utf8' });
  const [code, wall, cpu] = r.stdout.trim().split(' ').map(Number);
  if (r.status !== 0 || code !== 0) throw new Error(`${argv.join(' ')} failed (exit ${code}): ${r.stderr}`);
  return { wall, cpu };
}

function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}

const running = new Set();

async function interrupt(child) {
  const gone = new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.on('exit', r)));
  for (let i = 0; i < 10 && child.exitCode === null && child.signalCode === null; i++) {
    child.kill('SIGINT');
    await Promise.race([gone, delay(1000)]);
  }
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await gone;
  running.delete(child);
}

/** procwatch watch (exec, exit and the change kinds into a file); resolves once it watches. */
async function startWatcher(root, dir, args) {
  const out = join(dir, `watch-${Date.now()}-${Math.random().toString(36).slice(2)}.ndjson`);
  const fd = openSync(out, 'w');
  const child = spawn(process.execPath, [join(root, 'bin/procwatch'), 'watch', '--json', '--kind', 'exec,exit,lost,uid,gid,sid,ptrace,comm', ...args], { stdio: ['ignore', fd, 'pipe'] });
  running.add(child);
  closeSync(fd);
  let err = '';
  child.stderr.on('data', (d) => (err += d.toString()));
  const until = Date.now() + 30_000;
  while (!err.includes('watching with') && child.exitCode === null && Date.now() < until) await delay(20);
  if (!err.includes('watching with')) throw new Error(`watch ${args.join(' ')} did not start: ${err}`);
  return {
    pid: child.pid,
    stop: async () => {
      await interrupt(child);
      return readFileSync(out, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    },
  };
}

/**
 * Syscall tracepoints with a program of anyone else's (other tools, other test runs): while
 * one is attached, every task already takes the syscall-tracing path, which makes `off` pay
 * part of what `on` adds. Counted from `bpftool perf list` (null without bpftool).
 */
function othersSyscallTracepoints(ours) {
  const r = spawnSync('bpftool', ['perf', 'list'], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  return r.stdout.split('\n').filter((l) => /tracepoint\s+sys_(enter|exit)/.test(l) && !ours.some((pid) => l.startsWith(`pid ${pid} `))).length;
}

const CASES = {
  none: null,
  off: ['--source', 'ebpf', '--no-id-events'],
  on: ['--source', 'ebpf'],
  netlink: ['--source', 'netlink'],
};

export async function run({ root }) {
  const dir = mkdtempSync(join(tmpdir(), 'pw-bench-ids-'));
  const storm = buildStorm(root);
  try {
    writeFileSync(join(dir, 'getpids.c'), C_GETPIDS);
    const cc = spawnSync('cc', ['-O2', '-o', join(dir, 'getpids'), join(dir, 'getpids.c')], { encoding: 'utf8' });
    if (cc.status !== 0) throw new Error(`cc getpids: ${cc.stderr}`);
    const workloads = [
      { id: 'storm', what: `exec storm, ${STORM.toLocaleString('en-US')} /bin/true`, argv: [storm.bin, String(STORM), '1', join(dir, 'pids')], per: STORM, unit: 'µs per process' },
      { id: 'getpid', what: `${GETPIDS.toLocaleString('en-US')} getpid() calls`, argv: [join(dir, 'getpids'), String(GETPIDS)], per: GETPIDS, unit: 'ns per call' },
    ];
    const cases = Object.keys(CASES);
    const load0 = loadavg();
    console.log(machineLine());
    console.log(`load average before: ${load0.map((l) => l.toFixed(2)).join(' ')}; ${RUNS} rounds, each case of each workload once per round, order rotating`);
    const samples = new Map();
    let failures = 0;
    for (let round = 0; round < RUNS + 1; round++) { // round 0 warms up and is not kept
      for (const w of workloads) {
        const order = cases.map((_, i) => cases[(i + round) % cases.length]);
        for (const c of order) {
          const watcher = CASES[c] === null ? null : await startWatcher(root, dir, CASES[c]);
          const others = othersSyscallTracepoints(watcher === null ? [] : [watcher.pid]);
          if (others !== null && others > 0) console.log(`  round ${round} ${w.id}/${c}: ${others} syscall tracepoint program(s) of other processes attached`);
          const before = watcher === null ? 0 : cpuSeconds(watcher.pid);
          const m = measure(w.argv);
          const watcherCpu = watcher === null ? 0 : cpuSeconds(watcher.pid) - before;
          const events = watcher === null ? [] : await watcher.stop();
          const lost = events.filter((e) => e.kind === 'lost').reduce((n, e) => n + (e.count ?? 1), 0);
          if (lost > 0) console.log(`  round ${round} ${w.id}/${c}: ${lost} events lost`);
          if (watcher !== null && w.id === 'storm' && events.filter((e) => e.kind === 'exec').length < STORM) {
            failures++;
            console.log(`  round ${round} ${w.id}/${c}: only ${events.filter((e) => e.kind === 'exec').length} execs seen of ${STORM}`);
          }
          if (round === 0) continue;
          const key = `${w.id}/${c}`;
          if (!samples.has(key)) samples.set(key, { wall: [], cpu: [], watcher: [] });
          samples.get(key).wall.push(m.wall);
          samples.get(key).cpu.push(m.cpu);
          samples.get(key).watcher.push(watcherCpu);
        }
      }
      process.stdout.write(round === 0 ? 'warm-up done\n' : `round ${round}/${RUNS}\n`);
    }
    const load1 = loadavg();
    const med = (key, field) => summarize(samples.get(key)[field]).median;
    const pct = (a, b) => `${a >= b ? '+' : ''}${(((a - b) / b) * 100).toFixed(1)}%`;
    console.log('');
    console.log(markdownTable(
      ['workload', 'CPU none s', 'CPU off s', 'CPU on s', 'CPU netlink s', 'on vs off', 'on − off', 'netlink vs none', 'wall on vs off', 'watcher CPU off / on / netlink s'],
      workloads.map((w) => {
        const k = (c) => `${w.id}/${c}`;
        const extra = ((med(k('on'), 'cpu') - med(k('off'), 'cpu')) / w.per) * (w.unit.startsWith('µs') ? 1e6 : 1e9);
        return [
          w.what, ...cases.map((c) => med(k(c), 'cpu').toFixed(3)),
          pct(med(k('on'), 'cpu'), med(k('off'), 'cpu')), `${extra.toFixed(w.unit.startsWith('µs') ? 2 : 0)} ${w.unit}`,
          pct(med(k('netlink'), 'cpu'), med(k('none'), 'cpu')), pct(med(k('on'), 'wall'), med(k('off'), 'wall')),
          ['off', 'on', 'netlink'].map((c) => med(k(c), 'watcher').toFixed(2)).join(' / '),
        ];
      }), ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r']));
    console.log('');
    console.log(markdownTable(['workload', 'case', 'runs', 'wall min–max s', 'CPU min–max s'], workloads.flatMap((w) => cases.map((c) => {
      const s = samples.get(`${w.id}/${c}`);
      const wall = summarize(s.wall);
      const cpu = summarize(s.cpu);
      return [w.id, c, wall.runs, `${wall.min.toFixed(3)}–${wall.max.toFixed(3)}`, `${cpu.min.toFixed(3)}–${cpu.max.toFixed(3)}`];
    })), ['l', 'l', 'r', 'r', 'r']));
    console.log(`\nload average after: ${load1.map((l) => l.toFixed(2)).join(' ')}`);
    return failures === 0;
  } finally {
    for (const child of running) child.kill('SIGKILL');
    storm.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}
