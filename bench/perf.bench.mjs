/**
 * Issue 16's goals, each printed MET/MISS with its ratio, against the real peers in the same run:
 *
 * storm: the daemon (`procwatch daemon --source ebpf`, default config: store, rules, resource
 *   snapshots, API) during an exec storm of BENCH_STORM (10,000) `/bin/true` from 2 workers
 *   (bench/storm/storm.c, as fast as this machine forks), with `forkstat -e fork,exec,exit`
 *   (Debian forkstat, C, netlink; output to a file) running beside it. CPU = utime+stime of each
 *   process from the storm's start until the daemon has stored every exec. Goals: daemon CPU per
 *   event ≤ forkstat's; daemon under 10% of a core at this machine's max exec rate (the storm's).
 *   BENCH_PERF_ROUNDS (3) rounds, each a fresh daemon and forkstat; medians. Each round then
 *   runs a second storm on the same daemon (a fresh forkstat beside it) and prints its figures
 *   apart: the first storm includes V8 compiling the event path, the second does not. The goals
 *   are judged on the first.
 *   BENCH_PERF_NODE_ARGS="--flag ...[; ...]" and BENCH_PERF_CONFIGS="a.yaml[; b.yaml]" run this
 *   tree again with other node options or daemon configs (experiments), in the same rounds.
 *   `--before=DIR`: also a tree built from an earlier commit (DIR/bin/procwatch; its CLI too), interleaved
 *   round by round with this one, for before/after figures from the same run.
 *   `--prof`: one more round per tree with `node --cpu-prof`; prints the top self-time entries
 *   during the storm (BENCH_PERF_KEEP_PROFILE=DIR keeps each .cpuprofile there).
 * cli: `procwatch --version` vs `node -e 0` (goal: within 15 ms), `procwatch check sshd:0- cron:0-5`
 *   vs mon's ps.monitor with the same specs (goal: within 1.5×) and check_procs (one run per
 *   spec), BENCH_CLI_RUNS (21) interleaved runs each, medians. `node -e 0` runs without
 *   NODE_EXTRA_CA_CERTS, as the launcher does.
 *
 * watch: `procwatch watch --source ebpf --kind fork,exec,exit,lost` (output to a file), text lines
 *   and --json, each with `forkstat -e fork,exec,exit` beside it during the same storm (both print
 *   every fork, exec and exit), BENCH_PERF_ROUNDS rounds (with `--before=DIR`, interleaved): CPU
 *   per storm event of each (3 per exec, the same count for both), RSS after and peak (VmHWM).
 *   Goals: watch CPU per event ≤ forkstat's; watch RSS under 80 MiB.
 *
 * trickle: the daemon (eBPF, default config) while `/bin/true` starts BENCH_TRICKLE_RATE (20) times a
 *   second, as on an ordinary host: after a quiet window (30 s) and BENCH_TRICKLE_WARMUP_S (60) s of
 *   the trickle, BENCH_TRICKLE_S (60) s measured with forkstat beside it; BENCH_PERF_ROUNDS rounds
 *   (with `--before=DIR`, interleaved; BENCH_PERF_NODE_ARGS and BENCH_PERF_CONFIGS as for the
 *   storm). CPU per event of each, and the daemon's above its quiet rate. No goal: the storm's
 *   per-event cost hides what each release, flush and wake-up costs when events come a few at a
 *   time.
 *
 * `npm run bench -- perf [--only=storm|cli|watch|trickle] [--before=DIR] [--prof]`. The storms and
 *   the trickle need root (eBPF).
 */

import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, openSync, closeSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { DaemonProcess, memoryOf, waitForStats } from './lib/daemon.mjs';
import { machineLine, markdownTable, ms } from './lib/report.mjs';
import { whichReal } from './lib/sleepers.mjs';
import { CLK_TCK, buildStorm, cpuTicks, runStorm, threadTicks } from './lib/storm.mjs';
import { timeCases } from './lib/timing.mjs';

const env = process.env;
const STORM = positiveInt(env.BENCH_STORM, 10_000);
const ROUNDS = positiveInt(env.BENCH_PERF_ROUNDS, 3);
const CLI_RUNS = positiveInt(env.BENCH_CLI_RUNS, 21);
const PS_MONITOR = '/usr/lib/mon/mon-local.d/ps.monitor';
const CHECK_PROCS = '/usr/lib/nagios/plugins/check_procs';
const SPECS = ['sshd:0-', 'cron:0-5'];

function positiveInt(text, fallback) {
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`expected a positive integer, got '${text}'`);
  return n;
}

const verdict = (ok) => (ok ? 'MET ' : 'MISS');
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');
const sumKinds = (s) => Object.values(s.eventsByKind).reduce((a, b) => a + b, 0);

// ---- storm --------------------------------------------------------------------------------------

/** forkstat printing every fork, exec and exit into a file; its pid for /proc readings. */
async function startForkstat(forkstat, dir) {
  const out = openSync(join(dir, 'forkstat.out'), 'w');
  const child = spawn(forkstat, ['-e', 'fork,exec,exit'], { stdio: ['ignore', out, 'ignore'] });
  closeSync(out);
  await delay(500); // its netlink subscription is made at once; give it time to print its header
  if (child.exitCode !== null) throw new Error(`forkstat exited at once (${child.exitCode})`);
  return child;
}

function forkstatLines(dir) {
  const text = readFileSync(join(dir, 'forkstat.out'), 'latin1');
  let n = 0;
  for (const line of text.split('\n')) if (/^\S+ (fork|exec|exit) /.test(line)) n++;
  return n;
}

/**
 * One round: a fresh daemon (tree `root`), forkstat beside it, one storm; then, with
 * `warm`, a second storm on the same daemon and a fresh forkstat. The first storm pays for
 * V8 compiling the event path (its optimizing compiler runs on helper threads: ~5 µs per event
 * here); the second shows a daemon that has seen a storm before.
 */
async function stormRound(label, root, ctx, { prof = false, warm = false } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'pwbench-perf-'));
  ctx.dirs.push(dir);
  const daemon = new DaemonProcess({
    root, database: join(dir, 'storm.db'), socket: join(dir, 'storm.sock'), source: 'ebpf',
    nodeArgs: [...(ctx.nodeArgs[label] ?? []), ...(prof ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [])],
    config: ctx.configs[label] ?? null,
  });
  ctx.daemons.push(daemon);
  await daemon.start();
  await delay(1500); // the start's reconcile and first retention pass are not the storm's
  const round = { label, ...(await measureStorm(label, daemon, dir, ctx)) };
  if (warm) {
    await delay(1000);
    round.warm = await measureStorm(label, daemon, dir, ctx);
  }
  const exit = await daemon.stop();
  if (exit?.code !== 0) throw new Error(`${label}: daemon ended badly: ${JSON.stringify(exit)}`);
  if (prof) {
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (file === undefined) throw new Error(`${label}: no .cpuprofile written`);
    // Profile times are monotonic µs, as process.hrtime here.
    round.top = topSelf(join(dir, file), round.window);
    if (env.BENCH_PERF_KEEP_PROFILE) copyFileSync(join(dir, file), join(env.BENCH_PERF_KEEP_PROFILE, `${label.replace(/\W+/g, '-')}-${Date.now()}.cpuprofile`));
  }
  return round;
}

/** One storm against a running daemon, with a fresh forkstat beside it: the CPU each spent on it. */
async function measureStorm(label, daemon, dir, ctx) {
  const fs = await startForkstat(ctx.forkstat, dir);
  ctx.children.push(fs);
  const s0 = await daemon.stats();
  const exec0 = s0.eventsByKind.exec ?? 0;
  const lost0 = s0.sourceCounters.lost;
  const d0 = cpuTicks(daemon.pid);
  const m0 = threadTicks(daemon.pid)?.[daemon.pid]?.total ?? 0;
  const f0 = cpuTicks(fs.pid);
  const fl0 = forkstatLines(dir);
  const startedMono = process.hrtime.bigint();
  const started = performance.now();
  const r = await runStorm(ctx.storm.bin, { total: STORM, workers: 2, pidfile: join(dir, 'storm'), onSpawn: (c) => { ctx.stormChild = c; } });
  ctx.stormChild = null;
  const s1 = await waitForStats(daemon, (s) => (s.eventsByKind.exec ?? 0) - exec0 + (s.sourceCounters.lost - lost0) >= STORM && s.store.queued === 0 && s.reorder.held === 0, { what: `${label}: the daemon to store the storm's ${STORM} execs`, everyMs: 250 });
  const wall = (performance.now() - started) / 1000;
  const endedMono = process.hrtime.bigint();
  const dCpu = (cpuTicks(daemon.pid) - d0) / CLK_TCK;
  // The main (JavaScript) thread's share; the rest is the reader thread, libuv's pool and V8's helpers.
  const mainCpu = ((threadTicks(daemon.pid)?.[daemon.pid]?.total ?? 0) - m0) / CLK_TCK;
  await delay(300); // forkstat prints what it read; its CPU until now
  const fCpu = (cpuTicks(fs.pid) - f0) / CLK_TCK;
  const fEvents = forkstatLines(dir) - fl0;
  fs.kill('SIGTERM');
  await new Promise((resolve) => { if (fs.exitCode !== null || fs.signalCode !== null) resolve(); else fs.once('exit', resolve); });
  const memory = memoryOf(daemon.pid); // VmRSS after the storm, VmHWM its peak since the start
  const events = sumKinds(s1) - sumKinds(s0);
  return {
    stormS: r.wallMs / 1000, rate: STORM / (r.wallMs / 1000), wall, events, lost: s1.sourceCounters.lost - lost0,
    execs: (s1.eventsByKind.exec ?? 0) - exec0, dCpu, mainCpu, fCpu, fEvents, memory,
    dUsPerEvent: (dCpu * 1e6) / events, fUsPerEvent: (fCpu * 1e6) / fEvents,
    // At the storm's rate (this machine's max with 2 workers): CPU per second of storm. On a
    // shared machine the daemon also sees everyone else's processes, so the figure that answers
    // "what does a storm cost" is the CPU per event times the storm's own events per second:
    // 4 per exec (fork, exec, exit and its accounting, as the eBPF source reports them).
    dCore: dCpu / (r.wallMs / 1000), dCoreStorm: ((dCpu / events) * 4 * STORM) / (r.wallMs / 1000), load: load(),
    window: [Number(startedMono / 1000n), Number(endedMono / 1000n)],
  };
}

/** Top self-time entries of a .cpuprofile within a window of monotonic µs: [name, ms, %]. */
export function topSelf(path, window, n = 15) {
  const prof = JSON.parse(readFileSync(path, 'utf8'));
  const nodes = new Map(prof.nodes.map((node) => [node.id, node]));
  const self = new Map();
  let t = prof.startTime;
  let total = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    t += prof.timeDeltas[i];
    const dt = Math.max(0, prof.timeDeltas[i + 1] ?? 0);
    if (t < window[0] || t > window[1]) continue;
    const f = nodes.get(prof.samples[i]).callFrame;
    if (f.functionName === '(idle)') continue;
    const file = f.url === '' ? '' : ` ${f.url.replace(/^.*\/(dist\/src|node_modules)\//, '$1/').replace(/^node:/, '')}:${f.lineNumber + 1}`;
    const name = `${f.functionName || '(anonymous)'}${file}`;
    self.set(name, (self.get(name) ?? 0) + dt);
    total += dt;
  }
  return [...self].sort((a, b) => b[1] - a[1]).slice(0, n).map(([name, us]) => [name, us / 1000, (100 * us) / total]).concat([['(busy total, idle excluded)', total / 1000, 100]]);
}

async function stormPart(ctx, trees, prof) {
  const rounds = [];
  for (let i = 0; i < ROUNDS; i++) {
    for (const [label, root] of trees) {
      process.stdout.write(`  round ${i + 1}/${ROUNDS}, ${label}: ${STORM} execs from 2 workers, forkstat beside (load ${load()})…`);
      const r = await stormRound(label, root, ctx, { warm: true });
      console.log(` ${Math.round(r.rate)} execs/s, daemon ${r.dUsPerEvent.toFixed(1)} µs/event, forkstat ${r.fUsPerEvent.toFixed(1)} µs/event; second storm ${r.warm.dUsPerEvent.toFixed(1)} vs ${r.warm.fUsPerEvent.toFixed(1)}`);
      rounds.push(r);
    }
  }
  const profiles = [];
  if (prof) {
    for (const [label, root] of trees) {
      process.stdout.write(`  profiled round, ${label} (node --cpu-prof)…`);
      const r = await stormRound(label, root, ctx, { prof: true });
      console.log(` daemon ${r.dUsPerEvent.toFixed(1)} µs/event (profiler on)`);
      profiles.push(r);
    }
  }
  return { rounds, profiles };
}

function stormReport({ rounds, profiles }, trees) {
  console.log(`\n### Daemon CPU per event in an exec storm (eBPF, default config) vs forkstat beside it\n`);
  console.log(markdownTable(
    ['tree', 'storm s', 'execs/s', 'daemon events', 'lost', 'daemon CPU s', 'of which main thread', 'daemon µs/event', 'forkstat events', 'forkstat CPU s', 'forkstat µs/event', 'ratio', 'daemon % core', '% core, storm only', 'RSS after MiB', 'peak RSS MiB', 'load'],
    rounds.map((r) => [r.label, r.stormS.toFixed(2), Math.round(r.rate), r.events, r.lost, r.dCpu.toFixed(2), r.mainCpu.toFixed(2), r.dUsPerEvent.toFixed(1), r.fEvents, r.fCpu.toFixed(2), r.fUsPerEvent.toFixed(1), `${(r.dUsPerEvent / r.fUsPerEvent).toFixed(2)}×`, `${(100 * r.dCore).toFixed(1)}%`, `${(100 * r.dCoreStorm).toFixed(1)}%`, r.memory?.rssMiB.toFixed(0) ?? '—', r.memory?.hwmMiB.toFixed(0) ?? '—', r.load]),
  ));
  const summary = new Map();
  for (const [label] of trees) {
    const mine = rounds.filter((r) => r.label === label);
    const s = {
      d: median(mine.map((r) => r.dUsPerEvent)), f: median(mine.map((r) => r.fUsPerEvent)),
      ratio: median(mine.map((r) => r.dUsPerEvent / r.fUsPerEvent)), core: median(mine.map((r) => r.dCoreStorm)), rate: median(mine.map((r) => r.rate)),
    };
    summary.set(label, s);
    console.log(`\n${label}: medians of ${mine.length}: daemon ${s.d.toFixed(1)} µs/event, forkstat ${s.f.toFixed(1)} µs/event (${s.ratio.toFixed(2)}×), ${(100 * s.core).toFixed(1)}% of a core for the storm's own events at ${Math.round(s.rate)} execs/s`);
  }
  console.log(`\nThe second storm on the same daemon (V8 has compiled the event path during the first):\n`);
  console.log(markdownTable(
    ['tree', 'execs/s', 'daemon events', 'lost', 'daemon CPU s', 'of which main thread', 'daemon µs/event', 'forkstat µs/event', 'ratio', '% core, storm only', 'peak RSS MiB'],
    rounds.map(({ label, warm: w }) => [label, Math.round(w.rate), w.events, w.lost, w.dCpu.toFixed(2), w.mainCpu.toFixed(2), w.dUsPerEvent.toFixed(1), w.fUsPerEvent.toFixed(1), `${(w.dUsPerEvent / w.fUsPerEvent).toFixed(2)}×`, `${(100 * w.dCoreStorm).toFixed(1)}%`, w.memory?.hwmMiB.toFixed(0) ?? '—']),
  ));
  for (const [label] of trees) {
    const storms = rounds.filter((r) => r.label === label).map((r) => r.warm);
    const w = { d: median(storms.map((x) => x.dUsPerEvent)), ratio: median(storms.map((x) => x.dUsPerEvent / x.fUsPerEvent)), core: median(storms.map((x) => x.dCoreStorm)) };
    summary.get(label).warm = w;
    console.log(`${label}, second storm: medians of ${storms.length}: daemon ${w.d.toFixed(1)} µs/event (${w.ratio.toFixed(2)}× forkstat), ${(100 * w.core).toFixed(1)}% of a core`);
  }
  const now = summary.get('this tree');
  console.log(`${verdict(now.ratio <= 1)}  daemon CPU per event ≤ forkstat's — ${now.d.toFixed(1)} vs ${now.f.toFixed(1)} µs = ${now.ratio.toFixed(2)}×`);
  console.log(`${verdict(now.core < 0.10)}  daemon under 10% of a core at the max exec rate (${Math.round(now.rate)}/s, the storm's own 4 events per exec) — ${(100 * now.core).toFixed(1)}%`);
  const before = summary.get('before');
  console.log(`      (the second storm on the same daemon: ${now.warm.ratio.toFixed(2)}× forkstat, ${(100 * now.warm.core).toFixed(1)}% of a core)`);
  if (before !== undefined) console.log(`this tree ÷ before: ${(now.d / before.d).toFixed(2)}× CPU per event (second storm ${(now.warm.d / before.warm.d).toFixed(2)}×)`);
  for (const p of profiles) {
    console.log(`\nTop self time in the daemon during the storm, ${p.label} (node --cpu-prof, ${p.dUsPerEvent.toFixed(1)} µs/event with the profiler on):\n`);
    console.log(markdownTable(['function', 'self ms', '%'], p.top.map(([name, t, pct]) => [name, t.toFixed(0), pct.toFixed(1)]), ['l', 'r', 'r']));
  }
}

// ---- trickle ------------------------------------------------------------------------------------

/** Processes per second of the trickle, and how long the daemon warms up in it before the measure. */
const TRICKLE_RATE = positiveInt(env.BENCH_TRICKLE_RATE, 20);
const TRICKLE_WARMUP_S = positiveInt(env.BENCH_TRICKLE_WARMUP_S, 60);
const TRICKLE_S = positiveInt(env.BENCH_TRICKLE_S, 60);
/** The quiet window before the trickle: what the daemon costs with only the machine's own processes. */
const QUIET_S = 30;

/**
 * One round: a fresh daemon (default config, eBPF), QUIET_S seconds with nothing started by
 * the benchmark, then `/bin/true` started TRICKLE_RATE times a second: TRICKLE_WARMUP_S seconds
 * for V8 to compile what a trickle makes hot, then TRICKLE_S seconds measured with forkstat
 * beside. A storm spreads each release, flush and wake-up over thousands of events; here they
 * come a few at a time, as on an ordinary host. CPU per event is over the trickle's own kernel
 * events (3 per process: fork, exec, exit), the same count for both.
 */
async function trickleRound(label, root, ctx) {
  const dir = mkdtempSync(join(tmpdir(), 'pwbench-trickle-'));
  ctx.dirs.push(dir);
  const daemon = new DaemonProcess({
    root, database: join(dir, 'trickle.db'), socket: join(dir, 'trickle.sock'), source: 'ebpf',
    nodeArgs: ctx.nodeArgs[label] ?? [], config: ctx.configs[label] ?? null,
  });
  ctx.daemons.push(daemon);
  await daemon.start();
  await delay(1500); // the start's reconcile and first retention pass are not the quiet window's
  const q0 = cpuTicks(daemon.pid);
  await delay(QUIET_S * 1000);
  const quietCpu = (cpuTicks(daemon.pid) - q0) / CLK_TCK;
  let started = 0;
  let failed = 0;
  const timer = setInterval(() => {
    const child = spawn('/bin/true', [], { stdio: 'ignore' });
    child.once('error', () => { failed++; });
    child.once('spawn', () => { started++; });
    child.unref();
  }, 1000 / TRICKLE_RATE);
  try {
    await delay(TRICKLE_WARMUP_S * 1000);
    const fs = await startForkstat(ctx.forkstat, dir);
    ctx.children.push(fs);
    const d0 = cpuTicks(daemon.pid);
    const m0 = threadTicks(daemon.pid)?.[daemon.pid]?.total ?? 0;
    const f0 = cpuTicks(fs.pid);
    const n0 = started;
    const s0 = await daemon.stats();
    await delay(TRICKLE_S * 1000);
    const dCpu = (cpuTicks(daemon.pid) - d0) / CLK_TCK;
    const mainCpu = ((threadTicks(daemon.pid)?.[daemon.pid]?.total ?? 0) - m0) / CLK_TCK;
    const s1 = await daemon.stats();
    const processes = started - n0;
    await delay(300); // forkstat prints what it read; its CPU until now
    const fCpu = (cpuTicks(fs.pid) - f0) / CLK_TCK;
    fs.kill('SIGTERM');
    if (failed > 0) throw new Error(`${label}: ${failed} of the trickle's /bin/true failed to start`);
    const events = 3 * processes;
    const quietPerS = quietCpu / QUIET_S;
    return {
      label, processes, rate: processes / TRICKLE_S, daemonEvents: sumKinds(s1) - sumKinds(s0), lost: s1.sourceCounters.lost - s0.sourceCounters.lost,
      quietCore: quietPerS, dCore: dCpu / TRICKLE_S, mainCore: mainCpu / TRICKLE_S, fCore: fCpu / TRICKLE_S,
      dUs: (dCpu * 1e6) / events, dUsAboveQuiet: ((dCpu - quietPerS * TRICKLE_S) * 1e6) / events, fUs: (fCpu * 1e6) / events, load: load(),
    };
  } finally {
    clearInterval(timer);
    const exit = await daemon.stop();
    if (exit?.code !== 0) throw new Error(`${label}: daemon ended badly: ${JSON.stringify(exit)}`);
  }
}

async function tricklePart(ctx, trees) {
  const rounds = [];
  for (let i = 0; i < ROUNDS; i++) {
    for (const [label, root] of trees) {
      process.stdout.write(`  round ${i + 1}/${ROUNDS}, ${label}: ${QUIET_S} s quiet, then ${TRICKLE_RATE} /bin/true a second for ${TRICKLE_WARMUP_S} + ${TRICKLE_S} s (load ${load()})…`);
      const r = await trickleRound(label, root, ctx);
      console.log(` daemon ${r.dUs.toFixed(0)} µs/event (${(100 * r.dCore).toFixed(2)}% of a core), forkstat ${r.fUs.toFixed(0)}`);
      rounds.push(r);
    }
  }
  return rounds;
}

function trickleReport(rounds, trees) {
  console.log(`\n### Daemon CPU in a trickle (eBPF, default config): ${TRICKLE_RATE} /bin/true a second, forkstat beside it\n`);
  console.log(`µs/event: each one's CPU over the trickle's own kernel events (3 per process) in ${TRICKLE_S} s, after ${TRICKLE_WARMUP_S} s of the same trickle; "above quiet": the daemon's CPU less its rate in the ${QUIET_S} s before the trickle.\n`);
  console.log(markdownTable(
    ['tree', 'processes/s', 'daemon events', 'lost', 'quiet: % core', 'trickle: % core', 'of which main thread', 'daemon µs/event', 'above quiet', 'forkstat % core', 'forkstat µs/event', 'ratio', 'ratio above quiet', 'load'],
    rounds.map((r) => [r.label, r.rate.toFixed(1), r.daemonEvents, r.lost, `${(100 * r.quietCore).toFixed(2)}%`, `${(100 * r.dCore).toFixed(2)}%`, `${(100 * r.mainCore).toFixed(2)}%`, r.dUs.toFixed(0), r.dUsAboveQuiet.toFixed(0),
      `${(100 * r.fCore).toFixed(2)}%`, r.fUs.toFixed(0), `${(r.dUs / r.fUs).toFixed(2)}×`, `${(r.dUsAboveQuiet / r.fUs).toFixed(2)}×`, r.load]),
  ));
  for (const [label] of trees) {
    const mine = rounds.filter((r) => r.label === label);
    const m = (f) => median(mine.map(f));
    console.log(`\n${label}: medians of ${mine.length}: daemon ${(100 * m((r) => r.dCore)).toFixed(2)}% of a core (quiet ${(100 * m((r) => r.quietCore)).toFixed(2)}%), ${m((r) => r.dUs).toFixed(0)} µs/event (${m((r) => r.dUsAboveQuiet).toFixed(0)} above quiet); forkstat ${(100 * m((r) => r.fCore)).toFixed(2)}%, ${m((r) => r.fUs).toFixed(0)} µs/event; ratio ${m((r) => r.dUs / r.fUs).toFixed(2)}× (${m((r) => r.dUsAboveQuiet / r.fUs).toFixed(2)}× above quiet)`);
  }
  console.log('(No goal of issue 16 is set on a trickle; its goals are the storm\'s. Printed so that the per-event cost at an ordinary rate is on record beside the storm\'s.)');
}

// ---- watch --------------------------------------------------------------------------------------

/**
 * Lines of watch's output naming `kind` (any event: null): `mode` 'json' (JSON lines) or
 * 'text' (watch's table: the time, then the event's kind).
 */
function watchLines(path, mode, kind) {
  const text = readFileSync(path, 'latin1');
  let n = 0;
  if (mode === 'json') {
    const needle = kind === null ? '{' : `"kind":"${kind}"`;
    for (const line of text.split('\n')) if (line.includes(needle)) n++;
    return n;
  }
  const pattern = kind === null ? /^\S+ [a-z_]+ / : new RegExp(`^\\S+ ${kind} `);
  for (const line of text.split('\n')) if (pattern.test(line)) n++;
  return n;
}

/** The watch command line of the benchmark: the events forkstat prints (fork, exec, exit), and losses. */
const WATCH_ARGS = ['watch', '--source', 'ebpf', '--kind', 'fork,exec,exit,lost'];

/**
 * One round: `procwatch watch` (tree `root`, eBPF; text lines, or --json) and forkstat beside
 * it, one storm. Both see the same kernel events and print each fork, exec and exit (forkstat
 * two lines per fork, parent and child), so CPU per event is each one's CPU over the storm's
 * own events: 3 per exec (fork, exec, exit), the same for both.
 */
async function watchRound(label, root, mode, ctx) {
  const dir = mkdtempSync(join(tmpdir(), 'pwbench-watch-'));
  ctx.dirs.push(dir);
  const outPath = join(dir, 'watch.out');
  const out = openSync(outPath, 'w');
  const watch = spawn(join(root, 'bin/procwatch'), [...WATCH_ARGS, ...(mode === 'json' ? ['--json'] : [])], { stdio: ['ignore', out, 'ignore'] });
  closeSync(out);
  ctx.children.push(watch);
  const fs = await startForkstat(ctx.forkstat, dir);
  ctx.children.push(fs);
  // Started: its first exec line is one of the probes (a `true` run until it shows).
  for (let i = 0; watchLines(outPath, mode, 'exec') === 0; i++) {
    if (watch.exitCode !== null || i > 300) throw new Error(`${label}: procwatch watch did not start (exit ${watch.exitCode})`);
    spawn('/bin/true').unref();
    await delay(100);
  }
  await delay(1000);
  const w0 = cpuTicks(watch.pid);
  const f0 = cpuTicks(fs.pid);
  const e0 = watchLines(outPath, mode, 'exec');
  const lines0 = watchLines(outPath, mode, null);
  const lost0 = watchLines(outPath, mode, 'lost');
  const fl0 = forkstatLines(dir);
  const r = await runStorm(ctx.storm.bin, { total: STORM, workers: 2, pidfile: join(dir, 'storm'), onSpawn: (c) => { ctx.stormChild = c; } });
  ctx.stormChild = null;
  for (let i = 0; watchLines(outPath, mode, 'exec') - e0 < STORM; i++) {
    if (i > 600) throw new Error(`${label}: watch printed ${watchLines(outPath, mode, 'exec') - e0} of the storm's ${STORM} execs`);
    await delay(100);
  }
  await delay(300);
  const wCpu = (cpuTicks(watch.pid) - w0) / CLK_TCK;
  const fCpu = (cpuTicks(fs.pid) - f0) / CLK_TCK;
  const memory = memoryOf(watch.pid);
  const fLines = forkstatLines(dir) - fl0;
  const wLines = watchLines(outPath, mode, null) - lines0;
  const lost = watchLines(outPath, mode, 'lost') - lost0;
  watch.kill('SIGINT');
  fs.kill('SIGTERM');
  const events = 3 * STORM;
  return { label, mode, rate: STORM / (r.wallMs / 1000), wCpu, fCpu, wLines, fLines, lost, memory, wUs: (wCpu * 1e6) / events, fUs: (fCpu * 1e6) / events, load: load() };
}

async function watchPart(ctx, trees) {
  const rounds = [];
  for (let i = 0; i < ROUNDS; i++) {
    for (const [label, root] of trees) {
      for (const mode of ['text', 'json']) {
        process.stdout.write(`  round ${i + 1}/${ROUNDS}, ${label}, ${mode}…`);
        const r = await watchRound(label, root, mode, ctx);
        console.log(` watch ${r.wUs.toFixed(1)} µs/event, forkstat ${r.fUs.toFixed(1)}, peak RSS ${r.memory.hwmMiB.toFixed(0)} MiB`);
        rounds.push(r);
      }
    }
  }
  return rounds;
}

function watchReport(rounds, trees) {
  console.log(`\n### procwatch watch (eBPF, --kind fork,exec,exit,lost, text or --json, to a file) vs forkstat -e fork,exec,exit beside it\n`);
  console.log(`µs/event: each one's CPU over the storm's ${3 * STORM} kernel events (fork, exec, exit of ${STORM} processes).\n`);
  console.log(markdownTable(
    ['tree', 'output', 'execs/s', 'watch lines', 'lost', 'watch CPU s', 'watch µs/event', 'forkstat lines', 'forkstat CPU s', 'forkstat µs/event', 'ratio', 'RSS after MiB', 'peak RSS MiB', 'anon MiB', 'file MiB', 'load'],
    rounds.map((r) => [r.label, r.mode, Math.round(r.rate), r.wLines, r.lost, r.wCpu.toFixed(2), r.wUs.toFixed(1), r.fLines, r.fCpu.toFixed(2), r.fUs.toFixed(1), `${(r.wUs / r.fUs).toFixed(2)}×`, r.memory.rssMiB.toFixed(0), r.memory.hwmMiB.toFixed(0), r.memory.anonMiB.toFixed(0), r.memory.fileMiB.toFixed(0), r.load]),
  ));
  for (const [label] of trees) {
    for (const mode of ['text', 'json']) {
      const mine = rounds.filter((r) => r.label === label && r.mode === mode);
      const ratio = median(mine.map((r) => r.wUs / r.fUs));
      const peak = median(mine.map((r) => r.memory.hwmMiB));
      console.log(`\n${label}, ${mode}: medians of ${mine.length}: watch ${median(mine.map((r) => r.wUs)).toFixed(1)} µs/event, forkstat ${median(mine.map((r) => r.fUs)).toFixed(1)} (${ratio.toFixed(2)}×), peak RSS ${peak.toFixed(0)} MiB`);
      if (label === 'this tree') {
        console.log(`${verdict(ratio <= 1)}  watch (${mode === 'json' ? '--json' : 'text lines'}) CPU per event ≤ forkstat's — ${ratio.toFixed(2)}×`);
        console.log(`${verdict(peak < 80)}  watch (${mode === 'json' ? '--json' : 'text lines'}) RSS under 80 MiB — peak ${peak.toFixed(0)} MiB`);
      }
    }
  }
}

// ---- cli ----------------------------------------------------------------------------------------

async function cliPart(root, before) {
  const procwatch = join(root, 'bin/procwatch');
  const nodeEnv = { ...env };
  delete nodeEnv.NODE_EXTRA_CA_CERTS; // the launcher drops it (bin/procwatch); the baseline must too
  const node = [process.execPath, '-e', '0'];
  const cases = [
    { id: 'node -e 0', commands: [node] },
    { id: 'procwatch --version', commands: [[procwatch, '--version']] },
    { id: 'procwatch check', commands: [[procwatch, 'check', ...SPECS]] },
    { id: 'ps.monitor', commands: [[PS_MONITOR, ...SPECS]] },
    { id: 'check_procs ×2', commands: SPECS.map((s) => { const [name, range] = s.split(':'); const [min, max] = range.split('-'); return [CHECK_PROCS, '-C', name, '-c', `${min || '0'}:${max}`]; }) },
  ];
  if (before !== undefined) {
    cases.push({ id: 'before: procwatch --version', commands: [[join(before, 'bin/procwatch'), '--version']] });
    cases.push({ id: 'before: procwatch check', commands: [[join(before, 'bin/procwatch'), 'check', ...SPECS]] });
  }
  for (const c of cases) if (!existsSync(c.commands[0][0])) throw new Error(`${c.commands[0][0]} is missing (apt install mon monitoring-plugins-basic)`);
  const saved = process.env.NODE_EXTRA_CA_CERTS;
  delete process.env.NODE_EXTRA_CA_CERTS; // timeCommand passes process.env
  try {
    process.stdout.write(`  timing ${cases.length} commands × ${CLI_RUNS} runs, interleaved (load ${load()})…`);
    const stats = await timeCases(cases, { runs: CLI_RUNS, warmup: 2 });
    console.log(` done (load ${load()})`);
    return { cases, stats };
  } finally {
    if (saved !== undefined) process.env.NODE_EXTRA_CA_CERTS = saved;
  }
}

function cliReport({ cases, stats }) {
  console.log(`\n### CLI start: procwatch vs node -e 0, ps.monitor, check_procs\n`);
  const psm = stats.get('ps.monitor').median;
  console.log(markdownTable(['command', 'median ms', 'p90 ms', '÷ ps.monitor'], cases.map((c) => {
    const s = stats.get(c.id);
    return [c.id.endsWith('procwatch check') || c.id === 'ps.monitor' ? `${c.id} ${SPECS.join(' ')}` : c.id, ms(s.median), ms(s.p90), `${(s.median / psm).toFixed(2)}×`];
  }), ['l', 'r', 'r', 'r']));
  const node = stats.get('node -e 0').median;
  const version = stats.get('procwatch --version').median;
  const check = stats.get('procwatch check').median;
  console.log(`${verdict(version - node <= 15)}  procwatch --version within 15 ms of node -e 0 — ${ms(version)} vs ${ms(node)} ms (+${ms(version - node)} ms)`);
  console.log(`${verdict(check <= 1.5 * psm)}  procwatch check within 1.5× of ps.monitor — ${ms(check)} vs ${ms(psm)} ms = ${(check / psm).toFixed(2)}×`);
}

// ---- run ----------------------------------------------------------------------------------------

/**
 * The trees of the storm and trickle parts: this one, `--before=DIR`'s first, and this one again
 * with each of BENCH_PERF_NODE_ARGS's node options and BENCH_PERF_CONFIGS's daemon configs
 * (experiments), their labels registered in ctx.
 */
function variantTrees(root, beforeArg, ctx) {
  const trees = [['this tree', root]];
  if (beforeArg !== undefined) trees.unshift(['before', resolve(beforeArg)]);
  // BENCH_PERF_NODE_ARGS="--flag ...[; --flag ...]" runs this tree again with those node options (experiments).
  // Several variants: separated by ';'.
  for (const variant of (env.BENCH_PERF_NODE_ARGS ?? '').split(';').map((v) => v.trim()).filter((v) => v !== '')) {
    const label = `this tree ${variant}`;
    trees.push([label, root]);
    ctx.nodeArgs[label] = variant.split(/\s+/);
  }
  // BENCH_PERF_CONFIGS="a.yaml[; b.yaml]": this tree again with each daemon config (experiments with settings).
  for (const file of (env.BENCH_PERF_CONFIGS ?? '').split(';').map((v) => v.trim()).filter((v) => v !== '')) {
    // Checked now, not when its first round comes after the others' storms.
    if (!existsSync(file)) throw new Error(`BENCH_PERF_CONFIGS: no such file: ${file}`);
    const label = `this tree --config ${file}`;
    trees.push([label, root]);
    ctx.configs[label] = resolve(file);
  }
  return trees;
}

export async function run({ root, args }) {
  const only = args.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',') ?? ['storm', 'cli', 'watch', 'trickle'];
  const beforeArg = args.find((a) => a.startsWith('--before='))?.slice('--before='.length);
  const prof = args.includes('--prof');
  console.log(machineLine());
  console.log(`load average at the start: ${load()} (a shared machine: other work runs beside; peers are measured in the same run)`);
  const ctx = { dirs: [], daemons: [], children: [], stormChild: null, storm: null, forkstat: null, nodeArgs: {}, configs: {} };
  const cleanup = () => {
    for (const d of ctx.daemons) d.killNow();
    for (const c of ctx.children) if (c.exitCode === null) c.kill('SIGKILL');
    if (ctx.stormChild?.pid !== undefined) { try { process.kill(-ctx.stormChild.pid, 'SIGKILL'); } catch { /* gone */ } }
    ctx.storm?.cleanup();
    for (const d of ctx.dirs) rmSync(d, { recursive: true, force: true });
  };
  const onSignal = () => { cleanup(); process.exit(130); };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    // The storm's and the trickle's trees, their config files checked before any part runs.
    const variants = only.includes('storm') || only.includes('trickle') ? variantTrees(root, beforeArg, ctx) : [];
    if (only.includes('cli')) {
      console.log('\n-- CLI start');
      cliReport(await cliPart(root, beforeArg === undefined ? undefined : resolve(beforeArg)));
    }
    if (only.includes('storm')) {
      if (process.getuid?.() !== 0) throw new Error('the storm part needs root (eBPF)');
      ctx.forkstat = whichReal('forkstat');
      ctx.storm = buildStorm(root);
      console.log('\n-- exec storms: daemon (eBPF, default config) with forkstat beside it');
      stormReport(await stormPart(ctx, variants, prof), variants);
    }
    if (only.includes('trickle')) {
      if (process.getuid?.() !== 0) throw new Error('the trickle part needs root (eBPF)');
      ctx.forkstat ??= whichReal('forkstat');
      console.log('\n-- a trickle of execs: daemon (eBPF, default config) with forkstat beside it');
      trickleReport(await tricklePart(ctx, variants), variants);
    }
    if (only.includes('watch')) {
      if (process.getuid?.() !== 0) throw new Error('the watch part needs root (eBPF)');
      ctx.forkstat ??= whichReal('forkstat');
      ctx.storm ??= buildStorm(root);
      const trees = [['this tree', root]];
      if (beforeArg !== undefined) trees.unshift(['before', resolve(beforeArg)]);
      console.log('\n-- exec storms: procwatch watch with forkstat beside it');
      watchReport(await watchPart(ctx, trees), trees);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    cleanup();
  }
  console.log(`\nload average at the end: ${load()}`);
  return true;
}
