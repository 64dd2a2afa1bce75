/**
 * The daemon's benchmarks (issue 4), each against what a user would otherwise run, in the same run:
 *
 * 1. `procwatch ps` talking to a running daemon vs `ps -e` and `ps -ef`: wall time of whole runs
 *    (output to /dev/null), median and p90 of BENCH_PS_RUNS (15) interleaved runs, at today's
 *    process count and with BENCH_EXTRA (5,000) extra sleeping processes. Also `node -e 0` (Node's
 *    fixed start), `procwatch ps --no-daemon` (the same listing from /proc in Node) and
 *    `curl --unix-socket SOCK http://x/v1/processes` (the daemon's answer alone, from a C client), and
 *    the same with `?format=text` (the ps text that `procwatch ps` asks for, rendered by the daemon).
 *    Then where a cold `procwatch ps` spends its time (phases, and a --cpu-prof of the client and
 *    of the daemon answering /v1/processes).
 * 2. Store ingest: events/s through EventStore.enqueue + flush (dist/src/store), BENCH_INGEST
 *    (200,000) events, flushing every 1,000 and every 10,000, on a temp file; exec events only
 *    (one process row each) and fork+exec+exit triples. Then the daemon's CPU (utime+stime of its
 *    process) during an exec storm of BENCH_STORM (10,000) `/bin/true` (bench/storm/storm.c),
 *    from 1 and from 2 workers.
 * 3. History and lineage queries over a store of BENCH_HISTORY_EVENTS (1,000,000) synthetic events
 *    (30 days of a server: cron, ssh sessions with builds, web workers, postgres, CI, systemd units;
 *    3 events per process instance), via the API of a daemon started on that file, from a warm
 *    client in this process: median/p90 of BENCH_QUERY_RUNS (20) calls each, plus the same
 *    query run in-process on the store (SQL + row decoding) to show where the time goes.
 * 4. Daemon RSS (VmRSS, and the peak VmHWM) idle, and with BENCH_LIVE (10,000) extra live processes
 *    started after the daemon (through the event path) and before it (seeded from /proc).
 *
 * `npm run bench -- daemon` runs all; `npm run bench -- daemon --only=ps,ingest,storm,history,rss`
 * runs some. Needs root (the proc connector). Every daemon, sleeper and storm process is killed at
 * the end, on error and on SIGINT/SIGTERM; temp files are removed. Goals print as MET/MISS lines;
 * the scenario fails only when something is broken (a daemon that does not start or answers wrong).
 */

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setTimeout as delay, setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { DaemonProcess, killAllDaemons, memoryOf, waitForStats } from './lib/daemon.mjs';
import { machineLine, markdownTable, ms, ratio } from './lib/report.mjs';
import { Sleepers, checkRoomFor, processCount, whichReal } from './lib/sleepers.mjs';
import { CLK_TCK, buildStorm, cpuTicks, runStorm } from './lib/storm.mjs';
import { runCommand, summarize, timeCases } from './lib/timing.mjs';
// The same deterministic PRNG as the store tests (built by `npm run bench`'s build step).
import { rng } from '../dist/test/helpers/rng.js';

const env = process.env;
const PS_RUNS = positiveInt(env.BENCH_PS_RUNS, 15);
const EXTRA = positiveInt(env.BENCH_EXTRA, 5000);
const LIVE = positiveInt(env.BENCH_LIVE, 10000);
const INGEST = positiveInt(env.BENCH_INGEST, 200_000);
const STORM = positiveInt(env.BENCH_STORM, 10_000);
const HISTORY_EVENTS = positiveInt(env.BENCH_HISTORY_EVENTS, 1_000_000);
const QUERY_RUNS = positiveInt(env.BENCH_QUERY_RUNS, 20);
const SLEEPER = 'pwbench-dsleep'; // not check's 'pwbench-sleep': both benchmarks may run at once
const PARTS = ['ps', 'ingest', 'storm', 'history', 'rss'];

function positiveInt(text, fallback) {
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`expected a positive integer, got '${text}'`);
  return n;
}

const int = (n) => Math.round(n).toLocaleString('en-US');
const mib = (bytes) => (bytes / 2 ** 20).toFixed(1);
const verdict = (ok) => (ok ? 'MET ' : 'MISS');

function fileBytes(path) {
  let total = 0;
  for (const suffix of ['', '-wal', '-shm']) {
    try { total += statSync(path + suffix).size; } catch { /* absent */ }
  }
  return total;
}

// ---- 1. procwatch ps vs ps -----------------------------------------------------------------------

function psCases(root, socket) {
  const procwatch = join(root, 'bin/procwatch');
  const cases = [
    { id: 'procwatch ps', commands: [[procwatch, 'ps', '--socket', socket]] },
    { id: 'ps -e', commands: [['ps', '-e']] },
    { id: 'ps -ef', commands: [['ps', '-ef']] },
    { id: 'procwatch ps --no-daemon', commands: [[procwatch, 'ps', '--no-daemon']] },
    { id: 'node -e 0', commands: [[process.execPath, '-e', '0']] },
  ];
  const curl = whichOrNull('curl');
  if (curl !== null) {
    cases.push({ id: 'curl /v1/processes', commands: [[curl, '-sS', '-o', '/dev/null', '--unix-socket', socket, 'http://x/v1/processes']] });
    // What `procwatch ps` asks for (the daemon renders the ps text), from a client without Node's start.
    cases.push({ id: 'curl /v1/processes?format=text', commands: [[curl, '-sS', '-o', '/dev/null', '--unix-socket', socket, 'http://x/v1/processes?format=text']] });
  }
  return cases;
}

function whichOrNull(command) {
  try { return whichReal(command); } catch { return null; }
}

/** Each tool once, output read: procwatch ps must list what ps lists (± processes that came and went). */
function psAgreement(root, socket, { sleepers }) {
  const pw = runCommand([join(root, 'bin/procwatch'), 'ps', '--socket', socket]);
  const ps = runCommand(['ps', '-e']);
  if (pw.status !== 0) throw new Error(`procwatch ps failed (exit ${pw.status}): ${pw.stderr}`);
  if (pw.stderr.includes('reading /proc directly')) throw new Error(`procwatch ps did not reach the daemon: ${pw.stderr}`);
  const pwLines = pw.stdout.trimEnd().split('\n').length - 1;
  const psLines = ps.stdout.trimEnd().split('\n').length - 1;
  const pwSleepers = pw.stdout.split('\n').filter((l) => l.includes(`${SLEEPER} 600`)).length;
  const psSleepers = ps.stdout.split('\n').filter((l) => l.endsWith(` ${SLEEPER}`)).length;
  const problems = [];
  if (Math.abs(pwLines - psLines) > Math.max(20, psLines * 0.02)) problems.push(`procwatch ps lists ${pwLines} processes, ps -e ${psLines}`);
  if (pwSleepers !== sleepers || psSleepers !== sleepers) problems.push(`${SLEEPER}: procwatch ps shows ${pwSleepers}, ps -e ${psSleepers}, expected ${sleepers}`);
  return { pwLines, psLines, problems };
}

async function psTiming(label, root, daemon) {
  const cases = psCases(root, daemon.socket);
  process.stdout.write(`  timing ${cases.length} commands × ${PS_RUNS} runs (interleaved, +2 warm-up)…`);
  const stats = await timeCases(cases, { runs: PS_RUNS, warmup: 2, onRound: (done) => { if (done > 0 && done % 5 === 0) process.stdout.write(` ${done}`); } });
  process.stdout.write('\n');
  // The daemon's answer alone, from this (warm) process: request sent → last byte received.
  const warm = [];
  for (let i = 0; i < PS_RUNS + 2; i++) {
    const r = await daemon.get('/v1/processes');
    if (r.status !== 200) throw new Error(`/v1/processes: HTTP ${r.status}`);
    if (i >= 2) warm.push(r.ms);
    warm.bytes = r.text.length;
  }
  return { label, cases, stats, warm: summarize(warm), warmBytes: warm.bytes };
}

function psRows(t) {
  const pw = t.stats.get('procwatch ps');
  const rows = t.cases.map((c) => {
    const s = t.stats.get(c.id);
    return [t.label, c.id, ms(s.median), ms(s.p90), ratio(s.median, pw.median)];
  });
  rows.push([t.label, 'GET /v1/processes, warm client (daemon answer only)', ms(t.warm.median), ms(t.warm.p90), ratio(t.warm.median, pw.median)]);
  return rows;
}

/**
 * Where a cold `procwatch ps` spends its time: a fresh node process that does what the command
 * does, in order, with marks (performance.now() counts from process start, so the first mark
 * is Node's bootstrap). Medians of `runs` runs.
 */
async function psPhases(root, socket, runs) {
  const dist = pathToFileURL(join(root, 'dist/src')).href;
  const script = `
    const boot = performance.now();
    const { Command } = await import('commander');
    const ps = await import('${dist}/cli/ps.js');
    const { renderPs, PS_DEFAULT_FIELDS } = await import('${dist}/report/processes.js');
    const { request } = await import('node:http');
    const { writeSync, openSync } = await import('node:fs');
    const program = new Command('procwatch'); program.addCommand(ps.psCommand()); program.addCommand(ps.treeCommand());
    const loaded = performance.now();
    const text = await new Promise((resolve, reject) => {
      const req = request({ socketPath: ${JSON.stringify(socket)}, path: '/v1/processes' }, (res) => {
        const chunks = []; res.on('data', (c) => chunks.push(c)); res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      });
      req.on('error', reject); req.end();
    });
    const answered = performance.now();
    const { processes } = JSON.parse(text);
    const parsed = performance.now();
    const out = renderPs(processes, PS_DEFAULT_FIELDS);
    const rendered = performance.now();
    writeSync(openSync('/dev/null', 'w'), out);
    const written = performance.now();
    process.stdout.write(JSON.stringify({ bootstrap: boot, modules: loaded - boot, request: answered - loaded, parse: parsed - answered,
      render: rendered - parsed, write: written - rendered, total: written, processes: processes.length, bytes: text.length }));
  `;
  const keys = ['bootstrap', 'modules', 'request', 'parse', 'render', 'write', 'total'];
  const samples = Object.fromEntries(keys.map((k) => [k, []]));
  let last = null;
  for (let i = 0; i < runs; i++) {
    const out = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    await yieldToEventLoop();
    if (out.status !== 0) throw new Error(`ps phases script failed: ${out.stderr}`);
    last = JSON.parse(out.stdout);
    for (const k of keys) samples[k].push(last[k]);
  }
  return { median: Object.fromEntries(keys.map((k) => [k, summarize(samples[k]).median])), processes: last.processes, bytes: last.bytes };
}

/** Self time of a V8 .cpuprofile by category, ms; optionally only samples within [fromUs, toUs] (monotonic µs). */
function profileByCategory(path, window = null) {
  const prof = JSON.parse(readFileSync(path, 'utf8'));
  const nodes = new Map(prof.nodes.map((n) => [n.id, n]));
  const selfUs = new Map();
  let t = prof.startTime;
  for (let i = 0; i < prof.samples.length; i++) {
    t += prof.timeDeltas[i];
    const dt = prof.timeDeltas[i + 1] ?? 0;
    if (window !== null && (t < window[0] || t > window[1])) continue;
    selfUs.set(prof.samples[i], (selfUs.get(prof.samples[i]) ?? 0) + Math.max(0, dt));
  }
  const cats = new Map();
  const fns = new Map();
  for (const [id, us] of selfUs) {
    const { functionName, url, lineNumber } = nodes.get(id).callFrame;
    const cat = category(functionName, url);
    cats.set(cat, (cats.get(cat) ?? 0) + us / 1000);
    const fn = `${functionName || '(anonymous)'} ${url ? `${url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${lineNumber + 1}` : '(native)'}`;
    fns.set(fn, (fns.get(fn) ?? 0) + us / 1000);
  }
  const top = (m, n) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n);
  return { categories: top(cats, 12), functions: top(fns, 10) };
}

function category(fn, url) {
  if (fn === '(idle)') return 'idle (waiting: the daemon, I/O)';
  if (fn === '(garbage collector)') return 'garbage collector';
  if (fn === '(program)') return 'V8/native outside JS (compile, bootstrap, syscalls)';
  if (fn === '(root)') return 'root';
  if (url === '') return `native builtins (${['parse', 'stringify'].includes(fn) ? 'JSON' : 'other'})`;
  if (url.includes('/node_modules/better-sqlite3/')) return 'better-sqlite3';
  if (url.includes('/node_modules/commander/')) return 'commander (CLI parsing)';
  if (url.includes('/node_modules/')) return 'other node_modules';
  if (/\/dist\/src\/report\//.test(url)) return 'procwatch report/ (rendering)';
  if (/\/dist\/src\/api\//.test(url)) return 'procwatch api/ (server, views, client)';
  if (/\/dist\/src\/(table|sources|procfs)\//.test(url)) return 'procwatch table/sources/procfs (event path)';
  if (/\/dist\/src\//.test(url)) return 'procwatch other';
  if (/^node:internal\/modules|^node:internal\/vm|^node:internal\/process\/esm|^node:internal\/main/.test(url)) return 'Node module loader';
  if (/^node:(internal\/)?(_?http|net|stream|internal\/streams|internal\/http|dns)/.test(url)) return 'Node http/net/streams';
  if (url.startsWith('node:')) return 'Node internals (other)';
  return 'other';
}

async function profileClient(root, socket, dir, runs = 5) {
  const profDir = join(dir, 'client-prof');
  mkdirSync(profDir);
  for (let i = 0; i < runs; i++) {
    const out = spawnSync(process.execPath, ['--cpu-prof', '--cpu-prof-dir', profDir, join(root, 'bin/procwatch'), 'ps', '--socket', socket], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    await yieldToEventLoop();
    if (out.status !== 0) throw new Error(`procwatch ps --cpu-prof failed: ${out.stderr}`);
  }
  return mergeProfiles(readdirSync(profDir).map((f) => profileByCategory(join(profDir, f))), runs);
}

/** Average of several profiles' category and function tables (ms per run). */
function mergeProfiles(list, runs) {
  const sum = (key) => {
    const m = new Map();
    for (const p of list) for (const [k, v] of p[key]) m.set(k, (m.get(k) ?? 0) + v / runs);
    return [...m].sort((a, b) => b[1] - a[1]);
  };
  return { categories: sum('categories'), functions: sum('functions').slice(0, 10) };
}

/** A daemon under --cpu-prof answering `calls` GET /v1/processes; profile restricted to that window. */
async function profileDaemonAnswer(root, dir, calls) {
  const profDir = join(dir, 'daemon-prof');
  mkdirSync(profDir);
  const d = new DaemonProcess({ root, database: join(dir, 'prof.db'), socket: join(dir, 'prof.sock'), nodeArgs: ['--cpu-prof', '--cpu-prof-dir', profDir, '--cpu-prof-interval', '200'] });
  await d.start();
  await delay(1500);
  await d.get('/v1/processes');
  const fromUs = Number(process.hrtime.bigint() / 1000n);
  const times = [];
  for (let i = 0; i < calls; i++) times.push((await d.get('/v1/processes')).ms);
  const toUs = Number(process.hrtime.bigint() / 1000n);
  const exit = await d.stop();
  if (exit?.code !== 0) throw new Error(`profiled daemon ended badly: ${JSON.stringify(exit)} ${d.stderr()}`);
  const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
  if (file === undefined) throw new Error('the profiled daemon wrote no .cpuprofile');
  let windowed = profileByCategory(join(profDir, file), [fromUs, toUs]);
  const whole = windowed.categories.length === 0; // clocks did not line up: the whole run, startup included
  if (whole) windowed = profileByCategory(join(profDir, file));
  const scale = (list) => list.map(([k, v]) => [k, v / calls]);
  return { categories: scale(windowed.categories), functions: scale(windowed.functions), answer: summarize(times), whole };
}

// ---- 2. ingest -------------------------------------------------------------------------------------

const CMDS = [
  ['/usr/bin/python3', ['/usr/bin/python3', '/usr/local/bin/backup.py', '--target', '/srv/backup', '--compress', '--keep=7']],
  ['/usr/bin/git', ['git', 'fetch', '--prune', '--quiet', 'origin', 'main']],
  ['/usr/bin/gzip', ['gzip', '-9', '--rsyncable', '-f', '/var/log/syslog.1']],
  ['/usr/bin/curl', ['curl', '-fsS', '-m', '10', 'https://hooks.example.net/v1/ping']],
  ['/usr/bin/find', ['find', '/var/lib/php/sessions', '-type', 'f', '-mmin', '+24']],
  ['/usr/lib/gcc/x86_64-linux-gnu/12/cc1', ['/usr/lib/gcc/x86_64-linux-gnu/12/cc1', '-quiet', 'src/main.c', '-O2', '-o', '/tmp/ccX.s']],
];

/** `count` realistic events; `triples`: fork+exec+exit per process, else exec only (one process row each). */
function ingestWorkload(count, triples) {
  const events = [];
  const records = new Map();
  const nsPerEvent = 50_000; // 20,000 events/s of simulated time
  let pid = 1000;
  while (events.length < count) {
    const i = events.length;
    pid = pid >= 32_000 ? 1000 : pid + 1;
    const ticks = 1_000_000 + i;
    const key = `${pid}:${ticks}`;
    const [exe, argv] = CMDS[records.size % CMDS.length];
    const startNs = i * nsPerEvent;
    const comm = exe.slice(exe.lastIndexOf('/') + 1).slice(0, 15);
    const uids = [0, 0, 0, 0];
    const details = { comm, exe, argv: [...argv.slice(0, 5), `--run=${i}`], argvTruncated: false, cwd: '/root', ppid: 1, uids, gids: uids, startTicks: ticks, label: null, cgroup: '/system.slice/cron.service' };
    const exitNs = startNs + 2 * nsPerEvent;
    records.set(key, {
      key, pid, startTicks: ticks, ppid: 1, parentKey: '1:25', comm, exe, argv: details.argv, argvTruncated: false, cwd: '/root', uids, gids: uids,
      label: null, cgroup: details.cgroup, inheritedImage: false, startNs, execNs: startNs + 200_000, exitNs: triples ? exitNs : null,
      exit: triples ? { code: 0, signal: null, coreDumped: false } : null, origin: 'observed', exitOrigin: triples ? 'observed' : null,
      tracerPid: null, coreDumped: false, threadsCreated: 0, threadsExited: 0,
    });
    const base = { pid, tid: pid, cpu: i % 2, provenance: 'observed', key };
    if (triples) events.push({ seq: events.length + 1, ktimeNs: startNs, kind: 'fork', parentPid: 1, parentTid: 1, thread: false, ...base });
    events.push({ seq: events.length + 1, ktimeNs: startNs + 200_000, kind: 'exec', details, ...base });
    if (triples) events.push({ seq: events.length + 1, ktimeNs: exitNs, kind: 'exit', status: { code: 0, signal: null, coreDumped: false }, rawCode: 0, parentPid: 1, ...base });
  }
  events.length = count;
  return { events, records };
}

async function ingest(root, dir) {
  const { EventStore } = await import(pathToFileURL(join(root, 'dist/src/store/index.js')).href);
  const rows = [];
  const modes = [
    { triples: false, rows: true, label: 'exec (1 row per event)' },
    { triples: true, rows: true, label: 'fork+exec+exit (3 events per row)' },
    { triples: false, rows: false, label: 'exec, no process rows (diagnostic)', diagnostic: true },
  ];
  for (const { triples, rows: withRows, label, diagnostic = false } of modes) {
    for (const every of [1000, 10_000]) {
      const { events, records } = ingestWorkload(INGEST, triples);
      const path = join(dir, `ingest-${triples ? 'triples' : 'exec'}-${every}.db`);
      const store = new EventStore({ path, bootId: 'bench-boot', source: 'bench' });
      const recordOf = withRows ? (key) => records.get(key) : () => undefined;
      const wallOf = (ns) => 1.7e12 + ns / 1e6;
      const BATCH = 100; // events per delivery, about what one netlink read hands the daemon in a storm
      const flushMs = [];
      const started = performance.now();
      let pending = 0;
      for (let i = 0; i < events.length; i += BATCH) {
        const batch = events.slice(i, i + BATCH);
        store.enqueue(batch, recordOf, wallOf);
        pending += batch.length;
        if (pending >= every) {
          const f = performance.now();
          store.flush();
          flushMs.push(performance.now() - f);
          pending = 0;
        }
      }
      if (pending > 0) store.flush();
      const elapsed = (performance.now() - started) / 1000;
      const c = store.counters();
      store.close();
      if (c.written !== events.length || c.dropped !== 0) throw new Error(`ingest: wrote ${c.written} of ${events.length} events, dropped ${c.dropped}`);
      const f = summarize(flushMs);
      rows.push({ mode: label, diagnostic, every, events: events.length, rowsWritten: withRows ? records.size : 0, elapsed, rate: events.length / elapsed, flushMedian: f.median, flushP90: f.p90, bytes: fileBytes(path) });
      console.log(`  ${rows.at(-1).mode}, flush every ${int(every)}: ${int(events.length / elapsed)} events/s`);
      rmSync(path, { force: true });
      rmSync(`${path}-wal`, { force: true });
      rmSync(`${path}-shm`, { force: true });
      await yieldToEventLoop();
    }
  }
  return rows;
}

// ---- 2b. daemon CPU in an exec storm ------------------------------------------------------------

const sumKinds = (s) => Object.values(s.eventsByKind).reduce((a, b) => a + b, 0);

async function stormCpu(daemon, storm, dir, workers, ctx) {
  await delay(1000);
  const s0 = await daemon.stats();
  const exec0 = s0.eventsByKind.exec ?? 0;
  const lost0 = s0.sourceCounters.lost;
  const t0 = cpuTicks(daemon.pid);
  const started = performance.now();
  const r = await runStorm(storm.bin, { total: STORM, workers, pidfile: join(dir, `storm-${workers}`), onSpawn: (c) => { ctx.stormChild = c; } });
  ctx.stormChild = null;
  const s1 = await waitForStats(daemon, (s) => (s.eventsByKind.exec ?? 0) - exec0 + (s.sourceCounters.lost - lost0) >= STORM && s.store.queued === 0 && s.reorder.held === 0, { what: `the daemon to store the storm's ${STORM} execs`, everyMs: 100 });
  const wall = (performance.now() - started) / 1000;
  const ticks = cpuTicks(daemon.pid) - t0;
  const events = sumKinds(s1) - sumKinds(s0);
  const cpu = ticks / CLK_TCK;
  return {
    workers, stormSeconds: r.wallMs / 1000, rate: STORM / (r.wallMs / 1000), wall, cpu, events, execs: (s1.eventsByKind.exec ?? 0) - exec0,
    written: s1.store.written - s0.store.written, lost: s1.sourceCounters.lost - lost0, perTenK: (cpu * 10_000) / events, perTenKExecs: (cpu * 10_000) / STORM, core: cpu / wall,
  };
}

// ---- 3. a 30-day history of a server -------------------------------------------------------------


const USERS = { root: 0, daemon: 1, man: 6, 'www-data': 33, backup: 34, _apt: 42, postgres: 101, nobody: 65534, cloudsdk: 1000, dev: 1001, ci: 1002 };
const MIN = 60_000;

/**
 * Process instances of a 30-day history, in a flat list: { parent (index or -1), start, end
 * (wall ms), comm, exe, argv, cwd, uid, cgroup, code, signal }. Sessions of several kinds start
 * at random times; children run inside their parent's lifetime. Returns the list and the index
 * of the lineage target: a `make` in an ssh session (systemd → sshd → sshd [priv] → sshd user →
 * bash → make, ~50 descendants) in the middle of the period.
 */
function historyWorkload(target, t0, tEnd) {
  const rand = rng(20261122);
  const pick = (list) => list[Math.floor(rand() * list.length)];
  const between = (a, b) => a + rand() * (b - a);
  const procs = [];
  const add = (parent, start, end, exe, argv, uid, opts = {}) => {
    const p = parent < 0 ? null : procs[parent];
    // Children live inside their parent's lifetime; nothing outlives the period.
    const last = p === null ? Math.max(end, start + 1) : p.end - 1;
    const s = Math.min(p === null ? start : Math.max(start, p.start + 2), Math.min(last, tEnd) - 1);
    const e = Math.min(Math.max(end, s + 1), last, tEnd);
    const comm = (opts.comm ?? exe.slice(exe.lastIndexOf('/') + 1)).slice(0, 15);
    procs.push({ parent, start: s, end: Math.max(e, s + 0.5), comm, exe, argv, cwd: opts.cwd ?? (uid === 0 ? '/root' : '/'), uid, cgroup: opts.cgroup ?? (p?.cgroup ?? '/system.slice'), code: opts.code ?? 0, signal: opts.signal ?? null });
    return procs.length - 1;
  };
  const rootStart = t0 - 1000;
  const rootEnd = tEnd;
  const systemd = add(-1, rootStart, rootEnd, '/usr/lib/systemd/systemd', ['/sbin/init', 'splash'], 0, { cgroup: '/init.scope' });
  const sshd = add(systemd, rootStart, rootEnd, '/usr/sbin/sshd', ['sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups'], 0, { cgroup: '/system.slice/ssh.service' });
  const cron = add(systemd, rootStart, rootEnd, '/usr/sbin/cron', ['/usr/sbin/cron', '-f', '-P'], 0, { cgroup: '/system.slice/cron.service' });
  const fpm = add(systemd, rootStart, rootEnd, '/usr/sbin/php-fpm8.2', ['php-fpm: master process (/etc/php/8.2/fpm/php-fpm.conf)'], 0, { cgroup: '/system.slice/php8.2-fpm.service' });
  const pg = add(systemd, rootStart, rootEnd, '/usr/lib/postgresql/15/bin/postgres', ['/usr/lib/postgresql/15/bin/postgres', '-D', '/var/lib/postgresql/15/main', '-c', 'config_file=/etc/postgresql/15/main/postgresql.conf'], USERS.postgres, { cgroup: '/system.slice/system-postgresql.slice/postgresql@15-main.service' });
  const runner = add(systemd, rootStart, rootEnd, '/usr/bin/gitlab-runner', ['/usr/bin/gitlab-runner', 'run', '--working-directory', '/home/gitlab-runner', '--user', 'ci'], 0, { cgroup: '/system.slice/gitlab-runner.service' });
  const GCC = '/usr/lib/gcc/x86_64-linux-gnu/12';

  const build = (parent, start, uid, cwd) => {
    const end = start + between(20_000, 120_000);
    const make = add(parent, start, end, '/usr/bin/make', ['make', '-j2', 'all', `BUILD=release`, 'V=0'], uid, { cwd });
    const files = ['main', 'config', 'parse', 'render', 'table', 'store', 'api', 'util', 'glob', 'proc', 'event', 'clock'];
    const step = (end - start - 4000) / files.length;
    files.forEach((f, i) => {
      const s = start + 50 + i * step;
      const sh = add(make, s, s + step, '/usr/bin/dash', ['/bin/sh', '-c', `gcc -O2 -Wall -c src/${f}.c -o build/${f}.o`], uid, { cwd, comm: 'sh' });
      const gcc = add(sh, s + 1, s + step - 2, '/usr/bin/x86_64-linux-gnu-gcc-12', ['gcc', '-O2', '-Wall', '-c', `src/${f}.c`, '-o', `build/${f}.o`], uid, { cwd, comm: 'gcc' });
      add(gcc, s + 2, s + step * 0.8, `${GCC}/cc1`, [`${GCC}/cc1`, '-quiet', `src/${f}.c`, '-quiet', '-dumpbase', `${f}.c`, '-O2', '-Wall', '-o', `/tmp/cc${f}.s`], uid, { cwd });
      add(gcc, s + step * 0.8, s + step - 3, '/usr/bin/x86_64-linux-gnu-as', ['as', '--64', '-o', `build/${f}.o`, `/tmp/cc${f}.s`], uid, { cwd, comm: 'as' });
    });
    const gcc = add(make, end - 3900, end - 10, '/usr/bin/x86_64-linux-gnu-gcc-12', ['gcc', '-o', 'procwatchd', ...files.slice(0, 3).map((f) => `build/${f}.o`), '-lsqlite3'], uid, { cwd, comm: 'gcc' });
    const collect = add(gcc, end - 3800, end - 20, `${GCC}/collect2`, [`${GCC}/collect2`, '-plugin', `${GCC}/liblto_plugin.so`, '-o', 'procwatchd'], uid, { cwd });
    add(collect, end - 3700, end - 30, '/usr/bin/x86_64-linux-gnu-ld.bfd', ['/usr/bin/ld', '-plugin', `${GCC}/liblto_plugin.so`, '--eh-frame-hdr', '-m', 'elf_x86_64', '-o', 'procwatchd'], uid, { cwd, comm: 'ld' });
    return make;
  };

  const sessions = {
    ssh(start) {
      const [name, uid] = pick([['cloudsdk', 1000], ['cloudsdk', 1000], ['dev', 1001], ['root', 0]]);
      const end = start + between(5 * MIN, 120 * MIN);
      const cg = `/user.slice/user-${uid}.slice/session-${Math.floor(start / 1000) % 9000}.scope`;
      const priv = add(sshd, start, end, '/usr/sbin/sshd', [`sshd: ${name} [priv]`], 0, { cgroup: cg });
      const user = add(priv, start + 300, end - 5, '/usr/sbin/sshd', [`sshd: ${name}@pts/${Math.floor(rand() * 8)}`], uid);
      const home = uid === 0 ? '/root' : `/home/${name}`;
      const bash = add(user, start + 400, end - 10, '/usr/bin/bash', ['-bash'], uid, { cwd: home, comm: 'bash' });
      const n = 5 + Math.floor(rand() * 20);
      for (let i = 0; i < n; i++) {
        const s = start + 500 + ((end - start - 1000) * i) / n;
        const d = between(50, 5000);
        const cmd = rand();
        if (cmd < 0.07) { build(bash, s, uid, `${home}/src/procwatchd`); continue; }
        if (cmd < 0.2) { const g = add(bash, s, s + d + 2000, '/usr/bin/git', ['git', pick(['pull', 'fetch']), '--rebase', 'origin', 'main'], uid, { cwd: `${home}/src/procwatchd` }); add(g, s + 20, s + d + 1500, '/usr/bin/ssh', ['/usr/bin/ssh', '-o', 'SendEnv=GIT_PROTOCOL', 'git@git.example.net', "git-upload-pack 'ops/procwatchd.git'"], uid); continue; }
        if (cmd < 0.3) { const su = add(bash, s, s + d + 3000, '/usr/bin/sudo', ['sudo', 'systemctl', 'restart', pick(['nginx', 'php8.2-fpm', 'postgresql'])], 0); add(su, s + 30, s + d + 2500, '/usr/bin/systemctl', ['systemctl', 'restart', pick(['nginx', 'php8.2-fpm', 'postgresql']), '--no-pager'], 0); continue; }
        const [exe, argv, code] = pick([
          ['/usr/bin/ls', ['ls', '-la', '--color=auto', '/var/log/nginx'], 0],
          ['/usr/bin/grep', ['grep', '-rn', '--color=auto', 'ERROR', '/var/log/php8.2-fpm.log'], 1],
          ['/usr/bin/cat', ['cat', '/etc/nginx/sites-enabled/default'], 0],
          ['/usr/bin/less', ['less', '-R', '/var/log/syslog'], 0],
          ['/usr/bin/vim.basic', ['vim', 'config/settings.yaml'], 0],
          ['/usr/bin/ps', ['ps', 'aux', '--sort=-%cpu'], 0],
          ['/usr/bin/python3.11', ['python3', 'manage.py', 'migrate', '--noinput', '--verbosity=1'], 0],
          ['/usr/bin/tail', ['tail', '-n', '200', '-f', '/var/log/nginx/error.log'], null],
        ]);
        add(bash, s, s + d, exe, argv, uid, { cwd: home, code: code ?? null, signal: code === null ? 2 : null });
      }
    },
    cron(start) {
      const child = add(cron, start, start + between(200, 20_000), '/usr/sbin/cron', ['/usr/sbin/cron', '-f', '-P'], 0);
      const c = procs[child];
      const job = pick(['backup', 'sessionclean', 'sa1', 'hourly']);
      if (job === 'backup') {
        const sh = add(child, c.start + 1, c.end - 1, '/usr/bin/dash', ['/bin/sh', '-c', '/usr/local/bin/backup.py --target /srv/backup --compress --keep=7'], USERS.backup, { comm: 'sh' });
        const py = add(sh, c.start + 2, c.end - 2, '/usr/bin/python3.11', ['/usr/bin/python3', '/usr/local/bin/backup.py', '--target', '/srv/backup', '--compress', '--keep=7'], USERS.backup);
        const tar = add(py, c.start + 100, c.end - 10, '/usr/bin/tar', ['tar', '-cf', '-', '--exclude=*.tmp', '/var/www', '/etc'], USERS.backup);
        add(py, c.start + 110, c.end - 12, '/usr/bin/gzip', ['gzip', '-6', '--rsyncable', '-c'], USERS.backup);
        add(tar, c.start + 200, c.start + 300, '/usr/bin/gzip', ['gzip', '-d', '-c', '/srv/backup/last.tar.gz'], USERS.backup);
      } else if (job === 'sessionclean') {
        const sh = add(child, c.start + 1, c.end - 1, '/usr/bin/dash', ['/bin/sh', '-c', '[ -x /usr/lib/php/sessionclean ] && if [ ! -d /run/systemd/system ]; then /usr/lib/php/sessionclean; fi'], 0, { comm: 'sh' });
        const clean = add(sh, c.start + 2, c.end - 2, '/usr/bin/dash', ['/bin/sh', '-e', '/usr/lib/php/sessionclean'], 0, { comm: 'sessionclean' });
        add(clean, c.start + 5, c.end - 5, '/usr/bin/find', ['find', '-O3', '/var/lib/php/sessions/', '-ignore_readdir_race', '-depth', '-mindepth', '1', '-type', 'f', '-cmin', '+24', '-delete'], 0);
        add(clean, c.start + 3, c.start + 4, '/usr/bin/sort', ['sort', '-rn', '-t:', '-k2,2'], 0);
      } else if (job === 'sa1') {
        const sh = add(child, c.start + 1, c.end - 1, '/usr/bin/dash', ['/bin/sh', '-c', 'command -v debian-sa1 > /dev/null && debian-sa1 1 1'], 0, { comm: 'sh' });
        const sa1 = add(sh, c.start + 2, c.end - 2, '/usr/bin/dash', ['/bin/sh', '/usr/lib/sysstat/debian-sa1', '1', '1'], 0, { comm: 'debian-sa1' });
        add(sa1, c.start + 3, c.end - 3, '/usr/lib/sysstat/sadc', ['/usr/lib/sysstat/sadc', '-F', '-L', '-S', 'DISK', '1', '1', '/var/log/sysstat'], 0);
      } else {
        const sh = add(child, c.start + 1, c.end - 1, '/usr/bin/dash', ['/bin/sh', '-c', 'cd / && run-parts --report /etc/cron.hourly'], 0, { comm: 'sh' });
        const rp = add(sh, c.start + 2, c.end - 2, '/usr/bin/run-parts', ['run-parts', '--report', '/etc/cron.hourly'], 0);
        const lr = add(rp, c.start + 3, c.end - 3, '/usr/sbin/logrotate', ['/usr/sbin/logrotate', '--state', '/var/lib/logrotate/status', '/etc/logrotate.conf'], 0);
        for (const log of ['nginx/access.log.1', 'nginx/error.log.1', 'syslog.1']) add(lr, c.start + 4, c.end - 4, '/usr/bin/gzip', ['/bin/gzip', '-9', '-f', `/var/log/${log}`], 0);
      }
    },
    web(start) {
      const worker = add(fpm, start, start + between(10 * MIN, 60 * MIN), '/usr/sbin/php-fpm8.2', ['php-fpm: pool www'], USERS['www-data'], { cwd: '/' });
      const w = procs[worker];
      const n = 1 + Math.floor(rand() * 8);
      for (let i = 0; i < n; i++) {
        const s = w.start + ((w.end - w.start) * (i + 0.5)) / n;
        const img = `/var/www/uploads/${Math.floor(rand() * 1e6)}.jpg`;
        const sh = add(worker, s, s + between(100, 3000), '/usr/bin/dash', ['sh', '-c', `convert ${img} -resize 800x600 -quality 85 ${img}.web`], USERS['www-data'], { comm: 'sh', cwd: '/var/www/html' });
        const sp = procs[sh];
        if (rand() < 0.7) add(sh, sp.start + 1, sp.end - 1, '/usr/bin/convert-im6.q16', ['convert', img, '-resize', '800x600', '-quality', '85', `${img}.web`], USERS['www-data'], { cwd: '/var/www/html', comm: 'convert' });
        else add(sh, sp.start + 1, sp.end - 1, '/usr/bin/curl', ['curl', '-fsS', '-m', '10', '-X', 'POST', 'https://hooks.example.net/v1/upload'], USERS['www-data'], { cwd: '/var/www/html', code: rand() < 0.1 ? 28 : 0 });
      }
    },
    postgres(start) {
      const n = 1 + Math.floor(rand() * 6);
      for (let i = 0; i < n; i++) {
        const s = start + i * between(100, 2000);
        add(pg, s, s + between(20, 60_000), '/usr/lib/postgresql/15/bin/postgres', [`postgres: 15/main: app appdb 10.0.0.${2 + Math.floor(rand() * 20)}(${40000 + Math.floor(rand() * 20000)}) idle`], USERS.postgres, { cwd: '/var/lib/postgresql/15/main' });
      }
      if (rand() < 0.2) add(pg, start + 5, start + between(1000, 30_000), '/usr/lib/postgresql/15/bin/postgres', ['postgres: 15/main: autovacuum worker appdb'], USERS.postgres, { cwd: '/var/lib/postgresql/15/main' });
    },
    ci(start) {
      const end = start + between(2 * MIN, 20 * MIN);
      const uid = USERS.ci;
      const job = Math.floor(rand() * 1e6);
      const cwd = `/home/gitlab-runner/builds/x1/0/ops/web-${job % 7}`;
      const bash = add(runner, start, end, '/usr/bin/bash', ['bash', '--login', '-c', `/home/gitlab-runner/.gitlab-runner/job-${job}.sh`], uid, { cwd });
      const g = add(bash, start + 100, start + 8000, '/usr/bin/git', ['git', 'clone', '--depth', '20', `https://git.example.net/ops/web-${job % 7}.git`, cwd], uid, { cwd });
      add(g, start + 150, start + 7900, '/usr/lib/git-core/git-remote-https', ['git-remote-https', 'origin', `https://git.example.net/ops/web-${job % 7}.git`], uid, { cwd });
      for (const [s, args] of [[0.1, ['npm', 'ci', '--no-audit', '--prefer-offline']], [0.4, ['npm', 'run', 'build', '--', '--mode=production']], [0.7, ['npm', 'test', '--', '--reporter=dot']]]) {
        const t = start + (end - start) * s;
        const npm = add(bash, t, t + (end - start) * 0.28, '/usr/bin/node', ['npm', ...args.slice(1)], uid, { cwd, comm: 'npm' + ' ' + args[1] });
        const sh = add(npm, t + 200, t + (end - start) * 0.27, '/usr/bin/dash', ['sh', '-c', `node scripts/${args[1]}.mjs`], uid, { cwd, comm: 'sh' });
        const node = add(sh, t + 300, t + (end - start) * 0.26, '/usr/bin/node', ['node', `scripts/${args[1]}.mjs`, '--ci', '--color=false'], uid, { cwd });
        const workers = args[1] === 'test' ? 4 : 1;
        for (let i = 0; i < workers; i++) add(node, t + 400, t + (end - start) * 0.25, '/usr/bin/node', ['/usr/bin/node', '--enable-source-maps', `node_modules/.bin/worker.js`, `--worker=${i}`], uid, { cwd });
      }
    },
    systemd(start) {
      const unit = pick(['tmpfiles', 'apt', 'mandb', 'fstrim', 'logrotate']);
      if (unit === 'tmpfiles') add(systemd, start, start + 300, '/usr/bin/systemd-tmpfiles', ['systemd-tmpfiles', '--clean'], 0, { cgroup: '/system.slice/systemd-tmpfiles-clean.service' });
      else if (unit === 'apt') {
        const apt = add(systemd, start, start + between(5000, 40_000), '/usr/bin/apt-get', ['apt-get', '-qq', '-y', 'update'], 0, { cgroup: '/system.slice/apt-daily.service' });
        for (const m of ['http', 'http', 'https', 'gpgv', 'store']) add(apt, procs[apt].start + 100, procs[apt].end - 100, `/usr/lib/apt/methods/${m}`, [`/usr/lib/apt/methods/${m}`], USERS._apt, { comm: m });
      } else if (unit === 'mandb') add(systemd, start, start + between(1000, 20_000), '/usr/bin/mandb', ['/usr/bin/mandb', '--quiet'], USERS.man, { cgroup: '/system.slice/man-db.service' });
      else if (unit === 'fstrim') add(systemd, start, start + 2000, '/usr/sbin/fstrim', ['/sbin/fstrim', '--listed-in', '/etc/fstab:/proc/self/mountinfo', '--verbose', '--quiet-unsupported'], 0, { cgroup: '/system.slice/fstrim.service' });
      else {
        const lr = add(systemd, start, start + 3000, '/usr/sbin/logrotate', ['/usr/sbin/logrotate', '/etc/logrotate.conf'], 0, { cgroup: '/system.slice/logrotate.service' });
        add(lr, start + 10, start + 2000, '/usr/bin/gzip', ['/bin/gzip', '-9', '-f', '/var/log/auth.log.1'], 0);
      }
    },
  };
  const mix = [['postgres', 30], ['web', 14], ['ssh', 5], ['cron', 30], ['ci', 3], ['systemd', 4]];
  const weight = mix.reduce((a, [, w]) => a + w, 0);
  let lineageTarget = -1;
  const middle = (t0 + tEnd) / 2;
  while (procs.length < target) {
    let r = rand() * weight;
    const [kind] = mix.find(([, w]) => (r -= w) < 0) ?? mix[0];
    const start = between(t0, tEnd - 1000);
    const before = procs.length;
    sessions[kind](start);
    if (lineageTarget < 0 && kind === 'ssh' && start > middle) {
      lineageTarget = procs.slice(before).findIndex((p) => p.comm === 'make');
      if (lineageTarget >= 0) lineageTarget += before;
    }
  }
  return { procs, lineageTarget };
}

/** Writes the history through EventStore in time order (fork, exec, exit per process), printing progress. */
async function buildHistory(root, path, bootId) {
  const { EventStore } = await import(pathToFileURL(join(root, 'dist/src/store/index.js')).href);
  const now = Date.now();
  const t0 = now - 30 * 86_400_000 + 10 * MIN; // inside a 30-day retention even if someone runs it with the defaults
  const tEnd = now - 2 * MIN;
  const started = performance.now();
  const { procs, lineageTarget } = historyWorkload(Math.ceil(HISTORY_EVENTS / 3), t0, tEnd);
  if (lineageTarget < 0) throw new Error('history workload: no make in an ssh session after the middle of the period');
  // Keys: pid:startTicks, pids handed out in start order (wrapping at 32768), ticks from a boot
  // one day before the period. These ticks (~2.7e8) never collide with this boot's real ones.
  const bootMs = t0 - 86_400_000;
  const order = Array.from(procs.keys()).sort((a, b) => procs[a].start - procs[b].start);
  let nextPid = 300;
  const fixed = new Map([[0, 1], [1, 402], [2, 411], [3, 425], [4, 433], [5, 460]]); // long-lived roots
  for (const i of order) {
    const p = procs[i];
    if (fixed.has(i)) p.pid = fixed.get(i);
    else { p.pid = nextPid; nextPid = nextPid >= 32_767 ? 300 : nextPid + 1; }
    p.ticks = Math.round((p.start - bootMs) / 10);
    p.key = `${p.pid}:${p.ticks}`;
  }
  const nsOf = (wall) => Math.round((wall - bootMs) * 1e6);
  const wallOf = (ns) => bootMs + ns / 1e6;
  // Every event as (time, process, kind), sorted by time: the daemon stores in arrival order.
  const n = procs.length;
  const times = new Float64Array(3 * n);
  for (let i = 0; i < n; i++) {
    const p = procs[i];
    times[3 * i] = p.start;
    times[3 * i + 1] = p.start + 0.3;
    times[3 * i + 2] = p.end;
  }
  const evOrder = new Uint32Array(3 * n).map((_, i) => i).sort((a, b) => times[a] - times[b] || a - b);
  const total = Math.min(evOrder.length, HISTORY_EVENTS);
  console.log(`  ${int(n)} process instances, ${int(total)} events, ${new Date(t0).toISOString().slice(0, 10)} → ${new Date(tEnd).toISOString().slice(0, 10)}; generated in ${((performance.now() - started) / 1000).toFixed(1)} s`);

  const store = new EventStore({ path, bootId, source: 'bench', maxQueue: 1_000_000 });
  const records = new Map();
  const recordOf = (key) => records.get(key);
  const recordFor = (p) => {
    const parent = p.parent < 0 ? null : procs[p.parent];
    const ids = [p.uid, p.uid, p.uid, p.uid];
    const gid = p.uid === 1000 || p.uid === 1001 || p.uid === 1002 ? p.uid : p.uid === 33 ? 33 : 0;
    const gids = [gid, gid, gid, gid];
    return {
      key: p.key, pid: p.pid, startTicks: p.ticks, ppid: parent?.pid ?? 0, parentKey: parent?.key ?? null, comm: p.comm, exe: p.exe, argv: p.argv,
      argvTruncated: false, cwd: p.cwd, uids: ids, gids, label: null, cgroup: p.cgroup, inheritedImage: false, startNs: nsOf(p.start),
      execNs: nsOf(p.start + 0.3), exitNs: nsOf(p.end), exit: { code: p.code, signal: p.signal, coreDumped: false }, origin: 'observed',
      exitOrigin: 'observed', tracerPid: null, coreDumped: false, threadsCreated: 0, threadsExited: 0,
    };
  };
  const CHUNK = 10_000;
  let seq = 0;
  for (let from = 0; from < total; from += CHUNK) {
    const events = [];
    const ended = [];
    for (let j = from; j < Math.min(total, from + CHUNK); j++) {
      const i = Math.floor(evOrder[j] / 3);
      const kind = evOrder[j] % 3;
      const p = procs[i];
      const parent = p.parent < 0 ? null : procs[p.parent];
      const base = { seq: ++seq, ktimeNs: nsOf(times[evOrder[j]]), pid: p.pid, tid: p.pid, cpu: seq % 2, provenance: 'observed', key: p.key };
      if (kind === 0) {
        records.set(p.key, recordFor(p));
        events.push({ ...base, kind: 'fork', parentPid: parent?.pid ?? 0, parentTid: parent?.pid ?? 0, thread: false });
      } else if (kind === 1) {
        const r = records.get(p.key);
        events.push({ ...base, kind: 'exec', details: { comm: p.comm, exe: p.exe, argv: p.argv, argvTruncated: false, cwd: p.cwd, ppid: r.ppid, uids: r.uids, gids: r.gids, startTicks: p.ticks, label: null, cgroup: p.cgroup } });
      } else {
        const raw = p.signal === null ? (p.code << 8) : p.signal;
        events.push({ ...base, kind: 'exit', status: { code: p.code, signal: p.signal, coreDumped: false }, rawCode: raw, parentPid: parent?.pid ?? 0 });
        ended.push(p.key);
      }
    }
    store.enqueue(events, recordOf, wallOf);
    store.flush();
    for (const key of ended) records.delete(key);
    if ((from + CHUNK) % 100_000 === 0 || from + CHUNK >= total) {
      const elapsed = (performance.now() - started) / 1000;
      console.log(`  building the store: ${int(Math.min(total, from + CHUNK))} / ${int(total)} events (${elapsed.toFixed(1)} s)`);
    }
    await yieldToEventLoop(); // lets the SIGINT cleanup run
  }
  store.close();
  const target = procs[lineageTarget];
  const userCounts = new Map();
  for (const p of procs) userCounts.set(p.uid, (userCounts.get(p.uid) ?? 0) + 1);
  return { processes: n, events: total, seconds: (performance.now() - started) / 1000, lineageKey: target.key, lineageStart: target.start, userCounts };
}

async function historyQueries(root, dir, ctx) {
  const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  const path = join(dir, 'history.db');
  const built = await buildHistory(root, path, bootId);
  const bytes = fileBytes(path);
  console.log(`  store built in ${built.seconds.toFixed(1)} s: ${int(built.events)} events, ${int(built.processes)} processes, ${mib(bytes)} MiB`);
  // Retention off: the store is 30 days deep and must stay so while it is measured.
  const config = join(dir, 'history.yaml');
  writeFileSync(config, 'daemon:\n  retention:\n    max_age: none\n    max_size: none\n');
  const d = new DaemonProcess({ root, database: path, socket: join(dir, 'history.sock'), config });
  ctx.daemons.push(d);
  const startT = performance.now();
  await d.start();
  const startSeconds = (performance.now() - startT) / 1000;
  const key = encodeURIComponent(built.lineageKey);
  const queries = [
    { id: 'history exe=/usr/bin/bash limit=100', path: '/v1/history?exe=/usr/bin/bash&limit=100', rows: (b) => b.processes.length, store: { exe: '/usr/bin/bash', limit: 100 } },
    { id: 'history exe=*python3* limit=100 (glob)', path: `/v1/history?exe=${encodeURIComponent('*python3*')}&limit=100`, rows: (b) => b.processes.length, store: { exe: '*python3*', limit: 100 } },
    { id: 'history user=root since=1d', path: '/v1/history?user=root&since=1d', rows: (b) => b.processes.length, store: { euid: 0, since: 86_400_000, limit: 1000 } },
    { id: 'history user=www-data since=1d', path: '/v1/history?user=www-data&since=1d', rows: (b) => b.processes.length, store: { euid: 33, since: 86_400_000, limit: 1000 } },
    { id: 'history user=man since=1d (rare user)', path: '/v1/history?user=man&since=1d', rows: (b) => b.processes.length, store: { euid: 6, since: 86_400_000, limit: 1000 } },
    { id: 'history name=cc1', path: '/v1/history?name=cc1', rows: (b) => b.processes.length, store: { name: 'cc1', limit: 1000 } },
    { id: `lineage ${built.lineageKey} (make)`, path: `/v1/lineage/${key}`, rows: (b) => `${b.ancestors.length} up, ${b.descendants.length} down`, lineage: built.lineageKey },
    { id: 'events since=1h limit=1000', path: '/v1/events?since=1h&limit=1000', rows: (b) => b.events.length, events: { since: 3_600_000, limit: 1000 } },
  ];
  const problems = [];
  const shape = new Map();
  for (const q of queries) {
    const r = await d.get(q.path); // also the warm-up call
    if (r.status !== 200) { problems.push(`${q.path}: HTTP ${r.status} ${r.text.slice(0, 200)}`); continue; }
    shape.set(q.id, { rows: q.rows(JSON.parse(r.text)), bytes: r.text.length });
    await d.get(q.path);
  }
  const lineageShape = shape.get(queries.find((q) => q.lineage !== undefined).id)?.rows;
  if (lineageShape !== undefined && !/^5 up, (4\d|5\d) down$/.test(lineageShape)) problems.push(`lineage of the make: expected 5 ancestors and ~50 descendants, got ${lineageShape}`);
  const samples = new Map(queries.map((q) => [q.id, []]));
  for (let round = 0; round < QUERY_RUNS; round++) {
    for (const q of queries) {
      const r = await d.get(q.path);
      if (r.status !== 200) throw new Error(`${q.path}: HTTP ${r.status}`);
      samples.get(q.id).push(r.ms);
    }
  }
  const memory = d.memory();
  // The same queries in this process on the same file (read-only, next to the daemon): the SQL
  // and row decoding alone; the rest of the API figure is JSON, HTTP and the daemon's loop.
  const storeMs = await storeSide(root, path, bootId, queries);
  const exit = await d.stop();
  if (exit?.code !== 0) problems.push(`history daemon ended badly: ${JSON.stringify(exit)}: ${d.stderr().trim()}`);
  return { built, bytes, bytesAfter: fileBytes(path), startSeconds, queries, shape, stats: new Map([...samples].map(([id, s]) => [id, summarize(s)])), storeMs, problems, memory };
}

/** Every statement `call` prepares and runs on `db`, with its arguments (to ask SQLite for its plan). */
function statementsOf(db, call) {
  const seen = [];
  const prepare = db.prepare.bind(db);
  db.prepare = (sql) => {
    const stmt = prepare(sql);
    for (const method of ['all', 'get', 'iterate', 'run']) {
      const original = stmt[method].bind(stmt);
      stmt[method] = (...args) => { seen.push({ sql, args }); return original(...args); };
    }
    return stmt;
  };
  try {
    call();
  } finally {
    db.prepare = prepare;
  }
  return seen;
}

async function storeSide(root, path, bootId, queries) {
  const Database = (await import(pathToFileURL(join(root, 'node_modules/better-sqlite3/lib/index.js')).href)).default;
  const { queryHistory, queryLineage, queryEvents, latestEvents } = await import(pathToFileURL(join(root, 'dist/src/store/index.js')).href);
  const db = new Database(path, { readonly: true });
  const out = new Map();
  const plans = new Map();
  try {
    for (const q of queries) {
      const once = () => {
        const now = Date.now();
        if (q.store) return queryHistory(db, { exe: q.store.exe, name: q.store.name, euid: q.store.euid, sinceMs: q.store.since === undefined ? undefined : now - q.store.since, limit: q.store.limit });
        if (q.lineage) return queryLineage(db, bootId, q.lineage, 1000);
        return latestEvents(db, { sinceMs: now - q.events.since, limit: q.events.limit }).events;
      };
      once();
      const times = [];
      for (let i = 0; i < QUERY_RUNS; i++) {
        const t = performance.now();
        once();
        times.push(performance.now() - t);
      }
      out.set(q.id, summarize(times));
    }
    // The plan of every statement each query ran, for the reader (and for whoever optimises them).
    for (const q of queries) {
      const statements = statementsOf(db, q.store ? () => queryHistory(db, { exe: q.store.exe, name: q.store.name, euid: q.store.euid, sinceMs: q.store.since === undefined ? undefined : Date.now() - q.store.since, limit: q.store.limit })
        : q.lineage ? () => queryLineage(db, bootId, q.lineage, 1000) : () => latestEvents(db, { sinceMs: Date.now() - q.events.since, limit: q.events.limit }));
      plans.set(q.id, statements.map(({ sql, args }) => db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args).map((r) => r.detail).join('; ')).join(' || '));
    }
  } finally {
    db.close();
  }
  out.plans = plans;
  return out;
}

// ---- 4. RSS --------------------------------------------------------------------------------------

/**
 * A second reading after this long without new processes: the first one is taken seconds after
 * a burst, with garbage of the burst still in the heap; this one is what the daemon settles at.
 * The goal verdict stays on the first.
 */
const SETTLE_MS = 30_000;

const fmtMem = (m) => (m === null ? 'gone' : `${m.rssMiB.toFixed(1)} (peak ${m.hwmMiB.toFixed(1)}; anon ${m.anonMiB.toFixed(1)}, file ${m.fileMiB.toFixed(1)})`);

/** Node's own floor: a node process that only waits, 1 s after its start. */
async function bareNodeMemory() {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 5000)'], { stdio: 'ignore' });
  await delay(1000);
  const m = memoryOf(child.pid);
  child.kill('SIGKILL');
  return m;
}

async function liveCount(daemon) {
  return (await daemon.stats()).table.live;
}

/** Waits until the daemon's live table holds the sleepers (and the store caught up), then a quiet second. */
async function settleWithSleepers(daemon, baseline, count) {
  const s = await waitForStats(daemon, (st) => st.table.live >= baseline + count * 0.99 && st.store.queued === 0, { what: `${count} sleepers in the live table`, timeoutMs: 180_000, everyMs: 500 });
  await delay(2000);
  return s;
}

async function sleeperCountVia(daemon) {
  const b = await daemon.json(`/v1/processes?name=${SLEEPER}&limit=100000`);
  return b.processes.length;
}

// ---- the scenario --------------------------------------------------------------------------------

export async function run({ root, args = [] }) {
  if (process.getuid?.() !== 0) throw new Error('the daemon benchmark needs root: the daemon\'s proc connector needs CAP_NET_ADMIN (run it with sudo)');
  if (!existsSync(join(root, 'dist/src/cli/main.js'))) throw new Error('dist/src/cli/main.js is missing (npm run build)');
  const only = args.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',') ?? PARTS;
  for (const p of only) if (!PARTS.includes(p)) throw new Error(`--only: unknown part '${p}' (parts: ${PARTS.join(', ')})`);
  const want = (p) => only.includes(p);

  const ctx = { dirs: [], daemons: [], sleepers: [], stormChild: null, storm: null };
  const killAll = () => {
    for (const s of ctx.sleepers) s.killNow();
    killAllDaemons();
    if (ctx.stormChild?.pid !== undefined) {
      try { process.kill(-ctx.stormChild.pid, 'SIGKILL'); } catch { /* already gone */ }
    }
    ctx.storm?.cleanup();
    for (const d of ctx.dirs) rmSync(d, { recursive: true, force: true });
  };
  const onSignal = (signal) => { killAll(); process.exit(signal === 'SIGINT' ? 130 : 143); };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.on('exit', killAll);

  const dir = mkdtempSync(join(tmpdir(), 'pwbench-daemon-'));
  ctx.dirs.push(dir);
  const room = checkRoomFor(LIVE);
  console.log(machineLine());
  console.log(`load average at start: ${readFileSync('/proc/loadavg', 'utf8').trim()} (other work on this machine skews the figures)`);
  console.log(`processes now: ${room.now}; pid_max ${room.pidMax}, threads-max ${room.threadsMax}, ulimit -u ${room.nproc}${process.getuid() === 0 ? ' (root: not held to it)' : ''}`);
  if (room.problems.length > 0 && (want('rss') || want('ps'))) throw new Error(`no room for ${LIVE} more processes: ${room.problems.join('; ')}`);

  const results = { ps: [], ingest: null, storms: [], rss: [], massExit: null, history: null, phases: null, clientProf: null, daemonProf: null };
  const problems = [];
  try {
    // -- 2a. ingest (no daemon) --
    if (want('ingest')) {
      console.log(`\n-- store ingest: ${int(INGEST)} events through EventStore.enqueue + flush (dist/src/store), temp file`);
      results.ingest = await ingest(root, dir);
    }

    // -- 1 and 4: a daemon on a fresh database --
    if (want('ps') || want('rss')) {
      const d1 = new DaemonProcess({ root, database: join(dir, 'live.db'), socket: join(dir, 'live.sock') });
      ctx.daemons.push(d1);
      console.log('\n-- daemon on a fresh database (./bin/procwatch daemon --database TMP --socket TMP)');
      await d1.start();
      console.log(`  ${d1.stderr().trim().split('\n').join(' | ')}`);
      await delay(3000);
      results.rss.push(['idle, today\'s processes', await liveCount(d1), fmtMem(d1.memory()), d1.memory()]);
      results.rss.push(['for scale: a bare `node` waiting on a timer', 0, fmtMem(await bareNodeMemory()), null]);

      if (want('ps')) {
        const label = `${processCount()} procs (today)`;
        const agree = psAgreement(root, d1.socket, { sleepers: 0 });
        problems.push(...agree.problems);
        console.log(`  ps at ${label}: procwatch ps lists ${agree.pwLines}, ps -e ${agree.psLines}`);
        results.ps.push(await psTiming(label, root, d1));
      }
      if (want('rss')) {
        const before = await liveCount(d1);
        const sleepers = new Sleepers(LIVE, { name: SLEEPER });
        ctx.sleepers.push(sleepers);
        const t = Date.now();
        await sleepers.start({ timeoutMs: 180_000 });
        console.log(`  ${int(LIVE)} sleepers started after the daemon in ${((Date.now() - t) / 1000).toFixed(1)} s`);
        const s = await settleWithSleepers(d1, before, LIVE);
        results.rss.push([`+${int(LIVE)} started after the daemon (event path)`, s.table.live, fmtMem(d1.memory()), d1.memory()]);
        await delay(SETTLE_MS);
        results.rss.push([`  … ${SETTLE_MS / 1000} s later, idle`, (await d1.stats()).table.live, fmtMem(d1.memory()), d1.memory()]);
        const seen = await sleeperCountVia(d1);
        if (seen !== LIVE) problems.push(`daemon (sleepers after start) lists ${seen} ${SLEEPER}, expected ${LIVE}`);
        results.rss.push([`  … after one GET /v1/processes of them all`, s.table.live, fmtMem(d1.memory()), d1.memory()]);
        const exit = await d1.stop();
        if (exit?.code !== 0) problems.push(`daemon 1 ended badly: ${JSON.stringify(exit)}`);

        const d2 = new DaemonProcess({ root, database: join(dir, 'seeded.db'), socket: join(dir, 'seeded.sock') });
        ctx.daemons.push(d2);
        await d2.start();
        await delay(3000);
        const s2 = await d2.stats();
        results.rss.push([`+${int(LIVE)} running before the daemon (seeded from /proc)`, s2.table.live, fmtMem(d2.memory()), d2.memory()]);
        await delay(SETTLE_MS);
        results.rss.push([`  … ${SETTLE_MS / 1000} s later, idle`, (await d2.stats()).table.live, fmtMem(d2.memory()), d2.memory()]);
        const seen2 = await sleeperCountVia(d2);
        if (seen2 !== LIVE) problems.push(`daemon (sleepers before start) lists ${seen2} ${SLEEPER}, expected ${LIVE}`);
        results.rss.push([`  … after one GET /v1/processes of them all`, s2.table.live, fmtMem(d2.memory()), d2.memory()]);
        // The mass exit: its own peak, from a peak reset just before (clear_refs 5 resets VmHWM).
        writeFileSync(`/proc/${d2.pid}/clear_refs`, '5');
        const atExit = d2.memory();
        await sleepers.stop();
        ctx.sleepers.pop();
        await waitForStats(d2, (st) => st.table.live < s2.table.live - LIVE * 0.99, { what: 'the sleepers to leave the live table', everyMs: 500 });
        await delay(2000);
        const afterExit = d2.memory();
        results.rss.push([`  … all ${int(LIVE)} killed at once (RSS before ${atExit.rssMiB.toFixed(1)}), 2 s after; peak since the kill`, (await d2.stats()).table.live, fmtMem(afterExit), afterExit]);
        results.massExit = { before: atExit, after: afterExit };
        ctx.d2 = d2;
      } else {
        ctx.d2 = d1;
      }
      if (want('ps')) {
        const d = ctx.d2;
        const before = await liveCount(d);
        const sleepers = new Sleepers(EXTRA, { name: SLEEPER });
        ctx.sleepers.push(sleepers);
        await sleepers.start({ timeoutMs: 120_000 });
        await settleWithSleepers(d, before, EXTRA);
        const label = `+${int(EXTRA)} sleepers (${processCount()} procs)`;
        const agree = psAgreement(root, d.socket, { sleepers: EXTRA });
        problems.push(...agree.problems);
        console.log(`  ps at ${label}: procwatch ps lists ${agree.pwLines}, ps -e ${agree.psLines}`);
        results.ps.push(await psTiming(label, root, d));
        console.log('  where a cold procwatch ps spends its time (phases, --cpu-prof of the client)…');
        results.phases = await psPhases(root, d.socket, PS_RUNS);
        results.clientProf = await profileClient(root, d.socket, dir);
        const exit = await d.stop();
        if (exit?.code !== 0) problems.push(`daemon ended badly: ${JSON.stringify(exit)}`);
        console.log('  the daemon answering /v1/processes under --cpu-prof (a third daemon, same sleepers)…');
        results.daemonProf = await profileDaemonAnswer(root, dir, 30);
        await sleepers.stop();
        ctx.sleepers.pop();
      } else if (ctx.d2 !== undefined) {
        const exit = await ctx.d2.stop();
        if (exit?.code !== 0) problems.push(`daemon ended badly: ${JSON.stringify(exit)}`);
      }
    }

    // -- 2b. a fresh daemon for the storms (the exited-process cache they fill would skew the RSS figures) --
    if (want('storm')) {
      const d4 = new DaemonProcess({ root, database: join(dir, 'storm.db'), socket: join(dir, 'storm.sock') });
      ctx.daemons.push(d4);
      console.log('\n-- exec storms under a fresh daemon');
      await d4.start();
      console.log(`  ${d4.stderr().trim().split('\n')[0]}`);
      await delay(2000);
      ctx.storm = buildStorm(root);
      for (const workers of [1, 2]) {
        console.log(`  exec storm: ${int(STORM)} × /bin/true from ${workers} worker(s)…`);
        const s = await stormCpu(d4, ctx.storm, dir, workers, ctx);
        if (s.lost > 0) console.log(`  (the daemon reported ${s.lost} lost events)`);
        if (s.execs + s.lost < STORM) problems.push(`storm: the daemon saw ${s.execs} execs + ${s.lost} lost of ${STORM}`);
        results.storms.push(s);
      }
      results.rss.push([`fresh daemon after both storms (${int(2 * STORM)} processes came and went)`, await liveCount(d4), fmtMem(d4.memory()), d4.memory()]);
      const exit = await d4.stop();
      if (exit?.code !== 0) problems.push(`storm daemon ended badly: ${JSON.stringify(exit)}`);
    }

    // -- 3. history --
    if (want('history')) {
      console.log(`\n-- history and lineage over ${int(HISTORY_EVENTS)} stored events`);
      results.history = await historyQueries(root, dir, ctx);
      problems.push(...results.history.problems);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', killAll);
    for (const s of ctx.sleepers) await s.stop().catch(() => s.killNow());
    killAll();
  }
  console.log(`\nall daemons, sleepers and storm processes ended; ${processCount()} processes now; temp files removed`);
  report(results);
  for (const p of problems) console.log(`BROKEN: ${p}`);
  return problems.length === 0;
}

// ---- report ----------------------------------------------------------------------------------------

function report(r) {
  const goals = [];
  if (r.ps.length > 0) {
    console.log('\n### procwatch ps vs ps\n');
    console.log(`Wall time per run, output to /dev/null; median and p90 of ${PS_RUNS} interleaved runs (+2 warm-up). Ratio: median ÷ procwatch ps's.\n`);
    console.log(markdownTable(['processes', 'command', 'median ms', 'p90 ms', 'vs procwatch ps'], r.ps.flatMap(psRows), ['l', 'l', 'r', 'r', 'r']));
    for (const t of r.ps) {
      const pw = t.stats.get('procwatch ps').median;
      const pe = t.stats.get('ps -e').median;
      goals.push(`${verdict(pe / pw >= 3)}  ${t.label}: procwatch ps ${ms(pw)} ms vs ps -e ${ms(pe)} ms: ${(pe / pw).toFixed(2)}× as fast (goal ≥ 3×); Node's start alone (node -e 0) is ${ms(t.stats.get('node -e 0').median)} ms`);
      const text = t.stats.get('curl /v1/processes?format=text')?.median;
      if (text !== undefined) goals.push(`info  ${t.label}: the daemon's ps text to curl ${ms(text)} ms vs ps -e ${ms(pe)} ms: ${(pe / text).toFixed(2)}× as fast (the same answer without Node's start)`);
    }
  }
  if (r.phases !== null) {
    const p = r.phases.median;
    console.log(`\nWhere a cold \`procwatch ps\` spends its time at +${int(EXTRA)} (${int(r.phases.processes)} processes, ${mib(r.phases.bytes)} MiB of JSON; medians of ${PS_RUNS} runs of a script doing what the command does, ms):\n`);
    console.log(markdownTable(['Node bootstrap', 'modules (commander, cli/ps, report)', 'GET /v1/processes (daemon answer + transfer)', 'JSON.parse', 'render', 'write', 'in-process total'],
      [[ms(p.bootstrap), ms(p.modules), ms(p.request), ms(p.parse), ms(p.render), ms(p.write), ms(p.total)]], ['r', 'r', 'r', 'r', 'r', 'r', 'r']));
  }
  if (r.clientProf !== null) {
    console.log('\n`node --cpu-prof ./bin/procwatch ps` (5 runs, self time per run by category, ms; the profile starts after Node\'s bootstrap):\n');
    console.log(markdownTable(['category', 'ms'], r.clientProf.categories.map(([k, v]) => [k, ms(v)]), ['l', 'r']));
    console.log('\nTop functions (self ms per run):\n');
    console.log(markdownTable(['function', 'ms'], r.clientProf.functions.map(([k, v]) => [k, ms(v)]), ['l', 'r']));
  }
  if (r.daemonProf !== null) {
    console.log(`\nThe daemon answering GET /v1/processes at +${int(EXTRA)} (--cpu-prof, 30 calls on a warm connection, median answer ${ms(r.daemonProf.answer.median)} ms; self time per call, ms${r.daemonProf.whole ? ', WHOLE RUN incl. startup: the profile clock did not match' : ', samples of that window only'}):\n`);
    console.log(markdownTable(['category', 'ms per call'], r.daemonProf.categories.map(([k, v]) => [k, ms(v)]), ['l', 'r']));
    console.log('\nTop functions (self ms per call):\n');
    console.log(markdownTable(['function', 'ms'], r.daemonProf.functions.map(([k, v]) => [k, ms(v)]), ['l', 'r']));
  }
  if (r.ingest !== null) {
    console.log('\n### Store ingest\n');
    console.log(`${int(INGEST)} events through EventStore.enqueue (batches of 100) + flush, one temp file per row (WAL, synchronous=NORMAL), time of enqueue + flush only.\n`);
    console.log(markdownTable(['events', 'flush every', 'process rows', 'seconds', 'events/s', 'flush median ms', 'flush p90 ms', 'file MiB'],
      r.ingest.map((x) => [x.mode, int(x.every), int(x.rowsWritten), x.elapsed.toFixed(2), int(x.rate), ms(x.flushMedian), ms(x.flushP90), mib(x.bytes)]), ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r']));
    for (const x of r.ingest.filter((i) => !i.diagnostic)) goals.push(`${verdict(x.rate >= 100_000)}  ingest, ${x.mode}, flush every ${int(x.every)}: ${int(x.rate)} events/s (goal ≥ 100,000)`);
  }
  if (r.storms.length > 0) {
    console.log(`\n### Daemon CPU in an exec storm\n`);
    console.log(`${int(STORM)} × /bin/true (bench/storm/storm.c); daemon CPU = utime+stime from /proc/PID/stat (CLK_TCK ${CLK_TCK}) from the storm's start until every exec is stored; % of one core over that time.\n`);
    console.log(markdownTable(['workers', 'storm s', 'execs/s', 'events seen', 'events stored', 'lost', 'daemon CPU s', 'CPU s / 10k events', 'CPU s / 10k execs', '% of one core'],
      r.storms.map((s) => [s.workers, s.stormSeconds.toFixed(2), int(s.rate), int(s.events), int(s.written), int(s.lost), s.cpu.toFixed(2), s.perTenK.toFixed(2), s.perTenKExecs.toFixed(2), `${(100 * s.core).toFixed(0)}%`]),
      ['r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r']));
  }
  if (r.history !== null) {
    const h = r.history;
    console.log('\n### History and lineage queries\n');
    console.log(`Store: ${int(h.built.events)} events, ${int(h.built.processes)} process instances over 30 days, built in ${h.built.seconds.toFixed(1)} s; file ${mib(h.bytes)} MiB (${(h.bytes / h.built.events).toFixed(0)} bytes/event). Daemon started on it in ${h.startSeconds.toFixed(2)} s; its RSS after the queries ${fmtMem(h.memory)} MiB.`);
    console.log(`Warm client in the bench process (keep-alive over the unix socket): request → last byte, ${QUERY_RUNS} calls each, interleaved. "store only": the same query function on the same file in-process (SQL + row decoding).\n`);
    console.log(markdownTable(['query', 'answer', 'KiB', 'median ms', 'p90 ms', 'store only, median ms'],
      h.queries.map((q) => {
        const s = h.stats.get(q.id);
        const sh = h.shape.get(q.id);
        return [q.id, String(sh?.rows ?? '?'), ((sh?.bytes ?? 0) / 1024).toFixed(0), ms(s.median), ms(s.p90), ms(h.storeMs.get(q.id).median)];
      }), ['l', 'r', 'r', 'r', 'r', 'r']));
    console.log('\nQuery plans (EXPLAIN QUERY PLAN of each statement the store ran for the query, in order, separated by ||):\n');
    for (const [k, v] of h.storeMs.plans) console.log(`- ${k}: ${v}`);
    for (const q of h.queries) {
      const s = h.stats.get(q.id);
      goals.push(`${verdict(s.median < 50 && s.p90 < 50)}  ${q.id}: median ${ms(s.median)} ms, p90 ${ms(s.p90)} ms (goal < 50 ms)`);
    }
  }
  if (r.rss.length > 0) {
    console.log('\n### Daemon memory\n');
    console.log(markdownTable(['situation', 'live processes in the table', 'VmRSS MiB (peak VmHWM)'], r.rss.map(([a, b, c]) => [a, int(b), c]), ['l', 'r', 'r']));
    if (r.massExit) goals.push(`${verdict(r.massExit.after.hwmMiB <= 120)}  no spike over 120 MiB when ${int(LIVE)} processes exit at once: peak ${r.massExit.after.hwmMiB.toFixed(1)} MiB (RSS before ${r.massExit.before.rssMiB.toFixed(1)})`);
    for (const [what, , , m] of r.rss) {
      if (what.startsWith('+') && m !== null) goals.push(`${verdict(m.rssMiB <= 80)}  RSS with ${what}: ${m.rssMiB.toFixed(1)} MiB (goal ≤ 80 MB)`);
    }
  }
  console.log('\nGoals (issue 4):');
  for (const g of goals) console.log(`  ${g}`);
}
