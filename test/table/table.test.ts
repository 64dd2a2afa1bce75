import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Clock, ProcessTable, type TableOptions } from '../../src/table/index.js';
import { ProcReader } from '../../src/procfs/index.js';
import type { ProcEvent } from '../../src/events/types.js';
import { comm, exec, exit, fork, lost, thread, uid } from './events.js';

/** A table whose fork-time start-time lookups come from a fixed map, as /proc would answer. */
function tableWith(starts: Record<number, number>, maxExited?: number, options: TableOptions = {}): ProcessTable {
  return new ProcessTable({ startTicksOf: (pid) => starts[pid] ?? null, maxExited, ...options });
}

interface FakeProcess { pid: number; comm: string; ppid: number; start: number; threads?: number; argv?: string[] }

/** A fake /proc tree (no uptime file: a Clock on it sees no suspend, so ticks * 10 ms is the ns scale). */
function procTree(processes: FakeProcess[]): { root: string; reader: ProcReader; clock: Clock; cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'pw-proc-'));
  for (const p of processes) {
    const dir = join(root, String(p.pid));
    mkdirSync(dir);
    writeFileSync(join(dir, 'stat'), `${p.pid} (${p.comm}) S ${p.ppid} ${p.pid} ${p.pid} 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 ${p.threads ?? 1} 0 ${p.start} 1000 100 0`);
    writeFileSync(join(dir, 'status'), `Name:\t${p.comm}\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n`);
    writeFileSync(join(dir, 'cmdline'), `${(p.argv ?? [p.comm]).join('\0')}\0`);
  }
  const reader = new ProcReader(root);
  return { root, reader, clock: new Clock(reader), cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

test('fork, exec, exit: one instance with its parent, image and exit code', () => {
  const table = tableWith({ 10: 500, 11: 600 });
  const events = [exec(10, 1, { startTicks: 500, comm: 'sh', argv: ['sh'], ppid: 1 }), fork(11, 10, 2), exec(11, 3, { startTicks: 600, comm: 'ls', argv: ['ls', '-l'], ppid: 10 }), exit(11, 4, 2)];
  table.apply(events);
  assert.deepEqual(events.map((e) => e.key), ['10:500', '11:600', '11:600', '11:600']);
  const child = table.get('11:600');
  assert.equal(child?.argv?.join(' '), 'ls -l');
  assert.equal(child?.parentKey, '10:500');
  assert.equal(child?.exit?.code, 2);
  assert.equal(child?.exitOrigin, 'observed');
  assert.equal(table.live.has(11), false);
  assert.deepEqual(table.childrenOf('10:500').map((r) => r.key), ['11:600']);
});

test('a fork child shows its parent image until exec, marked as inherited', () => {
  const table = tableWith({ 10: 500, 11: 600 });
  table.apply([exec(10, 1, { startTicks: 500, comm: 'bash', argv: ['bash'] }), fork(11, 10, 2)]);
  const child = table.get('11:600');
  assert.equal(child?.comm, 'bash');
  assert.equal(child?.inheritedImage, true);
  table.apply([exec(11, 3, { startTicks: 600, comm: 'ls', argv: null })]);
  assert.equal(child?.comm, 'ls');
  assert.equal(child?.argv, null, 'an unreadable argv after exec is unknown, never the parent\'s');
  assert.equal(child?.inheritedImage, false);
});

test('exit before fork (late fork) attaches to the exited record and creates no live ghost', () => {
  const table = tableWith({ 10: 500 });
  table.apply([exec(10, 1, { startTicks: 500 })]);
  const e = exit(11, 5);
  const f = fork(11, 10, 3); // happened before the exit, arrived after it
  table.apply([e, f]);
  assert.equal(table.live.has(11), false, 'a process that exited must not come back to life');
  assert.equal(f.key, e.key);
  const record = table.get(e.key!);
  assert.equal(record?.ppid, 10);
  assert.equal(record?.parentKey, '10:500');
  assert.equal(table.counters().lateAttached, 1);
});

test('a reused pid closes the stale instance as inferred and starts a new one', () => {
  const table = tableWith({ 20: 700 });
  table.apply([exec(20, 1, { startTicks: 700, comm: 'old' })]);
  table.apply([exec(20, 9, { startTicks: 900, comm: 'new' })]); // exit of 20:700 was never seen
  assert.equal(table.live.get(20)?.key, '20:900');
  assert.equal(table.get('20:700')?.exitOrigin, 'inferred');
  assert.equal(table.counters().staleReplaced, 1);
});

test('an exec of a process never seen is added with the parent it reports, never an invented one', () => {
  const table = tableWith({});
  table.apply([exec(30, 1, { startTicks: 800, ppid: 4242 })]);
  const record = table.get('30:800');
  assert.equal(record?.ppid, 4242);
  assert.equal(record?.parentKey, null, 'parent 4242 is unknown to the table');
});

test('a new thread is counted on its own process, not on the parent cn_proc names in its fork event', () => {
  const table = tableWith({ 10: 500 });
  // Process 10 is a child of 1; its threads' fork events name 1 (the process's parent), not 10.
  table.apply([exec(1, 0, { startTicks: 1, ppid: 0 }), exec(10, 1, { startTicks: 500, ppid: 1 })]);
  const events = [thread(10, 12, 1, 2), thread(10, 13, 1, 3), exit(10, 4, 0, 12)];
  table.apply(events);
  assert.equal(table.live.size, 2, 'threads are not processes');
  assert.deepEqual(events.map((e) => e.key), ['10:500', '10:500', '10:500']);
  const p = table.live.get(10)!;
  assert.deepEqual([p.threadsCreated, p.threadsExited], [2, 1]);
  assert.deepEqual([table.live.get(1)!.threadsCreated, table.live.get(1)!.threadsExited], [0, 0], 'the parent has no thread of its child\'s');
  assert.equal(table.counters().threadEvents, 3);
});

test('the leader thread leaving first does not end the process: its last thread does, with its status', () => {
  const table = tableWith({ 10: 500 });
  table.apply([exec(10, 1, { startTicks: 500 }), thread(10, 12, 1, 2)]);
  const leader = exit(10, 5, 0);
  table.apply([leader]);
  assert.equal(table.live.has(10), true, 'pthread_exit in main: the process lives on in thread 12');
  assert.equal(table.live.get(10)?.exitNs, null);
  const last = exit(10, 9, 3, 12);
  table.apply([last]);
  const record = table.get('10:500')!;
  assert.equal(table.live.has(10), false);
  assert.deepEqual(record.exit, { code: 3, signal: null, coreDumped: false });
  assert.equal(record.exitNs, 9);
  assert.equal(record.exitOrigin, 'observed');
  assert.equal(last.key, '10:500');
});

test('a thread that execs takes the leader\'s place: the leader\'s exit before the exec ends nothing', () => {
  const table = tableWith({ 10: 500 });
  table.apply([exec(10, 1, { startTicks: 500, comm: 'threaded' }), thread(10, 12, 1, 2)]);
  // de_thread(): the kernel ends the leader, then the exec'ing thread becomes the leader.
  table.apply([exit(10, 3, 9 << 8), exec(10, 4, { startTicks: 500, comm: 'next' })]);
  const record = table.live.get(10)!;
  assert.equal(record.comm, 'next');
  assert.equal(record.threadsCreated - record.threadsExited, 0, 'one thread left, and it is the leader');
  table.apply([exit(10, 6, 0)]);
  assert.equal(table.live.has(10), false);
  assert.equal(table.get('10:500')?.exit?.code, 0);
});

test('where exits come one per process (eBPF), a leader exit ends the process whatever threads were counted', () => {
  const table = tableWith({ 10: 500 }, undefined, { threadExits: false });
  table.apply([exec(10, 1, { startTicks: 500 }), thread(10, 12, 1, 2), exit(10, 3, 1)]);
  assert.equal(table.live.has(10), false);
  assert.equal(table.get('10:500')?.exit?.code, 1);
});

test('a leader that left, and whose threads ended unseen (lost), is closed by the resync with the exit it had', () => {
  const t = procTree([{ pid: 1, comm: 'init', ppid: 0, start: 1 }]);
  try {
    const table = tableWith({ 10: 500 });
    table.apply([exec(1, 0, { startTicks: 1 }), exec(10, 1, { startTicks: 500 }), thread(10, 12, 1, 2), exit(10, 3, 4), lost(4)]);
    table.resync(t.reader, 5, () => 0);
    const record = table.get('10:500')!;
    assert.equal(record.exitOrigin, 'observed', 'its end was seen: the leader exit');
    assert.equal(record.exit?.code, 4);
  } finally {
    t.cleanup();
  }
});

test('exited history is bounded under a fork storm', () => {
  const starts: Record<number, number> = { 1: 1 };
  for (let pid = 100; pid < 5100; pid++) starts[pid] = pid;
  const table = tableWith(starts, 1000);
  table.apply([exec(1, 0, { startTicks: 1 })]);
  const storm = [];
  for (let pid = 100; pid < 5100; pid++) storm.push(fork(pid, 1, pid * 10), exit(pid, pid * 10 + 1));
  table.apply(storm);
  assert.equal(table.live.size, 1);
  assert.equal(table.exited.size, 1000);
  assert.ok(table.get('5099:5099'), 'the newest exited processes are kept');
  assert.equal(table.get('100:100'), undefined, 'the oldest are dropped');
  assert.equal(table.childrenOf('1:1').length, 1000, 'the parent keeps no keys of dropped children');
});

test('ancestors follow parent keys through exited processes', () => {
  const table = tableWith({ 2: 2, 3: 3, 4: 4 });
  table.apply([exec(1, 0, { startTicks: 1 }), fork(2, 1, 1), fork(3, 2, 2), fork(4, 3, 3), exit(3, 4), exit(2, 5)]);
  assert.deepEqual(table.ancestors('4:4').map((r) => r.key), ['3:3', '2:2', '1:1']);
});

test('a lost event asks for a resync, and resync records what it finds as inferred', () => {
  const root = mkdtempSync(join(tmpdir(), 'pw-proc-'));
  try {
    const stat = (pid: number, comm: string, ppid: number, start: number) =>
      `${pid} (${comm}) S ${ppid} ${pid} ${pid} 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 ${start} 1000 100 0`;
    for (const [pid, comm, ppid, start] of [[1, 'init', 0, 1], [50, 'newcomer', 1, 5000]] as const) {
      mkdirSync(join(root, String(pid)));
      writeFileSync(join(root, String(pid), 'stat'), stat(pid, comm, ppid, start));
      writeFileSync(join(root, String(pid), 'status'), `Name:\t${comm}\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n`);
      writeFileSync(join(root, String(pid), 'cmdline'), `${comm}\0`);
    }
    const table = tableWith({});
    table.apply([exec(1, 0, { startTicks: 1 }), exec(40, 1, { startTicks: 4000, comm: 'vanished' })]);
    table.apply([lost(2)]);
    assert.equal(table.needsResync, true);
    const inferred = table.resync(new ProcReader(root), 3, () => 0);
    assert.deepEqual(inferred.map((e) => `${e.kind} ${e.pid}`).sort(), ['inferred_exit 40', 'inferred_start 50']);
    assert.ok(inferred.every((e) => e.provenance === 'inferred'));
    assert.equal(table.get('40:4000')?.exitOrigin, 'inferred');
    assert.equal(table.live.get(50)?.origin, 'inferred');
    assert.equal(table.live.get(50)?.comm, 'newcomer');
    assert.equal(table.needsResync, false);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a fork child whose start time could not be read gets its real key from the exec, in the same batch', () => {
  const table = tableWith({ 10: 500 }); // pid 11 is already gone when the fork is processed
  table.apply([exec(10, 1, { startTicks: 500 })]);
  const batch = [fork(11, 10, 2), exec(11, 3, { startTicks: 650, comm: 'true' }), exit(11, 4)];
  table.apply(batch);
  assert.deepEqual(batch.map((e) => e.key), ['11:650', '11:650', '11:650']);
  assert.deepEqual(table.childrenOf('10:500').map((r) => r.key), ['11:650']);
  assert.equal(table.get('11:650')?.parentKey, '10:500');
});

test('a fork whose child /proc shows started after the fork (the pid was reused since) does not get that start time', () => {
  const t = procTree([]);
  try {
    // Ticks are 10 ms: 600 ticks is 6 s after boot. A fork at 5 s cannot be that process's.
    const table = tableWith({ 10: 100, 11: 600 }, undefined, { clock: t.clock });
    table.apply([exec(10, 1e9, { startTicks: 100 })]);
    const early = fork(11, 10, 5e9);
    table.apply([early]);
    assert.match(early.key ?? '', /^11:\?/, `a provisional key, not 11:600 (${String(early.key)})`);
    assert.equal(table.counters().wrongInstance, 1);
    const timely = fork(12, 10, 6.05e9);
    const table2 = tableWith({ 12: 600 }, undefined, { clock: t.clock });
    table2.apply([timely]);
    assert.equal(timely.key, '12:600', 'within a tick: the same instance');
  } finally {
    t.cleanup();
  }
});

test('an exec whose details belong to a process started after it is shown unknown, never with that other name', () => {
  const t = procTree([]);
  try {
    const table = tableWith({}, undefined, { clock: t.clock });
    const e = exec(20, 1e9, { startTicks: 500, comm: 'imposter', argv: ['imposter'] });
    table.apply([e]);
    assert.ok(e.kind === 'exec');
    assert.equal(e.details.comm, null);
    assert.equal(e.details.argv, null);
    assert.equal(table.get(e.key!)?.comm, null);
    assert.equal(table.counters().wrongInstance, 1);
  } finally {
    t.cleanup();
  }
});

test('after a loss, a fork child still showing its parent\'s image is read again: its exit shows its own name', () => {
  const t = procTree([
    { pid: 1, comm: 'init', ppid: 0, start: 1 },
    { pid: 10, comm: 'bash', ppid: 1, start: 500 },
    { pid: 11, comm: 'worker', ppid: 10, start: 1100, argv: ['worker', '--x'] },
  ]);
  try {
    const table = tableWith({ 11: 1100 });
    table.apply([exec(1, 0, { startTicks: 1, comm: 'init' }), exec(10, 1, { startTicks: 500, comm: 'bash', argv: ['bash'] }), fork(11, 10, 2)]);
    assert.equal(table.live.get(11)?.comm, 'bash', 'inherited at the fork');
    table.apply([lost(3)]); // ...and the exec of 11 was among the lost events
    table.resync(t.reader, 4, () => 0);
    const record = table.live.get(11)!;
    assert.equal(record.comm, 'worker');
    assert.deepEqual(record.argv, ['worker', '--x']);
    assert.equal(record.inheritedImage, false);
    assert.equal(table.counters().refreshed, 1, 'only the record whose image was in doubt');
    const end = exit(11, 5);
    table.apply([end]);
    assert.equal(table.recordAt(end)?.comm, 'worker');
  } finally {
    t.cleanup();
  }
});

test('an exit released after the resync that closed its process attaches to that record: observed, no ghost', () => {
  const t = procTree([{ pid: 1, comm: 'init', ppid: 0, start: 1 }]);
  try {
    const table = tableWith({});
    table.apply([exec(1, 0, { startTicks: 1 }), exec(40, 1, { startTicks: 4000, comm: 'brief' }), lost(2)]);
    const inferred = table.resync(t.reader, 3, () => 0); // 40 already gone from /proc
    assert.deepEqual(inferred.map((e) => `${e.kind} ${e.pid}`), ['inferred_exit 40']);
    const late = exit(40, 2.5, 7); // it ended before the scan; its event was still held
    table.apply([late]);
    assert.equal(late.key, '40:4000');
    const record = table.get('40:4000')!;
    assert.equal(record.exitOrigin, 'observed', 'the kernel\'s word replaces the inference');
    assert.equal(record.exit?.code, 7);
    assert.equal(record.exitNs, 2.5);
    assert.equal(table.counters().unmatchedExits, 0);
    assert.equal(table.live.has(40), false);
    assert.equal([...table.exited.keys()].filter((k) => k.startsWith('40:')).length, 1, 'one record, no ghost');
  } finally {
    t.cleanup();
  }
});

test('a late exit of an old instance never closes the new process that reuses its pid', () => {
  const t = procTree([{ pid: 1, comm: 'init', ppid: 0, start: 1 }, { pid: 40, comm: 'newer', ppid: 1, start: 5000 }]);
  try {
    const table = tableWith({}, undefined, { clock: t.clock });
    table.apply([exec(1, 0, { startTicks: 1 }), exec(40, 1e9, { startTicks: 50, comm: 'older' }), lost(2e9)]);
    table.resync(t.reader, 60e9, () => 0); // 40:50 gone, 40:5000 found
    assert.equal(table.live.get(40)?.key, '40:5000');
    const late = exit(40, 1.5e9, 2);
    table.apply([late]);
    assert.equal(late.key, '40:50');
    assert.equal(table.get('40:50')?.exit?.code, 2);
    assert.equal(table.live.get(40)?.key, '40:5000', 'the newer process is still live');
    assert.equal(table.live.get(40)?.exitNs, null);
    // With no record of the old one at all, its exit is kept beside the live one, not applied to it.
    const ghost = exit(40, 1.6e9, 3);
    const fresh = tableWith({}, undefined, { clock: t.clock });
    fresh.seed(t.reader);
    fresh.apply([ghost]);
    assert.notEqual(ghost.key, '40:5000');
    assert.equal(fresh.live.get(40)?.key, '40:5000');
    assert.equal(fresh.live.get(40)?.exitNs, null);
  } finally {
    t.cleanup();
  }
});

test('each event is shown with its process as of that event, not as of the end of its batch', () => {
  const table = tableWith({});
  const events: ProcEvent[] = [exec(10, 1, { startTicks: 500, argv: ['first'] }), uid(10, 2, 1000), exec(10, 3, { startTicks: 500, argv: ['second'], uids: [0, 0, 0, 0] })];
  table.apply(events);
  assert.deepEqual(table.recordAt(events[1]!)?.argv, ['first']);
  assert.equal(table.recordAt(events[1]!)?.uids?.[1], 1000);
  assert.deepEqual(table.recordAt(events[2]!)?.argv, ['second']);
  assert.deepEqual(table.get('10:500')?.argv, ['second']);
  // A provisional key fixed later in the batch is fixed in the snapshots too.
  const t2 = tableWith({ 10: 500 });
  t2.apply([exec(10, 1, { startTicks: 500 })]);
  const batch = [fork(11, 10, 2), exec(11, 3, { startTicks: 650 })];
  t2.apply(batch);
  assert.equal(t2.recordAt(batch[0]!)?.key, '11:650');
});

test('seed and resync take thread counts from /proc', () => {
  const t = procTree([{ pid: 1, comm: 'init', ppid: 0, start: 1 }, { pid: 30, comm: 'pool', ppid: 1, start: 300, threads: 4 }]);
  try {
    const table = tableWith({});
    table.seed(t.reader);
    const record = table.live.get(30)!;
    assert.equal(record.threadsCreated - record.threadsExited, 3);
    table.apply([exit(30, 5, 0)]);
    assert.equal(table.live.has(30), true, 'its leader left, three threads remain');
  } finally {
    t.cleanup();
  }
});

test('an exec found by a /proc scan (same instance, new image) replaces the image', () => {
  const table = tableWith({});
  table.apply([exec(10, 1, { startTicks: 500, comm: 'sh', argv: ['sh', '-c', 'exec x'] })]);
  const found: ProcEvent = { ...exec(10, 2, { startTicks: 500, comm: 'x', argv: ['x'] }), provenance: 'inferred' };
  table.apply([found]);
  const record = table.live.get(10)!;
  assert.deepEqual(record.argv, ['x']);
  assert.equal(record.execNs, 1, 'the time of the observed exec stays: a scan does not know when');
});

test('a leader exit with threads counted that /proc no longer shows ends the process (counts drift); its threads\' late exits still find it', () => {
  let procSays: { startTicks: number; threads: number } | null = { startTicks: 500, threads: 2 };
  const table = tableWith({ 10: 500 }, undefined, { threadsOf: () => procSays });
  table.apply([exec(10, 1, { startTicks: 500 }), thread(10, 12, 1, 2), thread(10, 13, 1, 3)]);
  // A thread born between subscribing and seeding is counted twice; /proc knows better.
  table.apply([exit(10, 4, 0)]);
  assert.equal(table.live.has(10), true, '/proc: the zombie leader and one thread');
  assert.equal(table.live.get(10)!.threadsCreated - table.live.get(10)!.threadsExited, 1, 'corrected from /proc');
  procSays = null; // the group is gone
  const table2 = tableWith({ 10: 500 }, undefined, { threadsOf: () => procSays });
  table2.apply([exec(10, 1, { startTicks: 500 }), thread(10, 12, 1, 2)]);
  const leaderFirst = [exit(10, 4, 9), exit(10, 5, 9, 12)]; // a group exit, the leader's event first
  table2.apply(leaderFirst);
  assert.equal(table2.live.has(10), false);
  assert.deepEqual(leaderFirst.map((e) => e.key), ['10:500', '10:500'], 'the thread\'s exit is matched to the exited process');
  assert.equal(table2.get('10:500')?.exit?.code, 9);
});

test('a comm event renames the process only when its leader was renamed, not when a thread named itself', () => {
  const table = tableWith({});
  const events = [exec(10, 1, { startTicks: 500, comm: 'server' }), comm(10, 2, 'worker-3', 12), comm(10, 3, 'renamed')];
  table.apply(events);
  assert.deepEqual(events.map((e) => e.key), ['10:500', '10:500', '10:500'], 'both belong to the process');
  assert.equal(table.recordAt(events[1]!)?.comm, 'server');
  assert.equal(table.get('10:500')?.comm, 'renamed');
});
