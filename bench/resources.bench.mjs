/**
 * Resource accounting (issue 12), against the real peers in the same run, at today's process
 * count and with +5,000 and +20,000 sleeping processes:
 *
 *   1. CPU time per snapshot of every process: procwatch's eBPF task iterator and its /proc
 *      reader (in this process: process.cpuUsage(), the kernel's walk on the pool thread
 *      included), against procps `top -b -n 1` and `ps aux` (children's CPU from bash `times`).
 *   2. `procwatch top -b -n 1` end to end (client start, one request, the daemon's work for it)
 *      against `top -b -n 1`: wall time, the client's CPU and the daemon's.
 *   3. The daemon's idle CPU at +5,000 with a snapshot every 2 s (and with snapshots off).
 *   4. An exec storm of /bin/true: the CPU procwatch accounts for the storm's processes (their
 *      exit accounting) against the kernel's own total (the storm driver's getrusage of its
 *      reaped children), and what a sampler that never sees a process end (process-exporter's
 *      way: per-process deltas between snapshots every 2 s) sees of it.
 *
 * Options (after `npm run bench -- resources`): BENCH_RES_COUNTS="0,5000,20000",
 * BENCH_RES_RUNS=5, BENCH_RES_IDLE_S=30, BENCH_RES_STORM=5000. Needs root (eBPF).
 */

import { mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import { Sleepers, processCount } from './lib/sleepers.mjs';
import { DaemonProcess } from './lib/daemon.mjs';
import { buildStorm, runStorm } from './lib/storm.mjs';
import { markdownTable, machineLine, ratio, ms } from './lib/report.mjs';

const env = process.env;
const COUNTS = (env.BENCH_RES_COUNTS ?? '0,5000,20000').split(',').map(Number);
const RUNS = Number(env.BENCH_RES_RUNS ?? 5);
const IDLE_S = Number(env.BENCH_RES_IDLE_S ?? 30);
const STORM = Number(env.BENCH_RES_STORM ?? 5000);

/** Children's user+system CPU (ms) and wall time of a shell command, from bash's `times`. */
function childCpu(command) {
  const start = process.hrtime.bigint();
  const r = spawnSync('bash', ['-c', `${command} >/dev/null 2>&1; times`], { encoding: 'utf8' });
  const wall = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`${command}: exit ${r.status}: ${r.stderr}`);
  const m = /^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/m.exec(r.stdout.trim().split('\n')[1] ?? '');
  if (m === null) throw new Error(`cannot read bash times: ${r.stdout}`);
  return { cpuMs: (Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4])) * 1000, wallMs: wall };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};

/** Median CPU and wall (ms) of `runs` in-process snapshots, after one warm-up. */
async function snapshotCost(source, runs) {
  await source.take();
  const cpu = [];
  const wall = [];
  let processes = 0;
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const snap = await source.take();
    wall.push(Number(process.hrtime.bigint() - t0) / 1e6);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
    processes = snap.samples.length;
  }
  return { cpuMs: median(cpu), wallMs: median(wall), processes };
}

function peerCost(command, runs) {
  childCpu(command); // warm-up
  const cpu = [];
  const wall = [];
  for (let i = 0; i < runs; i++) {
    const r = childCpu(command);
    cpu.push(r.cpuMs);
    wall.push(r.wallMs);
  }
  return { cpuMs: median(cpu), wallMs: median(wall) };
}

/**
 * A process's CPU time so far in ms, to the nanosecond: the sum of its threads' scheduler
 * runtime (/proc/PID/task/TID/schedstat, first field); stat's clock ticks (10 ms) are too coarse
 * for one request. Threads that ended are not in it (the daemon's do not end while measured).
 */
function daemonCpuMs(pid) {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'latin1').split(' ')[0]);
    } catch {
      // a thread that just ended
    }
  }
  return ns / 1e6;
}

export async function run({ root }) {
  if (process.getuid?.() !== 0) throw new Error('the resources benchmark needs root (eBPF task iterator, exit accounting)');
  const { EbpfSnapshotSource, ProcSnapshotSource } = await import(join(root, 'dist/src/resources/index.js'));
  const dir = mkdtempSync(join(tmpdir(), 'pwbench-res-'));
  const out = [`Machine: ${machineLine()}`, `Load average at start: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`];
  const snapRows = [];
  const topRows = [];
  let idleRows = [];
  let stormRows = [];
  const ebpf = EbpfSnapshotSource.open();
  const proc = new ProcSnapshotSource();
  const procwatch = [process.execPath, join(root, 'bin/procwatch')];
  try {
    for (const extra of COUNTS) {
      const sleepers = extra > 0 ? new Sleepers(extra, { name: 'pwbench-res' }) : null;
      await sleepers?.start({ timeoutMs: 180_000 });
      try {
        const count = processCount();
        console.log(`-- ${count} processes (+${extra}), load ${loadavg()[0].toFixed(2)}`);
        const it = await snapshotCost(ebpf, RUNS);
        const pr = await snapshotCost(proc, RUNS);
        const top = peerCost('top -b -n 1', RUNS);
        const ps = peerCost('ps aux', RUNS);
        snapRows.push([`${count} (+${extra})`, ms(it.cpuMs), ms(pr.cpuMs), ms(top.cpuMs), ms(ps.cpuMs),
          ratio(top.cpuMs, it.cpuMs).replace('×', '× cheaper'), ratio(top.cpuMs, pr.cpuMs).replace('×', '× cheaper'), ms(it.wallMs), ms(pr.wallMs)]);

        // procwatch top -b -n 1 end to end, with a daemon (its snapshots every 2 s). The daemon's
        // event source is the poll source, never polling: on this shared machine other people's
        // exec storms would otherwise be most of the daemon CPU measured around a request.
        const topConfig = join(dir, `top-${extra}.yaml`);
        writeFileSync(topConfig, `daemon: { source: poll, poll_interval_ms: ${2 ** 31 - 1} }\n`);
        const d = new DaemonProcess({ root, database: join(dir, `top-${extra}.db`), socket: join(dir, `top-${extra}.sock`), config: topConfig });
        await d.start({ timeoutMs: 120_000 });
        try {
          await delay(5000); // a few snapshots: CPU % is known
          const client = [];
          const clientWall = [];
          const daemonCpu = [];
          for (let i = 0; i < RUNS + 1; i++) {
            // Between two of the daemon's own snapshots, so its cost here is this request's.
            const d0 = daemonCpuMs(d.pid);
            const r = childCpu(`${procwatch.join(' ')} top -b -n 1 --socket ${d.socket}`);
            const d1 = daemonCpuMs(d.pid);
            if (i === 0) continue;
            client.push(r.cpuMs);
            clientWall.push(r.wallMs);
            daemonCpu.push(d1 - d0);
          }
          topRows.push([`${count} (+${extra})`, ms(median(clientWall)), ms(median(client)), ms(median(daemonCpu)), ms(top.wallMs), ms(top.cpuMs),
            ratio(top.cpuMs, median(client) + median(daemonCpu)).replace('×', '×')]);
        } finally {
          await d.stop();
        }

        if (extra === 5000) idleRows = await idle(root, dir);
      } finally {
        await sleepers?.stop();
      }
    }
    stormRows = await storm(root, dir, ProcSnapshotSource);
  } finally {
    ebpf.close();
    rmSync(dir, { recursive: true, force: true });
  }
  out.push('', '### Snapshot of every process: CPU per snapshot (median of ' + RUNS + ')', '',
    markdownTable(['processes', 'iter/task ms', '/proc ms', 'top -b -n 1 ms', 'ps aux ms', 'top ÷ iter/task', 'top ÷ /proc', 'iter/task wall ms', '/proc wall ms'], snapRows,
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r']));
  out.push('', '### `procwatch top -b -n 1` end to end vs `top -b -n 1` (median of ' + RUNS + ')', '',
    markdownTable(['processes', 'procwatch wall ms', 'client CPU ms', 'daemon CPU ms', 'top wall ms', 'top CPU ms', 'top CPU ÷ procwatch CPU'], topRows, ['l', 'r', 'r', 'r', 'r', 'r', 'r']));
  out.push('', `### Daemon idle CPU at +5,000 processes over ${IDLE_S} s`, '', markdownTable(['daemon', 'CPU s', '% of one core'], idleRows, ['l', 'r', 'r']));
  out.push('', `### Exec storm (${STORM} × /bin/true, 2 workers): CPU of the storm's processes`, '', markdownTable(['measure', 'CPU s', 'of the kernel\'s total'], stormRows, ['l', 'r', 'r']));
  out.push('', `Load average at end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(out.join('\n'));
  return true;
}

/** The daemon's CPU over IDLE_S seconds, snapshots every 2 s and off. */
async function idle(root, dir) {
  const rows = [];
  const never = 2 ** 31 - 1;
  for (const [label, yaml] of [
    ['eBPF source, snapshots every 2 s (the default)', 'daemon: { source: ebpf, resources: { interval: 2s } }\n'],
    ['eBPF source, snapshots off', 'daemon: { source: ebpf, resources: { source: off } }\n'],
    ['no event work (poll source, never polling), snapshots every 2 s: the sampling alone', `daemon: { source: poll, poll_interval_ms: ${never}, resources: { interval: 2s } }\n`],
  ]) {
    const config = join(dir, `idle-${rows.length}.yaml`);
    writeFileSync(config, yaml);
    const d = new DaemonProcess({ root, database: join(dir, `idle-${rows.length}.db`), socket: join(dir, `idle-${rows.length}.sock`), config });
    await d.start({ timeoutMs: 120_000 });
    try {
      await delay(15_000); // the start (seed, reconcile, first history rows) is not idle
      const c0 = daemonCpuMs(d.pid);
      const t0 = Date.now();
      await delay(IDLE_S * 1000);
      const cpu = daemonCpuMs(d.pid) - c0;
      const wall = Date.now() - t0;
      rows.push([label, (cpu / 1000).toFixed(2), `${((cpu / wall) * 100).toFixed(2)}%`]);
      console.log(`idle ${label}: ${(cpu / 1000).toFixed(2)} s CPU in ${(wall / 1000).toFixed(0)} s`);
    } finally {
      await d.stop();
    }
  }
  return rows;
}

/** The storm under a daemon (eBPF): accounted CPU vs the kernel's, and what 2 s sampling sees. */
async function storm(root, dir, ProcSnapshotSource) {
  const { bin, cleanup } = buildStorm(root);
  // The storm runs /bin/true through a link of its own: comm (from the exec'd name) tells its
  // processes from every other /bin/true on this shared machine.
  const comm = `pwtrue-${randomBytes(3).toString('hex')}`;
  const exec = join(dir, comm);
  symlinkSync('/bin/true', exec);
  const config = join(dir, 'storm.yaml');
  writeFileSync(config, `daemon:\n  resources:\n    groups:\n      - { name: storm, match: "comm=${comm}" }\n`);
  const d = new DaemonProcess({ root, database: join(dir, 'storm.db'), socket: join(dir, 'storm.sock'), config, source: 'ebpf' });
  await d.start({ timeoutMs: 120_000 });
  try {
    await delay(3000);
    const groupCpu = async () => {
      const text = (await d.get('/metrics')).text;
      const v = (mode) => Number(new RegExp(`^procwatch_group_cpu_seconds_total\\{group="storm",mode="${mode}"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
      return v('user') + v('system');
    };
    const g0 = await groupCpu();
    // A process-exporter-style sampler beside it: per-process CPU deltas between snapshots 2 s apart.
    const sampler = new ProcSnapshotSource();
    const firstSeen = new Map();
    const lastSeen = new Map();
    let sampling = true;
    const loop = (async () => {
      while (sampling) {
        const snap = await sampler.take();
        for (const s of snap.samples) {
          if (s.comm !== comm && s.comm !== 'storm') continue;
          if (!firstSeen.has(s.key)) firstSeen.set(s.key, s.cpuNs);
          lastSeen.set(s.key, s.cpuNs);
        }
        await delay(2000);
      }
    })();
    const rusage = join(dir, 'storm.rusage');
    const started = Date.now();
    const result = await runStorm(bin, { total: STORM, workers: 2, pidfile: join(dir, 'storm.pids'), rusage, exec });
    sampling = false;
    await loop;
    const [userUs, sysUs] = readFileSync(rusage, 'utf8').trim().split(' ').map(Number);
    const kernel = (userUs + sysUs) / 1e6;
    // Every process the storm made (its workers included) ended; their accounting is stored.
    let accounted = 0;
    let withUsage = 0;
    const deadline = Date.now() + 30_000;
    let rows = [];
    while (Date.now() < deadline) {
      // By name: the machine is shared, other people's processes would crowd a time range.
      const trues = await d.json(`/v1/history?since=${started - 1000}&name=${comm}&limit=10000`);
      const workers = await d.json(`/v1/history?since=${started - 1000}&name=storm&limit=10000`);
      rows = [...trues.processes, ...workers.processes].filter((p) => result.made.has(p.pid) || p.ppid === result.pid);
      withUsage = rows.filter((p) => p.usage?.cpuSeconds != null).length;
      if (withUsage >= STORM + 2) break;
      await delay(500);
    }
    const lost = (await d.stats()).sourceCounters.lost;
    accounted = rows.reduce((n, p) => n + (p.usage?.cpuSeconds ?? 0), 0);
    const workers = rows.filter((p) => p.ppid === result.pid).reduce((n, p) => n + (p.usage?.cpuSeconds ?? 0), 0);
    await delay(2500); // a snapshot after the storm: the group counters settle
    const group = (await groupCpu()) - g0;
    const sampled = [...lastSeen].reduce((n, [k, v]) => n + (v - firstSeen.get(k)), 0) / 1e9;
    const pct = (x) => `${((x / kernel) * 100).toFixed(1)}%`;
    console.log(`storm: ${result.made.size} processes in ${(result.wallMs / 1000).toFixed(1)} s; ${withUsage} accounted; ${lost} events lost by the daemon`);
    return [
      ['the kernel (storm driver\'s getrusage of its reaped children)', kernel.toFixed(3), '100%'],
      [`procwatch exit accounting, summed (${withUsage} of ${STORM + 2} processes; the daemon lost ${lost} events)`, accounted.toFixed(3), pct(accounted)],
      [`of which the 2 workers (not in the group)`, workers.toFixed(3), pct(workers)],
      [`procwatch group "storm" (comm=${comm}) cpu_seconds_total increase`, group.toFixed(3), `${pct(group)}; ${((group / (accounted - workers)) * 100).toFixed(1)}% of the /bin/true part`],
      ['sampling every 2 s, per-process deltas (process-exporter\'s way)', sampled.toFixed(3), pct(sampled)],
    ];
  } finally {
    await d.stop();
    cleanup();
  }
}
