import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessTable } from '../../src/table/index.js';
import { ProcReader } from '../../src/procfs/index.js';
import { exec, exit, fork, lost } from './events.js';

/** A table whose fork-time start-time lookups come from a fixed map, as /proc would answer. */
function tableWith(starts: Record<number, number>, maxExited?: number): ProcessTable {
  return new ProcessTable({ startTicksOf: (pid) => starts[pid] ?? null, maxExited });
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

test('thread events are counted on the process, not stored as processes', () => {
  const table = tableWith({ 10: 500 });
  table.apply([exec(10, 1, { startTicks: 500 }), fork(10, 10, 2, true), exit(10, 3, 0, 12)]);
  assert.equal(table.live.size, 1);
  assert.equal(table.live.get(10)?.threadsCreated, 1);
  assert.equal(table.live.get(10)?.threadsExited, 1);
  assert.equal(table.counters().threadEvents, 2);
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
