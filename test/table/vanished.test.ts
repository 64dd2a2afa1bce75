/**
 * Issue 14, item 7: a process that ends without an exit event never stays live. A zombie at
 * the seed is already exited (its status read from /proc); a live process whose pid /proc no
 * longer lists, at two sweeps in a row, is closed as inferred.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcReader } from '../../src/procfs/index.js';
import { Clock } from '../../src/table/clock.js';
import { ProcessTable } from '../../src/table/index.js';
import { exec, exit } from './events.js';

interface Fake { pid: number; comm: string; state: string; ppid: number; start: number; threads?: number; exitCode?: number }

/** /proc/PID/stat with all 52 fields (field 52: the exit status in wait(2) form). */
function statLine(p: Fake): string {
  const rest = Array<string>(50).fill('0');
  rest[0] = p.state;
  rest[1] = String(p.ppid);
  rest[17] = String(p.threads ?? 1);
  rest[19] = String(p.start);
  rest[49] = String(p.exitCode ?? 0);
  return `${p.pid} (${p.comm}) ${rest.join(' ')}\n`;
}

function tree(processes: Fake[]): { reader: ProcReader; clock: Clock; cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'pw-zombie-'));
  for (const p of processes) {
    mkdirSync(join(root, String(p.pid)));
    writeFileSync(join(root, String(p.pid), 'stat'), statLine(p));
    writeFileSync(join(root, String(p.pid), 'status'), `Name:\t${p.comm}\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n`);
    writeFileSync(join(root, String(p.pid), 'cmdline'), p.state === 'Z' ? '' : `${p.comm}\0`);
  }
  const reader = new ProcReader(root);
  return { reader, clock: new Clock(reader), cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

test('a zombie at the seed is recorded as exited (inferred) with its status; a zombie leader with live threads is not', () => {
  const t = tree([
    { pid: 1, comm: 'init', state: 'S', ppid: 0, start: 1 },
    { pid: 50, comm: 'worker', state: 'Z', ppid: 1, start: 500, exitCode: 3 << 8 },
    { pid: 51, comm: 'killed', state: 'Z', ppid: 1, start: 510, exitCode: 9 },
    { pid: 60, comm: 'threaded', state: 'Z', ppid: 1, start: 600, threads: 3 },
  ]);
  try {
    const table = new ProcessTable({ clock: t.clock });
    table.seed(t.reader);
    assert.equal(table.live.has(50), false, 'not live');
    const worker = table.get('50:500')!;
    assert.equal(worker.exitOrigin, 'inferred');
    assert.notEqual(worker.exitNs, null);
    assert.deepEqual(worker.exit, { code: 3, signal: null, coreDumped: false });
    assert.deepEqual(table.get('51:510')!.exit, { code: null, signal: 9, coreDumped: false });
    assert.deepEqual(table.seededExits.map((r) => r.key), ['50:500', '51:510']);
    assert.equal(table.live.get(60)?.exitNs, null, 'its leader left, its threads run: alive');
    assert.equal(table.counters().seededZombies, 2);
    // Its exit event, if it was still on its way when we seeded: the kernel's word wins.
    const late = exit(50, 1, 3);
    table.apply([late]);
    assert.equal(late.key, '50:500');
    assert.equal(table.get('50:500')!.exitOrigin, 'observed');
  } finally {
    t.cleanup();
  }
});

test('a live process gone from /proc at two sweeps in a row is closed as inferred; one in flight is not', () => {
  const table = new ProcessTable({ startTicksOf: () => null });
  table.apply([exec(70, 1, { startTicks: 700 }), exec(71, 2, { startTicks: 710 })]);
  const present = new Set([1, 71]);
  const first = table.vanished(present, new Set(), 10);
  assert.deepEqual(first.events, [], 'the first sweep only notes it: its exit may be on its way');
  assert.deepEqual([...first.missing], ['70:700']);
  // Its exit arrived meanwhile: nothing to infer.
  const t2 = new ProcessTable({ startTicksOf: () => null });
  t2.apply([exec(70, 1, { startTicks: 700 })]);
  const noted = t2.vanished(present, new Set(), 10);
  t2.apply([exit(70, 11, 0)]);
  assert.deepEqual(t2.vanished(present, noted.missing, 20).events, []);
  // Still live and still missing: inferred_exit.
  const second = table.vanished(present, first.missing, 20);
  assert.equal(second.events.length, 1);
  table.apply(second.events);
  assert.equal(second.events[0]!.key, '70:700');
  assert.equal(table.live.has(70), false);
  assert.equal(table.get('70:700')!.exitOrigin, 'inferred');
  assert.equal(table.live.has(71), true);
  assert.equal(table.counters().vanished, 1);
});
