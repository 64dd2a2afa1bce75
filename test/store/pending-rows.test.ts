import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventStore } from '../../src/store/index.js';
import { PendingRows, eventData } from '../../src/store/pending-rows.js';
import type { ProcEvent } from '../../src/events/types.js';
import { exec, exit, fork } from '../table/events.js';

const dirs: string[] = [];
test.after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

const wall = (ns: number): number => 1_700_000_000_000 + ns / 1e6;

test('queued rows keep their columns together through push and shift', () => {
  const rows = new PendingRows();
  const events = [fork(10, 1, 1.4e6), exec(10, 2.6e6, { comm: 'a "quoted" name' }), exit(10, 3e6, 3)];
  for (const e of events) rows.push({ ...e, key: '10:7' }, wall(e.ktimeNs));
  assert.equal(rows.length, 3);
  rows.shift(1);
  assert.equal(rows.length, 2);
  assert.deepEqual(rows.kind, ['exec', 'exit']);
  assert.deepEqual(rows.ktimeNs, [2_600_000, 3_000_000], 'kernel time as stored: whole ns');
  assert.deepEqual(rows.wallMs, [wall(2.6e6), wall(3e6)]);
  assert.deepEqual(rows.key, ['10:7', '10:7']);
  assert.deepEqual(rows.seq, [events[1]!.seq, events[2]!.seq]);
  assert.deepEqual(JSON.parse(rows.data[0]!), { cpu: 0, details: (events[1] as Extract<ProcEvent, { kind: 'exec' }>).details });
  assert.deepEqual(JSON.parse(rows.data[1]!), { cpu: 0, status: { code: 3, signal: null, coreDumped: false }, rawCode: 3 << 8, parentPid: null });
});

test('the store writes every queued event in order across chunks and multi-row statements, each as it was when queued', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-rows-'));
  dirs.push(dir);
  const store = new EventStore({ path: join(dir, 'events.db'), bootId: 'b1', source: 'test' });
  // 2,101 events: two write transactions (2,000 a chunk) and, in each, 32-row statements and single rows after them.
  const events: ProcEvent[] = [];
  for (let i = 0; i < 2101; i++) events.push({ ...fork(1000 + i, 1, 1e6 + i * 1000.4), key: `${1000 + i}:5` });
  const expected = events.map((e) => ({ seq: e.seq, data: eventData(e) }));
  store.enqueue(events, () => undefined, wall);
  // Changed after it was queued (nothing in the daemon does this): the row stays what was queued.
  (events[7] as Extract<ProcEvent, { kind: 'fork' }>).parentPid = 99;
  assert.equal(store.counters().queued, 2101);
  assert.equal(store.flush(), 2101);
  assert.equal(store.counters().queued, 0);
  const rows = store.db.prepare('SELECT seq, kind, pid, key, ktime_ns, time, data FROM events ORDER BY id').all() as
    Array<{ seq: number; kind: string; pid: number; key: string; ktime_ns: number; time: number; data: string }>;
  assert.equal(rows.length, 2101);
  assert.deepEqual(rows.map((r) => ({ seq: r.seq, data: r.data })), expected);
  assert.equal(JSON.parse(rows[7]!.data).parentPid, 1);
  assert.deepEqual(rows[2100], { seq: events[2100]!.seq, kind: 'fork', pid: 3100, key: '3100:5', ktime_ns: Math.round(1e6 + 2100 * 1000.4), time: wall(1e6 + 2100 * 1000.4), data: expected[2100]!.data });
  store.close();
});
