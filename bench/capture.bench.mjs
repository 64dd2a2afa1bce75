/**
 * Behaviour capture (issue 18): what each capture costs the work it watches, with the feature
 * on vs off, side by side in the same run.
 *
 *   syscalls  (watch --syscalls)  tar cf /dev/null /usr        a realistic workload (goal: < 5%)
 *                                 1,000,000 getpid() calls     the worst case: the cheapest syscall
 *   sessions  (watch --sessions)  1 GiB over loopback TCP      goal: < 2% of the transfer's CPU
 *   shell     (watch --shell)     bash typing 10,000 lines     goal: not measurable
 *
 * Cases, for every workload: `none` (no procwatch running), `off` (procwatch watch --source
 * ebpf with its defaults: process events only), `on` (the same with the feature) and `peer`:
 * bpftrace on the same kernel hook doing the least that does the same job, as the floor
 * (syscalls: `@[pid, args->id] = count()` on raw_syscalls:sys_enter; sessions: a count on
 * sock:inet_sock_set_state; shell: a count in a uretprobe on bash's readline). Only one
 * watcher runs at a time (a loaded program affects every process of the machine), started
 * fresh for each measured run and stopped after it; the cases are interleaved round by round,
 * in a rotating order, so that the load of a shared machine hits each alike; medians are shown.
 * Measured per run: the workload's wall time and its CPU time (user + system of its whole
 * process tree, from getrusage(RUSAGE_CHILDREN) in a python3 wrapper: what the eBPF programs
 * run in the workload's context is charged there), and the watcher's own CPU while the
 * workload ran. Each `on` run checks that the capture really happened: the getpid count in
 * the profile, the session's bytes, the number of shell lines. The load average is printed
 * before and after. BENCH_CAPTURE_RUNS (default 5) sets the rounds, BENCH_CAPTURE_ONLY a
 * comma list of workloads (tar, getpid, tcp, shell).
 */

import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { machineLine, markdownTable } from './lib/report.mjs';
import { summarize } from './lib/timing.mjs';

const RUNS = positiveInt(process.env.BENCH_CAPTURE_RUNS, 5);
const GETPIDS = 1_000_000;
const TCP_BYTES = 1 << 30;
const SHELL_LINES = 10_000;
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

/** One process forks: the child connects to the parent over 127.0.0.1 and sends N bytes; the parent reads them all. */
const C_TCP = `#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
  long long total = atoll(argv[1]), got = 0;
  static char buf[1 << 17];
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  socklen_t len = sizeof a;
  int l = socket(AF_INET, SOCK_STREAM, 0);
  if (l < 0 || bind(l, (void *)&a, sizeof a) || listen(l, 1) || getsockname(l, (void *)&a, &len)) return 2;
  pid_t child = fork();
  if (child == 0) {
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, (void *)&a, sizeof a)) return 3;
    memset(buf, 'x', sizeof buf);
    for (long long sent = 0; sent < total;) {
      ssize_t n = write(c, buf, total - sent < (long long)sizeof buf ? (size_t)(total - sent) : sizeof buf);
      if (n <= 0) return 4;
      sent += n;
    }
    close(c);
    return 0;
  }
  int s = accept(l, NULL, NULL);
  for (ssize_t n; (n = read(s, buf, sizeof buf)) > 0;) got += n;
  close(s);
  int status = 0;
  waitpid(child, &status, 0);
  return got == total && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 5;
}
`;

/** Runs argv to completion; wall seconds and CPU seconds (user + system) of its whole tree. */
const RUSAGE = `import resource, subprocess, sys, time
t = time.monotonic()
r = subprocess.run(sys.argv[2:], stdin=open(sys.argv[1]) if sys.argv[1] != '-' else subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
w = time.monotonic() - t
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print(r.returncode, w, u.ru_utime + u.ru_stime)`;

function measure(argv, stdinFile = '-') {
  const r = spawnSync('python3', ['-c', RUSAGE, stdinFile, ...argv], { encoding: 'utf8' });
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

/** Every tool started and not yet stopped: killed if the benchmark ends early. */
const running = new Set();

/**
 * SIGINT, then again every second (a SIGINT that lands while bpftrace is still setting up is
 * lost: seen once in ~20 runs), then SIGKILL after 10 s; resolves when it has exited.
 */
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

/** bpftrace with `program`, output into a file; resolves once its probes are attached. */
async function startBpftrace(dir, program) {
  const out = join(dir, `bpftrace-${Date.now()}.txt`);
  const fd = openSync(out, 'w');
  const child = spawn('bpftrace', ['-e', program], { stdio: ['ignore', fd, fd] });
  running.add(child);
  closeSync(fd);
  const until = Date.now() + 60_000;
  while (!readFileSync(out, 'utf8').includes('Attaching') && child.exitCode === null && Date.now() < until) await delay(20);
  if (!readFileSync(out, 'utf8').includes('Attaching')) throw new Error(`bpftrace did not start: ${readFileSync(out, 'utf8')}`);
  await delay(1000); // "Attaching" comes before the probes are all in place
  return {
    pid: child.pid,
    stop: async () => {
      await interrupt(child);
      return [];
    },
  };
}

/** procwatch watch with `flags`, output into a file; resolves once it watches. */
async function startWatcher(root, dir, flags, kinds) {
  const out = join(dir, `watch-${Date.now()}-${Math.random().toString(36).slice(2)}.ndjson`);
  const fd = openSync(out, 'w');
  const child = spawn(process.execPath, [join(root, 'bin/procwatch'), 'watch', '--source', 'ebpf', '--json', '--kind', kinds, ...flags], { stdio: ['ignore', fd, 'pipe'] });
  running.add(child);
  closeSync(fd);
  let err = '';
  child.stderr.on('data', (d) => (err += d.toString()));
  const until = Date.now() + 30_000;
  while (!err.includes('watching with') && child.exitCode === null && Date.now() < until) await delay(20);
  if (!err.includes('watching with')) throw new Error(`watch ${flags.join(' ')} did not start: ${err}`);
  return {
    pid: child.pid,
    stop: async () => {
      await interrupt(child);
      return readFileSync(out, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    },
  };
}

export async function run({ root }) {
  const dir = mkdtempSync(join(tmpdir(), 'pw-bench-capture-'));
  try {
    for (const [name, src] of [['getpids', C_GETPIDS], ['tcpxfer', C_TCP]]) {
      writeFileSync(join(dir, `${name}.c`), src);
      const cc = spawnSync('cc', ['-O2', '-o', join(dir, name), join(dir, `${name}.c`)], { encoding: 'utf8' });
      if (cc.status !== 0) throw new Error(`cc ${name}: ${cc.stderr}`);
    }
    const lines = join(dir, 'lines.txt');
    writeFileSync(lines, `${Array.from({ length: SHELL_LINES }, (_, i) => `: line ${i + 1} of the typing loop`).join('\n')}\nexit\n`);
    const bashArgv = ['script', '-qfc', "env -i HISTFILE=/dev/null TERM=dumb 'PS1=$ ' bash --norc --noprofile -i", '/dev/null'];

    /** Each workload, the flag that turns its capture on, and what an `on` run must have captured. */
    const workloads = [
      { id: 'tar', what: 'tar cf /dev/null /usr', feature: 'syscalls', flags: ['--syscalls'], kinds: 'lost,syscalls', argv: ['tar', 'cf', '/dev/null', '/usr'],
        peer: 'tracepoint:raw_syscalls:sys_enter { @[pid, args->id] = count(); }',
        check: (events, pid) => events.some((e) => e.kind === 'syscalls' && e.final && e.total > 100_000) || `no profile of tar (${pid})` },
      { id: 'getpid', what: `${GETPIDS.toLocaleString('en-US')} getpid() calls`, feature: 'syscalls', flags: ['--syscalls'], kinds: 'lost,syscalls', argv: [join(dir, 'getpids'), String(GETPIDS)],
        peer: 'tracepoint:raw_syscalls:sys_enter { @[pid, args->id] = count(); }',
        check: (events) => events.some((e) => e.kind === 'syscalls' && e.counts.getpid === GETPIDS) || 'no profile with the exact getpid count' },
      { id: 'tcp', what: '1 GiB over loopback TCP', feature: 'sessions', flags: ['--sessions'], kinds: 'lost,session', argv: [join(dir, 'tcpxfer'), String(TCP_BYTES)],
        peer: 'tracepoint:sock:inet_sock_set_state { @[args->newstate] = count(); }',
        check: (events) => events.some((e) => e.kind === 'session' && e.bytesReceived === TCP_BYTES) || 'no session with the transfer\'s bytes' },
      { id: 'shell', what: `bash typing ${SHELL_LINES.toLocaleString('en-US')} lines`, feature: 'shell', flags: ['--shell'], kinds: 'lost,shell', argv: bashArgv, stdin: lines,
        peer: `uretprobe:${realpathSync('/bin/bash')}:readline { @ = count(); }`,
        check: (events) => {
          const n = events.filter((e) => e.kind === 'shell' && e.line.startsWith(': line ')).length;
          return n === SHELL_LINES || `${n} of ${SHELL_LINES} shell lines captured`;
        } },
    ];
    const only = process.env.BENCH_CAPTURE_ONLY?.split(',');
    const chosen = workloads.filter((w) => only === undefined || only.includes(w.id));
    const havePeer = spawnSync('bpftrace', ['--version']).status === 0;
    if (!havePeer) console.log('bpftrace not installed: no peer column (apt-get install bpftrace)');
    const cases = havePeer ? ['none', 'off', 'on', 'peer'] : ['none', 'off', 'on'];
    const load0 = loadavg();
    console.log(machineLine());
    console.log(`load average before: ${load0.map((l) => l.toFixed(2)).join(' ')}; ${RUNS} rounds, each case of each workload once per round, order rotating`);
    const samples = new Map(); // `${workload}/${case}` -> { wall: [], cpu: [], watcher: [] }
    let failures = 0;
    for (let round = 0; round < RUNS + 1; round++) { // round 0 warms the page cache and is not kept
      for (const w of chosen) {
        const order = cases.map((_, i) => cases[(i + round) % cases.length]);
        for (const c of order) {
          const watcher = c === 'none' ? null : c === 'peer' ? await startBpftrace(dir, w.peer)
            : await startWatcher(root, dir, c === 'on' ? w.flags : [], c === 'on' ? w.kinds : 'lost');
          const before = watcher === null ? 0 : cpuSeconds(watcher.pid);
          const m = measure(w.argv, w.stdin);
          const watcherCpu = watcher === null ? 0 : cpuSeconds(watcher.pid) - before;
          const events = watcher === null ? [] : await watcher.stop();
          const lost = events.filter((e) => e.kind === 'lost').reduce((n, e) => n + (e.count ?? 1), 0);
          if (c === 'on') {
            const verdict = w.check(events);
            if (verdict !== true) {
              failures++;
              console.log(`  round ${round} ${w.id}: CAPTURE CHECK FAILED: ${verdict}`);
            }
          }
          if (lost > 0) console.log(`  round ${round} ${w.id}/${c}: ${lost} events lost`);
          if (round === 0) continue;
          const key = `${w.id}/${c}`;
          if (!samples.has(key)) samples.set(key, { wall: [], cpu: [], watcher: [] });
          const s = samples.get(key);
          s.wall.push(m.wall);
          s.cpu.push(m.cpu);
          s.watcher.push(watcherCpu);
        }
      }
      process.stdout.write(round === 0 ? 'warm-up done\n' : `round ${round}/${RUNS}\n`);
    }
    const load1 = loadavg();
    const med = (key, field) => summarize(samples.get(key)[field]).median;
    const pct = (a, b) => `${a >= b ? '+' : ''}${(((a - b) / b) * 100).toFixed(1)}%`;
    const rows = chosen.map((w) => {
      const k = (c) => `${w.id}/${c}`;
      const peer = (field) => (havePeer ? [med(k('peer'), field).toFixed(3), pct(med(k('peer'), field), med(k('none'), field))] : ['—', '—']);
      return [
        w.what, w.feature,
        med(k('none'), 'wall').toFixed(3), med(k('off'), 'wall').toFixed(3), med(k('on'), 'wall').toFixed(3), pct(med(k('on'), 'wall'), med(k('off'), 'wall')),
        med(k('none'), 'cpu').toFixed(3), med(k('off'), 'cpu').toFixed(3), med(k('on'), 'cpu').toFixed(3), pct(med(k('on'), 'cpu'), med(k('off'), 'cpu')),
        ...peer('cpu'),
        `${med(k('off'), 'watcher').toFixed(2)} / ${med(k('on'), 'watcher').toFixed(2)}`,
      ];
    });
    console.log('');
    console.log(markdownTable(
      ['workload', 'capture', 'wall none s', 'wall off s', 'wall on s', 'on vs off', 'CPU none s', 'CPU off s', 'CPU on s', 'on vs off', 'CPU peer s', 'peer vs none', 'watcher CPU off / on s'],
      rows, ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r']));
    // The spread, so a reader can tell a difference from noise: min-max of each case's CPU.
    console.log('');
    console.log(markdownTable(['workload', 'case', 'runs', 'wall min–max s', 'CPU min–max s'], chosen.flatMap((w) => cases.map((c) => {
      const s = samples.get(`${w.id}/${c}`);
      const wall = summarize(s.wall);
      const cpu = summarize(s.cpu);
      return [w.id, c, wall.runs, `${wall.min.toFixed(3)}–${wall.max.toFixed(3)}`, `${cpu.min.toFixed(3)}–${cpu.max.toFixed(3)}`];
    })), ['l', 'l', 'r', 'r', 'r']));
    console.log(`\nload average after: ${load1.map((l) => l.toFixed(2)).join(' ')}`);
    const goal = (id, field, limit, text) => {
      if (!samples.has(`${id}/on`)) return;
      const over = (med(`${id}/on`, field) - med(`${id}/off`, field)) / med(`${id}/off`, field);
      console.log(`${over * 100 < limit ? 'PASS' : 'FAIL'}: ${text} (${(over * 100).toFixed(1)}%, goal < ${limit}%)`);
    };
    console.log('');
    goal('tar', 'cpu', 5, 'syscall counting adds under 5% to tar cf /dev/null /usr (CPU)');
    goal('tar', 'wall', 5, 'syscall counting adds under 5% to tar cf /dev/null /usr (wall)');
    if (samples.has('getpid/on')) console.log(`INFO: the worst case, ${GETPIDS.toLocaleString('en-US')} getpid calls: ${pct(med('getpid/on', 'cpu'), med('getpid/off', 'cpu'))} CPU (${(((med('getpid/on', 'cpu') - med('getpid/off', 'cpu')) / GETPIDS) * 1e9).toFixed(0)} ns per syscall)`);
    goal('tcp', 'cpu', 2, 'sessions add under 2% to the 1 GiB transfer\'s CPU');
    if (samples.has('shell/on')) {
      const s = samples.get('shell/off').cpu;
      const spread = (summarize(s).max - summarize(s).min) / summarize(s).median;
      const over = (med('shell/on', 'cpu') - med('shell/off', 'cpu')) / med('shell/off', 'cpu');
      console.log(`${Math.abs(over) <= spread ? 'PASS' : 'FAIL'}: shell capture is not measurable in the typing loop (${(over * 100).toFixed(1)}% CPU, within the off runs' own spread of ${(spread * 100).toFixed(1)}%)`);
    }
    return failures === 0;
  } finally {
    for (const child of running) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}
