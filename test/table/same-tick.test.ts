/**
 * Issue 14, item 8: two processes with one pid started within one clock tick (same
 * `pid:startTicks`) are two instances, never merged. Keys stay `pid:startTicks`; the second
 * instance of a tick is `pid:startTicks.2`. With the eBPF source's exact start times
 * (startBootNs) even a lost exit cannot merge them; without them (netlink, poll) the exit
 * seen between them tells them apart, and a lost exit is the documented limit.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ProcEvent } from '../../src/events/types.js';
import { ProcessTable, PROCESS_KEY } from '../../src/table/index.js';
import { exec, exit } from './events.js';

let seq = 0;
const fork = (child: number, parent: number, t: number, startTicks: number, startBootNs: number | null): ProcEvent =>
  ({ seq: ++seq, ktimeNs: t, pid: child, tid: child, cpu: 0, provenance: 'observed', kind: 'fork', parentPid: parent, parentTid: parent, thread: false, startTicks, startBootNs });

test('keys: pid:startTicks, pid:startTicks.N, pid:?N', () => {
  for (const ok of ['1:2', '42:123456', '42:123456.2', '7:?3']) assert.ok(PROCESS_KEY.test(ok), ok);
  for (const bad of ['42', '42:', ':1', '42:1.', '42:1.x', '42:?', 'a:1']) assert.ok(!PROCESS_KEY.test(bad), bad);
});

test('eBPF: a pid reused in the same tick after an exit is a second instance, pid:ticks.2', () => {
  const table = new ProcessTable({ startTicksOf: () => null });
  const events = [
    fork(900, 1, 1000, 555, 5_550_001_000), exec(900, 1001, { startTicks: 555, startBootNs: 5_550_001_000, argv: ['first'] }), exit(900, 1002, 3),
    fork(900, 1, 1003, 555, 5_550_004_000), exec(900, 1004, { startTicks: 555, startBootNs: 5_550_004_000, argv: ['second'] }),
  ];
  table.apply(events);
  assert.deepEqual(events.map((e) => e.key), ['900:555', '900:555', '900:555', '900:555.2', '900:555.2']);
  assert.deepEqual(table.get('900:555')?.argv, ['first']);
  assert.equal(table.get('900:555')?.exit?.code, 3);
  assert.deepEqual(table.get('900:555.2')?.argv, ['second']);
  assert.equal(table.live.get(900)?.key, '900:555.2');
  // A third one in the same tick.
  table.apply([exit(900, 1005, 0), fork(900, 1, 1006, 555, 5_550_007_000)]);
  assert.equal(table.live.get(900)?.key, '900:555.3');
});

test('eBPF: even when the first one\'s exit was lost, the exact start time tells them apart', () => {
  const table = new ProcessTable({ startTicksOf: () => null });
  table.apply([fork(901, 1, 1000, 600, 6_000_000_500), exec(901, 1001, { startTicks: 600, startBootNs: 6_000_000_500, argv: ['a'] })]);
  // No exit event for the first (lost); the second forks with the same pid and tick.
  const second = fork(901, 1, 1010, 600, 6_000_009_000);
  table.apply([second]);
  assert.equal(second.key, '901:600.2');
  assert.equal(table.get('901:600')?.exitOrigin, 'inferred', 'the first closed as ended unseen');
  assert.equal(table.counters().staleReplaced, 1);
  // Its exec is the second's, not the first's.
  const e = exec(901, 1011, { startTicks: 600, startBootNs: 6_000_009_000, argv: ['b'] });
  table.apply([e]);
  assert.equal(e.key, '901:600.2');
  assert.deepEqual(table.get('901:600')?.argv, ['a']);
});

test('a seeded process seen again by its fork event is one instance, not two', () => {
  const table = new ProcessTable({ startTicksOf: () => null });
  table.apply([exec(902, 1000, { startTicks: 700, argv: ['seen-by-scan'] })]); // as a /proc scan knows it: no exact start
  const f = fork(902, 1, 1001, 700, 7_000_003_000);
  table.apply([f]);
  assert.equal(f.key, '902:700');
  assert.equal(table.live.get(902)?.startBootNs, 7_000_003_000, 'the exact start is learned');
});

test('netlink (no exact start): the exit seen between them tells them apart; a lost exit is the limit', () => {
  const table = new ProcessTable({ startTicksOf: () => 800 });
  const events = [fork(903, 1, 1000, 800, null), exit(903, 1001, 0), fork(903, 1, 1002, 800, null)];
  table.apply(events);
  assert.deepEqual(events.map((e) => e.key), ['903:800', '903:800', '903:800.2']);
  // Without the exit and without exact starts, the second fork reads as a second sighting (README: the limit).
  const blind = new ProcessTable({ startTicksOf: () => 801 });
  const merged = [fork(904, 1, 1000, 801, null), fork(904, 1, 1002, 801, null)];
  blind.apply(merged);
  assert.deepEqual(merged.map((e) => e.key), ['904:801', '904:801']);
});
