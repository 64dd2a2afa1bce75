/**
 * The event sources in an exec storm (issues 3 and 5): BENCH_STORM (default 20,000)
 * `/bin/true storm-W-I` processes made as fast as the machine allows, from one worker and
 * again from two, by bench/storm/storm.c (compiled with `cc -O2` into a temp dir at bench time).
 *
 * The tools, each a fresh instance per storm, stdout straight into a file (no pipe, so no
 * back-pressure and no reader of ours in the way):
 *   procwatch (eBPF)     procwatch watch --json --kind exec,exit,lost --source ebpf
 *   procwatch (netlink)  procwatch watch --json --kind exec,exit,lost --source netlink
 *   forkstat             forkstat -e exec,exit -l -S              (Debian forkstat, C, netlink)
 *   bpftrace             bpftrace -e 'tracepoint:sched:sched_process_exec { printf(...) }'
 *                        (the kernel-side reference: which execs happened, by pid)
 * Per worker count, the storms are:
 *   1. side by side, issue 3: procwatch (netlink) + forkstat
 *   2. side by side, issue 5: procwatch (eBPF) + procwatch (netlink) + forkstat + bpftrace
 *   3. diagnostics (BENCH_WATCH_SOLO=0 skips them): the storm with no watcher (its own rate),
 *      then each tool alone.
 * Each tool is warmed up before the storm: a probe process is started until every tool has
 * printed its exec, then 1 s of quiet. After the storm, a sentinel process is started and
 * waited for in every output (so each has printed its backlog), then their CPU time (utime +
 * stime of the tool's process, /proc/PID/stat) is read and they get SIGINT. While the storms
 * run, `kernel.bpf_stats_enabled` is on, so the time the eBPF programs themselves spend in the
 * kernel (charged to the processes that exec, not to the tool) is read from the tool's
 * /proc/PID/fdinfo (run_time_ns of each program fd)
 * and shown in its own column.
 *
 * Per tool: execs seen ÷ made (matched by the pids the storm wrote); of the execs seen, the
 * share whose name AND argv are right (`/bin/true storm-W-I` for that pid), the share with only
 * the right comm (`true`, argv unknown), unknown (nothing), and WRONG (anything else, e.g. the
 * parent's command line from before the exec); lost events the tool reported; CPU seconds per
 * 10,000 events printed (exec + exit lines). bpftrace prints only the pid and the filename, so
 * it counts seen execs and nothing more. The issues' goals are printed as PASS/FAIL lines; a
 * FAIL does not fail the scenario: only something broken does (a tool that does not start,
 * does not see the sentinel, or exits badly).
 *
 * procwatch runs with its defaults, so its netlink reader thread is under SCHED_FIFO 10
 * (forkstat runs without its `-r`, as users run it). BENCH_WATCH_NORMAL=1 adds procwatch
 * (netlink) alone with `--reader-priority 0` (normal scheduling), to show how much of the
 * naming race is scheduling latency. procwatch's CPU
 * is also split by thread.
 */

import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { setTimeout as delay } from 'node:timers/promises';
import { machineLine, markdownTable } from './lib/report.mjs';
import { whichReal } from './lib/sleepers.mjs';
import { CLK_TCK, buildStorm, cpuTicks, runStorm, threadTicks } from './lib/storm.mjs';

const TOTAL = positiveInt(process.env.BENCH_STORM, 20000);
const WORKER_COUNTS = [1, 2];
/** Also run the storm with no watcher, then each tool alone (diagnostics; BENCH_WATCH_SOLO=0 skips them). */
const SOLO = process.env.BENCH_WATCH_SOLO !== '0';
/** Also run procwatch (netlink) alone with its reader thread at normal priority (diagnostic, opt-in). */
const NORMAL = process.env.BENCH_WATCH_NORMAL === '1';
const TRUE = '/bin/true';

function positiveInt(text, fallback) {
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`expected a positive integer, got '${text}'`);
  return n;
}

const pct = (part, whole) => (whole === 0 ? '—' : `${((100 * part) / whole).toFixed(1)}%`);
const int = (n) => n.toLocaleString('en-US');

// ---- the two tools ------------------------------------------------------------------------

/**
 * One watching tool: spawned with stdout and stderr into files, told apart only by how an
 * exec line for a given pid looks in its output (`execLineOf`) and how its output is parsed.
 */
class Tool {
  #child = null;
  #exit = null;
  #scan = { offset: 0, carry: '' };

  constructor({ id, argv, dir, execLineOf }) {
    this.id = id;
    this.argv = argv;
    this.outPath = join(dir, `${id}.out`);
    this.errPath = join(dir, `${id}.err`);
    this.execLineOf = execLineOf; // pid → (line → is it this pid's exec?)
  }

  get pid() { return this.#child?.pid; }

  start() {
    const out = openSync(this.outPath, 'w');
    const err = openSync(this.errPath, 'w');
    try {
      this.#child = spawn(this.argv[0], this.argv.slice(1), { stdio: ['ignore', out, err] });
    } finally {
      closeSync(out);
      closeSync(err);
    }
    this.#exit = new Promise((resolve) => {
      this.#child.once('error', (e) => resolve({ code: null, signal: null, error: e }));
      this.#child.once('exit', (code, signal) => resolve({ code, signal, error: null }));
    });
  }

  alive() { return this.#child !== null && this.#child.exitCode === null && this.#child.signalCode === null; }

  /** Reads what the tool printed since the last call; true when an exec line for `pid` is in it. */
  sawExecOf(pid) {
    const fd = openSync(this.outPath, 'r');
    try {
      const size = statSync(this.outPath).size;
      let found = false;
      while (this.#scan.offset < size) {
        const buf = Buffer.alloc(Math.min(4 << 20, size - this.#scan.offset));
        const n = readSync(fd, buf, 0, buf.length, this.#scan.offset);
        if (n <= 0) break;
        this.#scan.offset += n;
        const lines = (this.#scan.carry + buf.toString('utf8', 0, n)).split('\n');
        this.#scan.carry = lines.pop();
        const isExec = this.execLineOf(pid);
        for (const line of lines) if (isExec(line)) found = true;
      }
      return found;
    } finally {
      closeSync(fd);
    }
  }

  /** SIGINT, then the exit status; SIGKILL after `timeoutMs` (reported as broken). */
  async stop(timeoutMs = 20_000) {
    if (this.#child === null) return null;
    if (this.alive()) this.#child.kill('SIGINT');
    const result = await Promise.race([this.#exit, delay(timeoutMs).then(() => null)]);
    if (result !== null) return result;
    this.#child.kill('SIGKILL');
    return { ...(await this.#exit), killed: true };
  }

  killNow() {
    if (this.alive()) this.#child.kill('SIGKILL');
  }

  stderr() { return existsSync(this.errPath) ? readFileSync(this.errPath, 'utf8') : ''; }
}

const PROCWATCH_SOURCES = { 'procwatch-ebpf': 'ebpf', 'procwatch-netlink': 'netlink' };
const isProcwatch = (id) => id in PROCWATCH_SOURCES;
const TOOL_NAMES = { 'procwatch-ebpf': 'procwatch (eBPF)', 'procwatch-netlink': 'procwatch (netlink)', forkstat: 'forkstat', bpftrace: 'bpftrace' };

function procwatchTool(id, root, dir, extraArgs = []) {
  return new Tool({
    id,
    argv: [join(root, 'bin/procwatch'), 'watch', '--json', '--kind', 'exec,exit,lost', '--source', PROCWATCH_SOURCES[id], ...extraArgs],
    dir,
    execLineOf: (pid) => {
      const needle = `"pid":${pid},"tid"`;
      return (line) => line.includes(needle) && line.includes('"kind":"exec"');
    },
  });
}

function forkstatTool(forkstat, dir) {
  return new Tool({
    id: 'forkstat',
    argv: [forkstat, '-e', 'exec,exit', '-l', '-S'],
    dir,
    execLineOf: (pid) => {
      const re = new RegExp(`^\\S+ exec +${pid} `);
      return (line) => re.test(line);
    },
  });
}

/** bpftrace: one line per exec, "exec PID FILENAME", straight from the tracepoint. */
const BPFTRACE_PROGRAM = 'tracepoint:sched:sched_process_exec { printf("exec %d %s\\n", pid, str(args->filename)); }';

function bpftraceTool(bpftrace, dir) {
  return new Tool({
    id: 'bpftrace',
    argv: [bpftrace, '-e', BPFTRACE_PROGRAM],
    dir,
    execLineOf: (pid) => {
      const prefix = `exec ${pid} `;
      return (line) => line.startsWith(prefix);
    },
  });
}

function makeTool(id, ctx, dir, { normalReader = false } = {}) {
  if (isProcwatch(id)) return procwatchTool(id, ctx.root, dir, normalReader && id === 'procwatch-netlink' ? ['--reader-priority', '0'] : []);
  if (id === 'forkstat') return forkstatTool(ctx.forkstat, dir);
  if (id === 'bpftrace') return bpftraceTool(ctx.bpftrace, dir);
  throw new Error(`unknown tool ${id}`);
}

// ---- classification of what each tool printed ------------------------------------------------

/** Counts of one tool's view of the storm. `named` ⊂ seen: name and argv right for that pid. */
function newTally() {
  return { seen: 0, named: 0, nameOnly: 0, unknown: 0, wrong: 0, duplicates: 0, execLines: 0, exitLines: 0, lostLines: 0, lostCount: 0, lostUncounted: 0, wrongSamples: [] };
}

const RANK = { named: 3, nameOnly: 2, unknown: 1, wrong: 0 };

/** Per storm pid, the best verdict over that pid's exec lines (a reused pid could add a line). */
function settle(tally, verdicts) {
  for (const list of verdicts.values()) {
    tally.seen++;
    if (list.length > 1) tally.duplicates += list.length - 1;
    const best = list.reduce((a, b) => (RANK[b.verdict] > RANK[a.verdict] ? b : a));
    tally[best.verdict]++;
    if (best.verdict === 'wrong' && tally.wrongSamples.length < 3 && !tally.wrongSamples.includes(best.shown)) tally.wrongSamples.push(best.shown);
  }
  return tally;
}

function push(map, pid, verdict) {
  const list = map.get(pid);
  if (list === undefined) map.set(pid, [verdict]);
  else list.push(verdict);
}

/** procwatch --json: details.argv must deep-equal ['/bin/true', 'storm-W-I']; null argv is unknown. */
function tallyProcwatch(text, made) {
  const tally = newTally();
  const verdicts = new Map();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const e = JSON.parse(line);
    if (e.kind === 'exit') { tally.exitLines++; continue; }
    if (e.kind === 'lost') {
      tally.lostLines++;
      if (typeof e.count === 'number') tally.lostCount += e.count;
      else tally.lostUncounted++;
      continue;
    }
    if (e.kind !== 'exec') continue;
    tally.execLines++;
    const expected = made.get(e.pid);
    if (expected === undefined) continue;
    const argv = e.details?.argv ?? null;
    const comm = e.details?.comm ?? null;
    let verdict;
    if (argv !== null) verdict = isDeepStrictEqual(argv, [TRUE, expected]) ? 'named' : 'wrong';
    else if (comm === null) verdict = 'unknown';
    else verdict = comm === 'true' ? 'nameOnly' : 'wrong';
    push(verdicts, e.pid, { verdict, shown: JSON.stringify({ comm, argv, exe: e.details?.exe ?? null }) });
  }
  return settle(tally, verdicts);
}

/**
 * forkstat: "HH:MM:SS exec   PID                 PROCESS" until the -S statistics table.
 * PROCESS is the command line it read, `<unknown>` when it read nothing, or the bare comm
 * (`true`) when the command line was already gone; a lost-events notice reads
 * "HH:MM:SS recv ----- nobufs ...".
 */
function tallyForkstat(text, made) {
  const tally = newTally();
  const verdicts = new Map();
  for (const line of text.split('\n')) {
    if (/^\s+Fork\s+Exec\s+Exit/.test(line)) break; // -S statistics follow
    if (/ recv -+ nobufs/.test(line)) { tally.lostLines++; tally.lostUncounted++; continue; }
    const m = /^\S+ (exec|exit) +(\d+) (.*)$/.exec(line);
    if (m === null) continue;
    if (m[1] === 'exit') { tally.exitLines++; continue; }
    tally.execLines++;
    const pid = Number(m[2]);
    const expected = made.get(pid);
    if (expected === undefined) continue;
    const shown = m[3].trim();
    const verdict = shown === `${TRUE} ${expected}` ? 'named' : shown === 'true' ? 'nameOnly' : shown === '<unknown>' ? 'unknown' : 'wrong';
    push(verdicts, pid, { verdict, shown });
  }
  return settle(tally, verdicts);
}

/** bpftrace: "exec PID FILENAME"; seen is all it can tell (no argv): counted as seen, not named. */
function tallyBpftrace(text, made) {
  const tally = newTally();
  const verdicts = new Map();
  for (const line of text.split('\n')) {
    const m = /^exec (\d+) (.*)$/.exec(line);
    if (m === null) continue;
    tally.execLines++;
    const pid = Number(m[1]);
    if (!made.has(pid)) continue;
    push(verdicts, pid, { verdict: m[2] === TRUE ? 'nameOnly' : 'wrong', shown: m[2] });
  }
  return settle(tally, verdicts);
}

function tallyOf(id, text, made) {
  if (isProcwatch(id)) return tallyProcwatch(text, made);
  return id === 'forkstat' ? tallyForkstat(text, made) : tallyBpftrace(text, made);
}

// ---- in-kernel BPF time -------------------------------------------------------------------------

/**
 * run_time_ns summed over the BPF programs a process holds open, from /proc/PID/fdinfo (a
 * program fd's fdinfo has prog_id and run_time_ns; kernel.bpf_stats_enabled must be on).
 * Null when the process holds no program (forkstat, procwatch on netlink) or is gone.
 */
function bpfRunNs(pid) {
  if (pid === undefined) return null;
  let fds;
  try {
    fds = readdirSync(`/proc/${pid}/fdinfo`);
  } catch {
    return null;
  }
  const seen = new Map();
  for (const fd of fds) {
    let text;
    try {
      text = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue; // closed meanwhile
    }
    const id = /^prog_id:\s+(\d+)$/m.exec(text);
    const ns = /^run_time_ns:\s+(\d+)$/m.exec(text);
    if (id !== null && ns !== null && /^prog_type:/m.test(text)) seen.set(id[1], Number(ns[1]));
  }
  if (seen.size === 0) return null;
  let total = 0;
  for (const ns of seen.values()) total += ns;
  return total;
}

function setBpfStats(on) {
  const path = '/proc/sys/kernel/bpf_stats_enabled';
  const before = readFileSync(path, 'utf8').trim();
  writeFileSync(path, on ? '1' : '0');
  return before === '1';
}

// ---- one storm under the tools -----------------------------------------------------------------

/** Starts `/bin/true pwbench-probe` until every tool has printed its exec (or the timeout). */
async function probeUntilSeen(tools, what, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(tools);
  while (pending.size > 0) {
    for (const t of pending) if (!t.alive()) throw new Error(`${t.id} exited while waiting for its ${what}: ${t.stderr().trim()}`);
    if (Date.now() > deadline) return [...pending].map((t) => t.id);
    const probe = spawn(TRUE, ['pwbench-probe'], { stdio: 'ignore' });
    const pid = probe.pid;
    await new Promise((resolve) => probe.once('exit', resolve));
    const until = Date.now() + 1000;
    while (Date.now() < until && pending.size > 0) {
      await delay(50);
      for (const t of [...pending]) if (t.sawExecOf(pid)) pending.delete(t);
    }
  }
  return [];
}

/** procwatch's CPU by thread: main (JS), the busiest other thread (the netlink reader), the rest. */
function threadSplit(pid, before, after) {
  const delta = Object.entries(after ?? {}).map(([tid, t]) => [Number(tid), t.total - (before?.[tid]?.total ?? 0)]);
  const main = delta.find(([tid]) => tid === pid)?.[1] ?? 0;
  const others = delta.filter(([tid]) => tid !== pid).sort((a, b) => b[1] - a[1]);
  const reader = others[0] ?? [null, 0];
  const rest = others.slice(1).reduce((sum, [, t]) => sum + t, 0);
  return { main: main / CLK_TCK, reader: reader[1] / CLK_TCK, readerTid: reader[0], rest: rest / CLK_TCK };
}

/**
 * One storm of TOTAL execs from `workers` workers under fresh instances of `toolIds`
 * (keys of TOOL_NAMES); `normalReader` runs procwatch's netlink reader at normal priority.
 */
async function stormUnder(workers, toolIds, ctx, { normalReader = false } = {}) {
  const dir = mkdtempSync(join(tmpdir(), `pwbench-watch-${workers}w-`));
  ctx.dirs.push(dir);
  const tools = toolIds.map((id) => makeTool(id, ctx, dir, { normalReader }));
  ctx.tools = tools;
  const broken = [];
  try {
    for (const t of tools) t.start();
    const notReady = await probeUntilSeen(tools, 'start-up probe', 15_000);
    if (notReady.length > 0) throw new Error(`${notReady.join(', ')} did not report a probe exec within 15 s of starting`);
    await delay(1000); // warm: seeding done, caches filled, nothing left from the probes
    const pw = tools.find((t) => t.id === 'procwatch-netlink') ?? tools.find((t) => isProcwatch(t.id));

    const before = new Map(tools.map((t) => [t.id, cpuTicks(t.pid)]));
    const bpfBefore = new Map(tools.map((t) => [t.id, bpfRunNs(t.pid)]));
    const threadsBefore = pw === undefined ? null : threadTicks(pw.pid);
    const storm = await runStorm(ctx.storm.bin, { total: TOTAL, workers, pidfile: join(dir, 'pids'), onSpawn: (c) => { ctx.stormChild = c; } });
    ctx.stormChild = null;
    const drainStart = Date.now();
    const behind = await probeUntilSeen(tools, 'sentinel after the storm', 60_000);
    const drainMs = Date.now() - drainStart;
    for (const id of behind) broken.push(`${id} did not report the sentinel exec within 60 s after the storm`);
    const after = new Map(tools.map((t) => [t.id, cpuTicks(t.pid)]));
    const bpfAfter = new Map(tools.map((t) => [t.id, bpfRunNs(t.pid)]));
    const threads = pw === undefined ? null : threadSplit(pw.pid, threadsBefore, threadTicks(pw.pid));

    const results = [];
    for (const t of tools) {
      const exit = await t.stop();
      const stderr = t.stderr();
      if (exit === null || exit.error || exit.killed || (exit.code !== 0 && exit.signal !== 'SIGINT')) {
        broken.push(`${t.id} ended badly (${exit?.error?.message ?? (exit?.killed ? 'killed after 20 s' : exit?.code ?? exit?.signal)}): ${stderr.trim().split('\n').slice(-3).join(' / ')}`);
      }
      const text = readFileSync(t.outPath, 'utf8');
      const tally = tallyOf(t.id, text, storm.made);
      const bpfNs = bpfBefore.get(t.id) === null || bpfAfter.get(t.id) === null ? null : bpfAfter.get(t.id) - bpfBefore.get(t.id);
      const ticks = before.get(t.id) === null || after.get(t.id) === null ? null : after.get(t.id) - before.get(t.id);
      if (ticks === null) broken.push(`${t.id}: could not read its CPU time`);
      const summary = isProcwatch(t.id) ? /procwatch: (\d+) events, (\d+) lost, (\d+) malformed, (\d+) late, (\d+) thread events, (\d+) resyncs/.exec(stderr) : null;
      if (isProcwatch(t.id) && summary === null) broken.push(`${t.id} printed no summary on stderr`);
      const watching = isProcwatch(t.id) ? /procwatch: watching with (.*)/.exec(stderr)?.[1] ?? 'an unknown source' : null;
      if (tally.seen === 0) broken.push(`${t.id} reported none of the storm's execs`);
      results.push({
        id: t.id,
        tally,
        cpuSeconds: ticks === null ? NaN : ticks / CLK_TCK,
        threads: t === pw ? threads : null,
        name: TOOL_NAMES[t.id],
        watching,
        bpfSeconds: bpfNs === null ? null : bpfNs / 1e9,
        events: tally.execLines + tally.exitLines,
        summaryLost: summary === null ? null : Number(summary[2]),
        summary: summary?.[0] ?? null,
      });
      rmSync(t.outPath, { force: true }); // ~30 MB of JSON per storm
    }
    return { workers, storm, drainMs, results, broken };
  } finally {
    for (const t of tools) t.killNow();
    ctx.tools = [];
  }
}

// ---- reporting ----------------------------------------------------------------------------------

function lostText(r) {
  const t = r.tally;
  if (r.id === 'bpftrace') return 'n/a (prints what it reads)';
  if (isProcwatch(r.id)) {
    const lines = t.lostLines === 0 ? '0' : `${int(t.lostCount)}${t.lostUncounted > 0 ? ` + ${t.lostUncounted} uncounted` : ''} in ${t.lostLines} line(s)`;
    return `${lines} (summary: ${r.summaryLost ?? '?'})`;
  }
  return t.lostLines === 0 ? '0 (no nobufs notice)' : `${t.lostLines} nobufs notice(s), count unknown`;
}

const cpuPer10k = (r) => (r.events === 0 ? NaN : (r.cpuSeconds * 10_000) / r.events);
const namedShare = (r) => (r.tally.seen === 0 ? 0 : r.tally.named / r.tally.seen);
const rateOf = (s) => s.storm.made.size / (s.storm.wallMs / 1000);

/** One table per worker count: a row per tool per run (side by side, alone, alone with a normal-priority reader). */
function workersTable(runs) {
  const rows = [];
  for (const { label, s } of runs) {
    const made = s.storm.made.size;
    if (s.results.length === 0) rows.push([label, '(none)', int(Math.round(rateOf(s))), '', '', '', '', '', '', '', '', '', '']);
    for (const r of s.results) {
      rows.push([
        label,
        r.name,
        int(Math.round(rateOf(s))),
        `${int(r.tally.seen)} / ${int(made)}`,
        pct(r.tally.named, r.tally.seen),
        pct(r.tally.nameOnly, r.tally.seen),
        pct(r.tally.unknown, r.tally.seen),
        `${pct(r.tally.wrong, r.tally.seen)} (${int(r.tally.wrong)})`,
        lostText(r),
        int(r.events),
        r.cpuSeconds.toFixed(2),
        cpuPer10k(r).toFixed(2),
        r.bpfSeconds === null ? '—' : r.bpfSeconds.toFixed(3),
      ]);
    }
  }
  return markdownTable(
    ['run', 'tool', 'storm execs/s', 'execs seen / made', 'name + argv right', 'comm only', 'unknown', 'WRONG', 'lost reported', 'lines', 'CPU s', 'CPU s / 10k lines', 'in-kernel BPF s'],
    rows, ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'l', 'r', 'r', 'r', 'r'],
  );
}

function threadsTable(runs) {
  const rows = [];
  for (const { label, s } of runs) {
    const r = s.results.find((x) => x.threads !== null);
    if (r === undefined) continue;
    const per10k = (sec) => ((sec * 10_000) / r.events).toFixed(2);
    rows.push([label, r.name, `${r.threads.main.toFixed(2)} (${per10k(r.threads.main)})`, `${r.threads.reader.toFixed(2)} (${per10k(r.threads.reader)})`, `${r.threads.rest.toFixed(2)} (${per10k(r.threads.rest)})`, `${r.cpuSeconds.toFixed(2)} (${per10k(r.cpuSeconds)})`]);
  }
  return markdownTable(['run', 'procwatch', 'main thread (JS)', 'event reader thread (native)', 'other threads (V8, libuv)', 'whole process'], rows, ['l', 'l', 'r', 'r', 'r', 'r']);
}

const verdict = (ok) => (ok ? 'PASS' : 'FAIL');
const workersText = (s) => `${s.workers} worker${s.workers > 1 ? 's' : ''}`;
const byId = (s, id) => s.results.find((r) => r.id === id);

/** No unreported loss: every exec made was seen, or counted in a `lost` event. */
function lossGoal(s, pw) {
  const made = s.storm.made.size;
  const reported = pw.tally.lostCount + (pw.tally.lostUncounted > 0 ? Infinity : 0);
  return `${verdict(pw.tally.seen + reported >= made)}  ${workersText(s)}: ${pw.name}: no unreported loss — saw ${int(pw.tally.seen)} + reported ${pw.tally.lostLines === 0 ? 0 : lostText(pw)} lost ≥ ${int(made)} made`;
}

/** Issue 3, from the netlink + forkstat storm. */
function netlinkGoals(s) {
  const pw = byId(s, 'procwatch-netlink');
  const fs = byId(s, 'forkstat');
  const w = workersText(s);
  const lines = [lossGoal(s, pw), `${verdict(pw.tally.wrong === 0)}  ${w}: zero wrong names — procwatch ${int(pw.tally.wrong)} wrong (forkstat ${int(fs.tally.wrong)})`];
  if (s.workers === 1) {
    lines.push(`${verdict(namedShare(pw) >= 0.99)}  ${w}: ≥ 99% named — procwatch ${pct(pw.tally.named, pw.tally.seen)} of the execs it saw`);
  } else {
    lines.push(`${verdict(namedShare(pw) >= 2 * namedShare(fs))}  ${w}: named share ≥ 2× forkstat's — procwatch ${pct(pw.tally.named, pw.tally.seen)} vs forkstat ${pct(fs.tally.named, fs.tally.seen)} = ${(namedShare(pw) / namedShare(fs)).toFixed(2)}×`);
  }
  lines.push(`${verdict(cpuPer10k(pw) <= cpuPer10k(fs))}  ${w}: CPU per event ≤ forkstat's — procwatch ${cpuPer10k(pw).toFixed(2)} s vs forkstat ${cpuPer10k(fs).toFixed(2)} s per 10k lines = ${(cpuPer10k(pw) / cpuPer10k(fs)).toFixed(2)}×`);
  return lines;
}

/** Issue 5, from the four-tool storm (and the solo runs for CPU, when there are any). */
function ebpfGoals(s, solo) {
  const eb = byId(s, 'procwatch-ebpf');
  const nl = byId(s, 'procwatch-netlink');
  const bt = byId(s, 'bpftrace');
  const made = s.storm.made.size;
  const w = workersText(s);
  const lines = [lossGoal(s, eb)];
  lines.push(`${verdict(eb.tally.named === made)}  ${w}: 100% of execs with exact argv — procwatch (eBPF) ${int(eb.tally.named)} / ${int(made)} (${pct(eb.tally.named, made)}); bpftrace saw ${int(bt.tally.seen)} / ${int(made)}`);
  lines.push(`${verdict(eb.tally.wrong === 0)}  ${w}: zero wrong names — procwatch (eBPF) ${int(eb.tally.wrong)} wrong`);
  const cpuLine = (label, e, n) => {
    const withKernel = (r) => ((r.cpuSeconds + (r.bpfSeconds ?? 0)) * 10_000) / r.events;
    return `${verdict(cpuPer10k(e) <= cpuPer10k(n))}  ${w}: CPU per event ≤ the netlink source's (${label}) — eBPF ${cpuPer10k(e).toFixed(2)} s vs netlink ${cpuPer10k(n).toFixed(2)} s per 10k lines = ${(cpuPer10k(e) / cpuPer10k(n)).toFixed(2)}×; with the programs' in-kernel time ${withKernel(e).toFixed(2)} s (${(withKernel(e) / cpuPer10k(n)).toFixed(2)}×)`;
  };
  lines.push(cpuLine('side by side', eb, nl));
  const soloEb = solo?.find((x) => x.results[0]?.id === 'procwatch-ebpf')?.results[0];
  const soloNl = solo?.find((x) => x.results[0]?.id === 'procwatch-netlink')?.results[0];
  if (soloEb !== undefined && soloNl !== undefined) lines.push(cpuLine('each alone', soloEb, soloNl));
  return lines;
}

export async function run({ root }) {
  if (process.getuid?.() !== 0) throw new Error('the watch benchmark needs root: the proc connector needs CAP_NET_ADMIN (run it with sudo)');
  if (!existsSync(join(root, 'dist/src/cli/main.js'))) throw new Error('dist/src/cli/main.js is missing (npm run build)');
  const forkstat = whichReal('forkstat'); // throws "forkstat not found on PATH": apt install forkstat
  const bpftrace = whichReal('bpftrace'); // apt install bpftrace
  const ctx = { root, forkstat, bpftrace, storm: buildStorm(root), dirs: [], tools: [], stormChild: null };
  const statsWereOn = setBpfStats(true);
  const killAll = () => {
    for (const t of ctx.tools) t.killNow();
    if (ctx.stormChild?.pid !== undefined) {
      try { process.kill(-ctx.stormChild.pid, 'SIGKILL'); } catch { /* already gone */ }
    }
    for (const d of ctx.dirs) rmSync(d, { recursive: true, force: true });
    ctx.storm.cleanup();
    if (!statsWereOn) setBpfStats(false);
  };
  const onSignal = (signal) => { killAll(); process.exit(signal === 'SIGINT' ? 130 : 143); };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.on('exit', killAll);

  console.log(machineLine());
  console.log(`storm: ${int(TOTAL)} × ${TRUE} storm-W-I (bench/storm/storm.c, cc -O2), from ${WORKER_COUNTS.join(' and ')} worker(s)`);
  console.log('tools: procwatch watch --json --kind exec,exit,lost --source ebpf|netlink  |  forkstat -e exec,exit -l -S  |  bpftrace (sched_process_exec: pid, filename)  (stdout of each into a file)');
  console.log(`diagnostics: ${SOLO ? 'the storm with no watcher, and each tool alone in the same storm' : 'no solo runs (BENCH_WATCH_SOLO=0)'}${NORMAL ? '; procwatch (netlink) alone with its reader thread at normal priority' : ''}`);
  const goalLines = [];
  let ok = true;
  try {
    for (const workers of WORKER_COUNTS) {
      const runs = [];
      const plan = [
        { label: 'side by side (issue 3)', tools: ['procwatch-netlink', 'forkstat'] },
        { label: 'side by side (issue 5)', tools: ['procwatch-ebpf', 'procwatch-netlink', 'forkstat', 'bpftrace'] },
        ...(SOLO ? [{ label: 'no watcher', tools: [] }, ...['procwatch-ebpf', 'procwatch-netlink', 'forkstat', 'bpftrace'].map((id) => ({ label: 'alone', tools: [id] }))] : []),
        ...(NORMAL ? [{ label: 'alone, reader at normal priority', tools: ['procwatch-netlink'], normalReader: true }] : []),
      ];
      for (const step of plan) {
        process.stdout.write(`  ${workers} worker(s), ${step.label}: ${step.tools.join(' + ') || 'storm only'}…`);
        const s = await stormUnder(workers, step.tools, ctx, { normalReader: step.normalReader });
        process.stdout.write(` ${(s.storm.wallMs / 1000).toFixed(1)} s storm, caught up ${(s.drainMs / 1000).toFixed(1)} s later\n`);
        runs.push({ label: step.label, s });
        for (const b of s.broken) { ok = false; console.log(`BROKEN: ${b}`); }
      }
      const [issue3, issue5] = [runs[0].s, runs[1].s];
      const solo = runs.filter((r) => r.label === 'alone').map((r) => r.s);
      console.log(`\n-- ${workers} worker${workers > 1 ? 's' : ''}: ${int(issue3.storm.made.size)} execs per storm; side by side (issue 3) ${int(Math.round(rateOf(issue3)))} execs/s, (issue 5) ${int(Math.round(rateOf(issue5)))} execs/s\n`);
      console.log(workersTable(runs));
      const [pw, fs] = [byId(issue3, 'procwatch-netlink'), byId(issue3, 'forkstat')];
      console.log(`\nside by side (issue 3), procwatch (netlink) ÷ forkstat: named share ${(namedShare(pw) / namedShare(fs)).toFixed(2)}×, CPU per line ${(cpuPer10k(pw) / cpuPer10k(fs)).toFixed(2)}×`);
      console.log('\nprocwatch CPU seconds by thread (per 10k lines in brackets; the netlink source where both ran):\n');
      console.log(threadsTable(runs));
      for (const { label, s } of runs) {
        for (const r of s.results) {
          if (r.summary !== null) console.log(`${label}, ${r.name} stderr: watching with ${r.watching}; ${r.summary.replace(/^procwatch: /, '')}`);
          if (r.tally.wrongSamples.length > 0) console.log(`${label}, ${r.name} wrong, e.g.: ${r.tally.wrongSamples.join(' | ')}`);
          if (r.tally.duplicates > 0) console.log(`${label}, ${r.name}: ${r.tally.duplicates} storm pid(s) with more than one exec line (best one counted)`);
        }
      }
      goalLines.push(...netlinkGoals(issue3).map((l) => `issue 3: ${l}`), ...ebpfGoals(issue5, SOLO ? solo : null).map((l) => `issue 5: ${l}`));
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', killAll);
    killAll();
  }

  console.log('\nGoals:');
  for (const line of goalLines) console.log(`  ${line}`);
  return ok;
}
