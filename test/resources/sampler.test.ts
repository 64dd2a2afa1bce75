/**
 * The sampler's arithmetic on fixture snapshots (issue 12): CPU % from the deltas of each
 * process instance's own samples, never across a reused pid; a process born between two
 * snapshots; starts, ends and the CPU of ended processes between refreshes; what the history
 * writes (changes, keyframes, the rows-per-minute bound); and the /proc completion of live
 * processes the snapshot source did not list. Groups: membership by selectors and cgroup,
 * counters that only grow, short-lived members accounted at their end, the cap.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AcctEvent, ProcEvent, ProcessUsage } from '../../src/events/types.js';
import { ProcReader, UserDb } from '../../src/procfs/index.js';
import { HistoryRecorder } from '../../src/resources/history.js';
import { ProcessGroups, type GroupSubject } from '../../src/resources/groups.js';
import { ResourceSampler, type ResourceView } from '../../src/resources/sampler.js';
import type { ResourceSample, Snapshot, SnapshotSource } from '../../src/resources/types.js';
import type { StoredSample } from '../../src/store/resources.js';
import type { ResourceHistory } from '../../src/store/resources.js';
import { Clock } from '../../src/table/index.js';

const empty = mkdtempSync(join(tmpdir(), 'pw-noproc-'));
test.after(() => rmSync(empty, { recursive: true, force: true }));
/** No /proc/uptime there: no suspend time, so start ticks × 10 ms is the monotonic scale. */
const clock = new Clock(new ProcReader(empty));
const TICK = 1e7;

function sample(pid: number, startTicks: number, cpuNs: number, over: Partial<ResourceSample> = {}): ResourceSample {
  return {
    key: `${pid}:${startTicks}`, pid, ppid: 1, startTicks, comm: 'x', state: 'S', uid: 0, euid: 0, threads: 1, kernelThread: false,
    cpuNs, userNs: cpuNs, systemNs: 0, minorFaults: 0, majorFaults: 0, voluntarySwitches: 0, involuntarySwitches: 0, readBytes: 0, writeBytes: 0,
    readChars: 0, writeChars: 0, vsizeBytes: 1 << 20, rssBytes: 1 << 20, rssAnonBytes: 1 << 20, rssFileBytes: 0, rssShmemBytes: 0, swapBytes: 0,
    fds: 3, fdLimit: 1024, ...over,
  };
}

/** Snapshots handed out in order; monoNs and wallMs as given. */
class Scripted implements SnapshotSource {
  readonly name = 'ebpf' as const;
  private i = 0;
  constructor(private readonly snaps: Array<{ monoNs: number; samples: ResourceSample[] }>) {}
  take(): Promise<Snapshot> {
    const s = this.snaps[this.i++]!;
    return Promise.resolve({ source: 'ebpf', monoNs: s.monoNs, wallMs: 1_700_000_000_000 + s.monoNs / 1e6, cpuResolution: 'ns', samples: s.samples, tookMs: 1, cpuMs: 1 });
  }
  close(): void {}
}

const S = 1e9;

test('CPU % comes from the same instance\'s previous sample; a reused pid starts over; a newborn\'s CPU is all this interval\'s', async () => {
  const sampler = new ResourceSampler({
    clock, intervalMs: 0,
    source: new Scripted([
      { monoNs: 100 * S, samples: [sample(10, 5, 40 * S), sample(20, 5, 1 * S)] },
      // 2 s later: 10 used 1 s (50 %); pid 20 is now another instance (started at 101 s) with 0.5 s of CPU.
      { monoNs: 102 * S, samples: [sample(10, 5, 41 * S), sample(20, (101 * S) / TICK, 0.5 * S)] },
      // Pid 20 again another instance, but one born before the previous snapshot (a missed exit): unknown.
      { monoNs: 104 * S, samples: [sample(10, 5, 41 * S), sample(20, (99 * S) / TICK, 0.2 * S)] },
    ]),
  });
  const first = await sampler.refresh();
  assert.deepEqual(first.processes.map((p) => p.cpuPct), [null, null], 'nothing to compare with yet');
  const second = await sampler.refresh();
  const [a, b] = second.processes;
  assert.equal(a!.cpuPct, 50);
  assert.equal(b!.key, '20:10100');
  assert.equal(b!.cpuPct, 25, 'born 1 s into the interval, it used 0.5 s of the 2 s interval');
  const third = await sampler.refresh();
  assert.equal(third.processes[0]!.cpuPct, 0, 'idle');
  assert.equal(third.processes[1]!.cpuPct, null, 'a new instance that started before the last snapshot: no CPU % can be honest');
  assert.equal(third.intervalNs, 2 * S);
});

let seq = 0;
const base = (pid: number, key: string) => ({ seq: ++seq, ktimeNs: 0, pid, tid: pid, cpu: 0, provenance: 'observed' as const, key });
const usage = (cpuSeconds: number): ProcessUsage => ({
  cpuSeconds, userSeconds: cpuSeconds, systemSeconds: 0, cpuResolution: 'ns', maxRssBytes: 1 << 20, minorFaults: 10, majorFaults: 1,
  voluntarySwitches: 2, involuntarySwitches: 3, readBytes: 100, writeBytes: 200, readChars: 0, writeChars: 0,
});
const fork = (pid: number, key: string): ProcEvent => ({ ...base(pid, key), kind: 'fork', parentPid: 1, parentTid: 1, thread: false });
const exit = (pid: number, key: string): ProcEvent => ({ ...base(pid, key), kind: 'exit', status: { code: 0, signal: null, coreDumped: false }, rawCode: 0, parentPid: 1 });
const acct = (pid: number, key: string, cpu: number): AcctEvent => ({ ...base(pid, key), kind: 'acct', startTicks: Number(key.split(':')[1]), usage: usage(cpu) });

test('churn: starts, ends and the CPU of what ended, since a cursor or since the previous snapshot', async () => {
  const sampler = new ResourceSampler({ clock, intervalMs: 0, source: new Scripted([{ monoNs: 1, samples: [] }, { monoNs: 2, samples: [] }]), commOf: () => 'true' });
  await sampler.refresh();
  sampler.observe([fork(30, '30:1'), exit(30, '30:1'), acct(30, '30:1', 0.004)]);
  await sampler.refresh();
  sampler.observe([fork(31, '31:1'), exit(31, '31:1'), fork(32, '32:1'), exit(32, '32:1'), acct(32, '32:1', 0.25), { ...base(33, '33:1'), kind: 'fork', parentPid: 1, parentTid: 1, thread: true }]);
  const sinceSnapshot = sampler.churnSince();
  assert.deepEqual({ ...sinceSnapshot, top: sinceSnapshot.top.map((t) => t.key) }, {
    cursor: seq === 0 ? 0 : sinceSnapshot.cursor, started: 3, ended: 3, endedCpuSeconds: 0.254, endedUnaccounted: 1, top: ['32:1', '30:1'], complete: true,
  });
  const later = sampler.churnSince(sinceSnapshot.cursor);
  assert.equal(later.started + later.ended, 0, 'nothing new after the cursor');
});

class MemoryHistory {
  rows: StoredSample[][] = [];
  write(samples: readonly StoredSample[]): void { this.rows.push([...samples]); }
}

function view(wallMs: number, samples: ResourceSample[]): ResourceView {
  return {
    snapshot: { source: 'ebpf', monoNs: wallMs * 1e6, wallMs, cpuResolution: 'ns', samples, tookMs: 0, cpuMs: 0 },
    intervalNs: null, host: { load: null, runnable: null, cpus: 2, memTotalBytes: null, memAvailableBytes: null, memFreeBytes: null, swapTotalBytes: null, swapFreeBytes: null, uptimeSeconds: null },
    processes: samples.map((s) => ({ ...s, cpuPct: null, memPct: null })), completedFromProc: 0,
  };
}

test('history: a row when the figures changed, a keyframe for the idle, and no more rows a minute than allowed', () => {
  const store = new MemoryHistory();
  const rec = new HistoryRecorder(store as unknown as ResourceHistory, { intervalMs: 10_000, keyframeMs: 60_000, maxRowsPerMinute: 3 });
  assert.equal(rec.consider(view(0, [sample(1, 1, 0), sample(2, 1, 0)])), 2, 'every process is new');
  assert.equal(rec.consider(view(5_000, [sample(1, 1, 1 * S), sample(2, 1, 0)])), 0, 'not yet 10 s since the last write');
  assert.equal(rec.consider(view(10_000, [sample(1, 1, 1 * S), sample(2, 1, 0)])), 1, 'only the one whose CPU grew');
  const row = store.rows.at(-1)![0]!;
  assert.equal(row.key, '1:1');
  assert.equal(row.cpuPct, 10, '1 s of CPU over the 10 s since its last row');
  // A burst: four busy processes, but the minute allows 3 rows and 3 were written: wait.
  const busy = [...[1, 3, 4, 5].map((pid, i) => sample(pid, 1, (i + 2) * S)), sample(2, 1, 0)];
  assert.equal(rec.consider(view(20_000, busy)), 0, 'the minute\'s rows are spent');
  assert.ok(rec.stats.deferred >= 4);
  // A minute after those writes (a rolling minute), the budget is back: the busiest first.
  assert.equal(rec.consider(view(70_000, busy)), 3);
  assert.deepEqual(store.rows.at(-1)!.map((r) => r.key), ['5:1', '4:1', '3:1']);
  // Idle 2 for over a keyframe: written again though nothing changed.
  const n = rec.consider(view(140_000, [sample(2, 1, 0)]));
  assert.equal(n, 1);
  assert.equal(store.rows.at(-1)![0]!.cpuPct, 0);
});

test('a live process the snapshot source missed is read from /proc (the task iterator of some kernels hides pid 1)', async () => {
  const self = process.pid;
  const source = new Scripted([{ monoNs: 1, samples: [sample(999_999, 1, 0)] }]);
  const me = new ProcReader().stat(self)!;
  const sampler = new ResourceSampler({ clock, intervalMs: 0, source, live: { forEach: (visit) => { visit(self, `${self}:${me.startTicks}`); visit(999_998, '999998:1'); } } });
  const v = await sampler.refresh();
  assert.equal(v.completedFromProc, 1, 'this process, read from /proc; the vanished one is not invented');
  const mine = v.processes.find((p) => p.pid === self);
  assert.ok(mine !== undefined && mine.rssBytes! > 0 && mine.fds! > 0);
});

// ---- groups ---------------------------------------------------------------------------------------

function subject(key: string, over: Partial<GroupSubject> = {}): GroupSubject {
  return { key, comm: 'nginx', argv: ['nginx: worker'], exe: '/usr/sbin/nginx', uids: [33, 33, 33, 33], gids: [33, 33, 33, 33], label: null, cgroup: '/system.slice/nginx.service', ppid: 1, parentName: 'systemd', state: null, startTicks: 1, ...over };
}

test('groups: selectors and cgroup globs; configured groups exported at 0; counters grow by deltas and by ended members\' totals', () => {
  const subjects = new Map<string, GroupSubject>([
    ['1:1', subject('1:1')],
    ['2:1', subject('2:1', { comm: 'python3', argv: ['python3', '/srv/app.py'], exe: '/usr/bin/python3.11', cgroup: '/system.slice/app.service', uids: [1000, 1000, 1000, 1000] })],
    ['9:500', subject('9:500', { comm: 'true', argv: ['/bin/true'], exe: '/usr/bin/true', cgroup: '/system.slice/nginx.service' })],
  ]);
  const groups = new ProcessGroups({
    groups: [{ name: 'web', match: 'exe=/usr/sbin/nginx' }, { name: 'app', match: 'name=app.py', cgroup: '/system.slice/app.*' }, { name: 'nothing', match: 'comm=no-such' }, { name: 'nginx-unit', cgroup: '*/nginx.service' }],
    maxGroups: 10, users: new UserDb(), subjectOf: (k) => subjects.get(k) ?? null, startNsOf: (t) => t * TICK, startWallMs: (t) => t * 10,
  });
  const at = (ms: number, samples: ResourceSample[]): void => groups.update(view(ms, samples));
  at(1000, []);
  assert.deepEqual(groups.figures().map((g) => [g.name, g.gauges.processes]), [['web', 0], ['app', 0], ['nothing', 0], ['nginx-unit', 0]], 'every configured group exists from the start');
  at(2000, [sample(1, 1, 10 * S), sample(2, 1, 5 * S)]);
  const web = (): ReturnType<ProcessGroups['figures']>[number] => groups.figures().find((g) => g.name === 'web')!;
  assert.equal(web().gauges.processes, 1);
  assert.equal(web().counters.cpuUserSeconds, 0, 'a process already running when first seen is a baseline');
  at(3000, [sample(1, 1, 12 * S), sample(2, 1, 5.5 * S)]);
  assert.equal(web().counters.cpuUserSeconds, 2);
  assert.equal(groups.figures().find((g) => g.name === 'app')!.counters.cpuUserSeconds, 0.5);
  // A short-lived member never sampled: its whole accounting counts (first configured match: web? no, exe differs: nginx-unit by cgroup).
  groups.observe([{ ...base(9, '9:500'), kind: 'exec', details: { comm: 'true', exe: '/usr/bin/true', argv: ['/bin/true'], argvTruncated: false, cwd: '/', ppid: 1, uids: null, gids: null, startTicks: 500, label: null, cgroup: null } }, exit(9, '9:500'), acct(9, '9:500', 0.003)]);
  const unit = groups.figures().find((g) => g.name === 'nginx-unit')!;
  assert.equal(unit.counters.starts, 1);
  assert.equal(unit.counters.exits, 1);
  assert.ok(Math.abs(unit.counters.cpuUserSeconds - 0.003) < 1e-12);
  assert.ok(Math.abs(unit.counters.endedCpuSeconds - 0.003) < 1e-12);
  // The nginx member ends: its CPU since the last snapshot (12 → 12.5 s) is added at its accounting.
  at(4000, [sample(2, 1, 6 * S)]);
  assert.equal(web().gauges.processes, 0, 'a group that stops matching goes to 0, it does not vanish');
  groups.observe([exit(1, '1:1'), acct(1, '1:1', 12.5)]);
  assert.equal(web().counters.cpuUserSeconds, 2.5);
  assert.equal(web().counters.exits, 1);
});

test('groups by name when none are configured: kernel threads together, and a cap with the overflow counted', () => {
  const groups = new ProcessGroups({ groups: [], maxGroups: 2, users: new UserDb(), subjectOf: () => null, startNsOf: (t) => t * TICK, startWallMs: (t) => t * 10 });
  groups.update(view(1000, [
    sample(1, 1, 0, { comm: 'sshd' }), sample(2, 1, 0, { comm: 'sshd' }), sample(3, 1, 0, { comm: 'kworker/0:1-events', kernelThread: true }),
    sample(4, 1, 0, { comm: 'cron' }), sample(5, 1, 0, { comm: 'kworker/1:0', kernelThread: true }),
  ]));
  assert.deepEqual(groups.figures().map((g) => [g.name, g.gauges.processes]), [['sshd', 2], ['[kernel threads]', 2]]);
  assert.equal(groups.overflowProcesses, 1, 'cron: no room left');
  assert.deepEqual([...groups.refusedNames], ['cron']);
});
