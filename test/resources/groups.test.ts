/**
 * The process groups' counters and gauges (issue 12) on fixture snapshots: a process seen
 * before adds only what it used since; one born between two snapshots adds all it used; one
 * that ended adds, from its exit accounting, what it used since it was last seen (or all of
 * it, never seen); an exec moves a process to its new group with a fresh baseline.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ProcEvent, ProcessUsage } from '../../src/events/types.js';
import type { HostFigures } from '../../src/procfs/host.js';
import { UserDb } from '../../src/procfs/index.js';
import { ProcessGroups, type GroupFigures, type GroupSubject } from '../../src/resources/groups.js';
import type { ResourceProcess, ResourceView } from '../../src/resources/sampler.js';

/** Start ticks are 10 ms; the monotonic clock of the snapshots counts from tick 0. */
const NS_PER_TICK = 10_000_000;
const SECOND = 1e9;

interface Fixture {
  /** What the table knows: comm by key (changed by an exec). */
  comm: Map<string, string>;
  groups: ProcessGroups;
}

function fixture(config: { name: string; match: string }[] = []): Fixture {
  const comm = new Map<string, string>();
  const subjectOf = (key: string): GroupSubject | null => {
    const c = comm.get(key);
    if (c === undefined) return null;
    return {
      key, comm: c, argv: [c], exe: `/usr/bin/${c}`, uids: [0, 0, 0, 0], gids: [0, 0, 0, 0], label: null, cgroup: null, ppid: 1,
      parentName: 'init', state: null, startTicks: Number(key.split(':')[1]),
    };
  };
  const groups = new ProcessGroups({
    groups: config, maxGroups: 100, users: new UserDb('/nonexistent'), subjectOf,
    startNsOf: (ticks) => ticks * NS_PER_TICK, startWallMs: (ticks) => ticks * 10,
  });
  return { comm, groups };
}

/** A process at a snapshot: CPU split evenly between user and system, so user seconds are cpu / 2. */
function proc(pid: number, startTicks: number, comm: string, cpuSeconds: number, faults = 0): ResourceProcess {
  const cpuNs = cpuSeconds * SECOND;
  return {
    key: `${pid}:${startTicks}`, pid, ppid: 1, startTicks, comm, state: 'S', uid: 0, euid: 0, threads: 1, kernelThread: false,
    cpuNs, userNs: cpuNs / 2, systemNs: cpuNs / 2, minorFaults: faults, majorFaults: 0, voluntarySwitches: 0, involuntarySwitches: 0,
    readBytes: 0, writeBytes: 0, readChars: 0, writeChars: 0, vsizeBytes: 4096, rssBytes: 4096, rssAnonBytes: 0, rssFileBytes: 4096,
    rssShmemBytes: 0, swapBytes: 0, fds: 3, fdLimit: 1024, cpuPct: null, memPct: null,
  };
}

function view(atSeconds: number, processes: ResourceProcess[]): ResourceView {
  const monoNs = atSeconds * SECOND;
  return {
    snapshot: { source: 'ebpf', monoNs, wallMs: atSeconds * 1000, cpuResolution: 'ns', samples: processes, tookMs: 0, cpuMs: 0 },
    intervalNs: null, host: {} as HostFigures, processes, completedFromProc: 0,
  };
}

function usage(cpuSeconds: number, minorFaults = 0): ProcessUsage {
  return {
    cpuSeconds, userSeconds: cpuSeconds / 2, systemSeconds: cpuSeconds / 2, cpuResolution: 'ns', maxRssBytes: 4096,
    minorFaults, majorFaults: 0, voluntarySwitches: 0, involuntarySwitches: 0, readBytes: 0, writeBytes: 0, readChars: 0, writeChars: 0,
  };
}

function event(kind: 'exec' | 'exit' | 'acct', key: string, extra: Record<string, unknown> = {}): ProcEvent {
  const pid = Number(key.split(':')[0]);
  return { seq: 0, ktimeNs: 0, pid, tid: pid, cpu: 0, provenance: 'observed', kind, key, ...extra } as unknown as ProcEvent;
}

function group(f: Fixture, name: string): GroupFigures {
  const g = f.groups.figures().find((x) => x.name === name);
  assert.ok(g !== undefined, `group ${name}: ${f.groups.figures().map((x) => x.name).join(', ')}`);
  return g;
}

const cpu = (g: GroupFigures): number => Math.round((g.counters.cpuUserSeconds + g.counters.cpuSystemSeconds) * 1e6) / 1e6;

test('by name: a process seen before adds what it used since; one born between snapshots adds all it used', () => {
  const f = fixture();
  f.comm.set('10:100', 'web');
  f.comm.set('11:5000', 'web');
  f.groups.update(view(40, [proc(10, 100, 'web', 7, 50)]));
  assert.equal(cpu(group(f, 'web')), 0, 'what ran before the first snapshot is a baseline');
  // 11 started at tick 5000 = 50 s, after the snapshot at 40 s.
  f.groups.update(view(60, [proc(10, 100, 'web', 9, 80), proc(11, 5000, 'web', 3, 20)]));
  const web = group(f, 'web');
  assert.equal(cpu(web), 2 + 3);
  assert.equal(web.counters.minorFaults, 30 + 20);
  assert.equal(web.gauges.processes, 2);
  assert.equal(web.gauges.oldestStartSeconds, 1, 'start tick 100 at 10 ms a tick');
  f.groups.update(view(80, [proc(10, 100, 'web', 9.5, 80), proc(11, 5000, 'web', 3, 20)]));
  assert.equal(cpu(group(f, 'web')), 5.5, 'a second delta adds only what grew');
});

test('an ended member adds, from its accounting, what it used since last seen; a process never seen adds all it used', () => {
  const f = fixture();
  f.comm.set('10:100', 'job');
  f.comm.set('12:7000', 'job');
  f.groups.update(view(40, [proc(10, 100, 'job', 4)]));
  f.groups.update(view(60, [proc(10, 100, 'job', 6)]));
  assert.equal(cpu(group(f, 'job')), 2);
  // 10 is gone at the next snapshot; its accounting comes afterwards.
  f.groups.update(view(80, []));
  f.groups.observe([event('exit', '10:100'), event('acct', '10:100', { startTicks: 100, usage: usage(6.5, 3) })]);
  let job = group(f, 'job');
  assert.equal(cpu(job), 2.5);
  assert.equal(job.counters.endedCpuSeconds, 0.5);
  assert.equal(job.counters.minorFaults, 3);
  assert.equal(job.counters.exits, 1);
  assert.equal(job.gauges.processes, 0);
  // 12 lived and died between two snapshots: all it used, once (a second accounting adds nothing).
  f.groups.observe([event('exit', '12:7000'), event('acct', '12:7000', { startTicks: 7000, usage: usage(1.25) })]);
  job = group(f, 'job');
  assert.equal(cpu(job), 3.75);
  assert.equal(job.counters.endedCpuSeconds, 1.75);
  assert.equal(job.counters.exits, 2);
});

test('an exec moves a process to its new group with a baseline there; starts count in the new group', () => {
  const f = fixture();
  f.comm.set('10:100', 'sh');
  f.groups.update(view(40, [proc(10, 100, 'sh', 1)]));
  f.groups.update(view(60, [proc(10, 100, 'sh', 2)]));
  assert.equal(cpu(group(f, 'sh')), 1);
  f.comm.set('10:100', 'make');
  f.groups.observe([event('exec', '10:100')]);
  assert.equal(group(f, 'make').counters.starts, 1);
  f.groups.update(view(80, [proc(10, 100, 'make', 5)]));
  assert.equal(cpu(group(f, 'make')), 0, 'its CPU so far is a baseline in its new group');
  assert.equal(group(f, 'make').gauges.processes, 1);
  assert.equal(group(f, 'sh').gauges.processes, 0);
  f.groups.update(view(100, [proc(10, 100, 'make', 6)]));
  assert.equal(cpu(group(f, 'make')), 1);
  assert.equal(cpu(group(f, 'sh')), 1, 'the old group keeps what it counted');
});

test('configured groups: a process in none is counted nowhere; one that leaves its group adds nothing more there', () => {
  const f = fixture([{ name: 'web', match: 'comm=web' }]);
  f.comm.set('10:100', 'web');
  f.comm.set('20:100', 'other');
  f.groups.update(view(40, [proc(10, 100, 'web', 1), proc(20, 100, 'other', 1)]));
  f.groups.update(view(60, [proc(10, 100, 'web', 2), proc(20, 100, 'other', 9)]));
  assert.deepEqual(f.groups.figures().map((g) => g.name), ['web']);
  assert.equal(cpu(group(f, 'web')), 1);
  assert.equal(group(f, 'web').gauges.processes, 1);
  f.comm.set('10:100', 'other');
  f.groups.observe([event('exec', '10:100')]);
  f.groups.update(view(80, [proc(10, 100, 'other', 4), proc(20, 100, 'other', 10)]));
  assert.equal(group(f, 'web').gauges.processes, 0);
  f.groups.observe([event('exit', '10:100'), event('acct', '10:100', { startTicks: 100, usage: usage(4.5) })]);
  const web = group(f, 'web');
  assert.equal(web.counters.exits, 1, 'its exit counts where it was last seen');
  assert.equal(cpu(web), 3.5, 'since last seen in the group (2 s), all of its accounting counts there');
});
